/**
 * `unlearnkit reproduce <paper>`: one module per source paper, each running the paper's protocol
 * over several seeds and writing a report whose first table puts every published claim beside our
 * number (claims.ts, report.ts). The registry below is what the command lists and dispatches on.
 */
import { UserError } from '../util/errors.ts';
import { ZAGARDO_CITATION, runZagardo, zagardoSettings } from './zagardo2024.ts';
import { ZHAO_CITATION, runZhao, zhaoSettings } from './zhao2024.ts';
import { writeReproduceReport, type WrittenReproduceReport } from './report.ts';
import type { Claim } from './claims.ts';

export interface ReproduceOptions {
  quick: boolean;
  seeds: number[];
  /** The report folder (must not exist). */
  out: string;
  /** zhao2024: subset orders (e.g. ['low,medium,high']); default per mode. */
  orders?: string[];
  log?: (line: string) => void;
}

export interface ReproduceResult {
  paper: string;
  claims: Claim[];
  written: WrittenReproduceReport;
  seconds: number;
}

export interface PaperEntry {
  name: string;
  citation: string;
  run(o: ReproduceOptions): Promise<ReproduceResult>;
}

export const PAPERS: readonly PaperEntry[] = [
  {
    name: 'zagardo2024',
    citation: ZAGARDO_CITATION,
    async run(o) {
      const t0 = performance.now();
      const r = runZagardo(zagardoSettings(o.quick, o.seeds), { quick: o.quick, log: o.log });
      const seconds = (performance.now() - t0) / 1000;
      const written = await writeReproduceReport({ ...r.report, seconds }, o.out);
      return { paper: 'zagardo2024', claims: r.claims, written, seconds };
    },
  },
  {
    name: 'zhao2024',
    citation: ZHAO_CITATION,
    async run(o) {
      const t0 = performance.now();
      const r = runZhao(zhaoSettings(o.quick, o.seeds, o.orders), { quick: o.quick, log: o.log });
      const seconds = (performance.now() - t0) / 1000;
      const written = await writeReproduceReport({ ...r.report, seconds }, o.out);
      return { paper: 'zhao2024', claims: r.claims, written, seconds };
    },
  },
];

export function getPaper(name: string): PaperEntry {
  const p = PAPERS.find((x) => x.name === name);
  if (!p) throw new UserError(`unknown paper '${name}'; reproduce knows ${PAPERS.map((x) => x.name).join(', ')}`);
  return p;
}
