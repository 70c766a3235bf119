/**
 * `rum` job: the RUM table on images (memorization -> refinement -> algorithms, vanilla / shuffle /
 * refined, over seeds), as `unlearnkit rum table` runs it, reporting each ToW / MIA-gap cell as it
 * is finished. The pipeline entry point (src/rum/table.ts `runRumTable`) is resolved when the job
 * starts, so the TUI builds before the RUM part has landed and says so when it has not.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../../util/errors.ts';
import type { RumCell, RumView } from '../protocol.ts';
import type { Handler } from './index.ts';

interface RumTableApi {
  runRumTable(o: {
    data: string;
    seeds: number;
    forgetSize: number;
    algorithms: string[];
    models: number;
    signal?: AbortSignal;
    onProgress?: (e: { text: string; done?: number; total?: number }) => void;
    onCell?: (c: RumCell) => void;
  }): Promise<{ cells: RumCell[]; report?: string }> | { cells: RumCell[]; report?: string };
}

const TABLE = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'rum', 'table.ts');

export const run: Handler<'rum'> = async (p, { signal, emit }) => {
  if (!fs.existsSync(TABLE)) throw new UserError('the RUM pipeline is not in this build yet (src/rum/table.ts, issue 9); the image readers and CNN are, through `unlearnkit rum` once it lands');
  const api = (await import(TABLE)) as Partial<RumTableApi>;
  if (typeof api.runRumTable !== 'function') throw new UserError('src/rum/table.ts has no runRumTable(); the TUI cannot drive this version of the RUM pipeline');
  const r = await api.runRumTable({
    ...p,
    signal,
    onProgress: (e) => emit({ kind: 'phase', ...e }),
    onCell: (cell) => emit({ kind: 'cell', cell }),
  });
  const view: RumView = { cells: r.cells, report: r.report };
  return view;
};
