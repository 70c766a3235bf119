/**
 * `fuzzy` job: which training items a removal request selects (src/unlearn/fuzzy.ts, the selection
 * `unlearnkit unlearn --request` uses), with precision / recall against the dataset's true forget
 * set and the decoys it caught. Candidates are the run's training items when a run is given, else
 * the dataset's training splits (retain, forget, decoy), as src/unlearn/source.ts picks them.
 */
import { getDataset } from '../../../data/dataset.ts';
import { fuzzyReport, fuzzySelect } from '../../../unlearn/fuzzy.ts';
import { loadSource, trainingItems } from '../../../unlearn/source.ts';
import type { RunSource } from '../../../unlearn/types.ts';
import type { FuzzyView } from '../protocol.ts';
import type { Handler } from './index.ts';

const NO_RUN: RunSource = { dir: null, checkpoint: '', checkpointSha256: '', baseModel: null, options: null, trainedTensors: null, record: null, trainIds: null };

export const run: Handler<'fuzzy'> = async (p) => {
  const ds = getDataset(p.data);
  const items = trainingItems(p.from ? loadSource(p.from) : NO_RUN, ds);
  const sel = fuzzySelect(p.request, items);
  const ids = new Set(items.map((i) => i.id));
  const facts = new Map(ds.facts().map((f) => [f.id, f]));
  const truth = ds.facts('forget').map((f) => f.id).filter((id) => ids.has(id));
  const info = new Map([...facts.values()].map((f) => [f.id, { decoyOf: f.decoy_of, person: f.person }]));
  const rep = fuzzyReport(sel, truth, info);
  const score = new Map(sel.scores.map((s) => [s.id, s.score]));
  const view: FuzzyView = {
    request: p.request,
    selected: sel.selected.map((id) => {
      const f = facts.get(id);
      return { id, split: f?.split ?? '?', person: f?.person ?? '', text: f?.statement ?? items.find((i) => i.id === id)?.text ?? '', score: score.get(id) ?? 0, decoyOf: f?.decoy_of };
    }),
    precision: rep.precision,
    recall: rep.recall,
    decoysCaught: rep.decoys.caught,
    trueForget: truth.length,
  };
  return view;
};
