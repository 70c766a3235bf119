/**
 * The CLI's command registry: one row per command (name, what the top-level help shows, and the
 * module that implements it). Each command module exports `register(program: Command)`, which adds
 * its commands (one module may add several) with their options and actions.
 *
 * The CLI imports a module only when one of its commands runs or shows its own help: the top-level
 * help is built from this table alone, so `unlearnkit --help` and `--version` start in a fraction of
 * a second instead of importing every command's dependencies (the engine, ink, fastify, vega).
 *
 * Adding a command: a row here with its module's loader (rows of one module share one loader
 * constant, so the module registers once); test/package/cli.test.ts checks that every command a
 * module registers has a row with the same description and usage, and the reverse.
 */
import type { Command } from 'commander';

export interface CommandModule {
  register(program: Command): void;
}

export interface CommandEntry {
  /** The command's name on the command line. */
  name: string;
  /** What the top-level help shows after the name: options and arguments, e.g. `[options] <model>`. */
  usage: string;
  description: string;
  /** Imports the module that registers this command. */
  load: () => Promise<CommandModule>;
}

const doctor = () => import('./doctor.ts');
const bench = () => import('./bench.ts');
const model = () => import('./model.ts');
const train = () => import('./train.ts');
const demo = () => import('./demo.ts');
const data = () => import('./data.ts');
const serve = () => import('./serve.ts');
const evalCmd = () => import('./eval.ts');
const unlearn = () => import('./unlearn.ts');
const rum = () => import('./rum.ts');
const sweep = () => import('./sweep.ts');

export const commands: readonly CommandEntry[] = [
  { name: 'doctor', usage: '[options]', load: doctor, description: 'check Node, node-llama-cpp, ggml, the CPU variant and every device (runs a tiny forward + backward on each)' },
  { name: 'bench', usage: '[options] <suite>', load: bench, description: 'run benchmarks and write reports/bench/<suite>.json (suites: engine, eval, train, unlearn, rum, serve, sweep, all)' },
  { name: 'inspect', usage: '[options] <model>', load: model, description: 'architecture, sizes and parameter groups of a GGUF model' },
  { name: 'logprobs', usage: '[options]', load: model, description: 'per-token log-probabilities of a text, from our engine or from llama.cpp' },
  { name: 'generate', usage: '[options]', load: model, description: 'generate text with our engine' },
  {
    name: 'convert',
    usage: '[options] <hf-folder> <out>',
    load: model,
    description:
      "convert a Hugging Face folder (config.json, model.safetensors or shards, tokenizer.json) to GGUF, as llama.cpp's convert_hf_to_gguf.py does. " +
      'Architectures: LlamaForCausalLM (LLaMA 1-3, SmolLM2; rope_scaling none, linear or llama3), Qwen2ForCausalLM (Qwen2/2.5) and Qwen3ForCausalLM (rope_scaling none or linear), GPT2LMHeadModel. ' +
      'Other rope scalings (yarn, dynamic, longrope), sliding-window attention, biases the class does not have and quantized checkpoints are refused',
  },
  { name: 'quantize', usage: '[options] <in> <out>', load: () => import('./quantize.ts'), description: "quantise a GGUF model as llama.cpp's llama-quantize does (same tensor types and bytes): q4_k_m, q5_k_m, q4_0 ... q6_k, q8_0, f16, bf16, f32" },
  { name: 'finetune', usage: '[options]', load: train, description: "fine-tune a model (its weights, or LoRA adapters on the frozen base with --lora) on a fact dataset, recording each example's first-epoch gradient" },
  { name: 'pretrain', usage: '[options]', load: train, description: 'train the embedded default model (LLaMA architecture, own tokenizer) on generated text; not part of tests or the demo' },
  { name: 'grads', usage: '', load: train, description: 'inspect gradient records' },
  { name: 'demo', usage: '[options]', load: demo, description: 'the Dave unlearning pipeline on the embedded default model, ending in a report' },
  { name: 'data', usage: '', load: data, description: 'Datasets: generate the Dave set, show items, count splits' },
  { name: 'serve', usage: '[options]', load: serve, description: 'serve a GGUF model over an OpenAI-compatible HTTP API, with LoRA adapters hot-swapped (see src/server/README.md)' },
  {
    name: 'eval',
    usage: '[options]',
    load: evalCmd,
    description: 'evaluate a model (+ adapter) on a dataset: perplexity, ROUGE, answer probability, truth ratio, forget quality, membership inference; resumable',
  },
  {
    name: 'report',
    usage: '[options] <runs...>',
    load: evalCmd,
    description: "write report.md and a self-contained report.html (charts, paired t-tests, CIs, Cohen's d) for evaluation runs; the first run is the baseline",
  },
  { name: 'compare', usage: '[options] <runA> <runB>', load: evalCmd, description: "paired statistics (t-test, 95% CI, Cohen's d_z and d_av) between two evaluation runs on the same items: B minus A" },
  { name: 'methods', usage: '[options]', load: unlearn, description: 'list the unlearning methods (the registry) with what they need and the settings they read' },
  { name: 'unlearn', usage: '[options]', load: unlearn, description: 'unlearn a forget set (or what a plain-language request selects) from a fine-tuned model; writes adapters/<run-id>/' },
  { name: 'compare-targets', usage: '[options]', load: unlearn, description: 'run one method under several layer targets and compare forget / retain / general effects (paired t-tests, Holm-corrected); with --eta / --lr / --steps auto, each target at its own largest step within the utility budget' },
  { name: 'sequential', usage: '[options]', load: unlearn, description: 'apply several unlearning requests one after another and report how retain / general utility drift' },
  { name: 'compare-removal', usage: '[options]', load: unlearn, description: 'one removal request, two strategies: fuzzy (the method once on what the request selects) vs iterative (per example until the target NLL); what each selected, precision / recall, forget / retain change' },
  {
    name: 'influence',
    usage: '[options]',
    load: unlearn,
    description: 'influence of training examples on forget queries (TracIn, activation x gradient, influence function) before and after unlearning runs',
  },
  { name: 'rum', usage: '', load: rum, description: 'RUM on images: memorization, entanglement, refined unlearning, the ToW / MIA-gap table' },
  {
    name: 'sweep',
    usage: '[options] [spec]',
    load: sweep,
    description: 'run a grid of unlearning runs (methods x layer targets x step settings x seeds) or RUM memorization models from a spec file, locally or on a Redis queue, into one report',
  },
  {
    name: 'reproduce',
    usage: '[options] <paper>',
    load: () => import('./reproduce.ts'),
    description: "reproduce a source paper's claims (zagardo2024, zhao2024) over several seeds: a report with each claim, the paper's number, ours with its 95% CI and whether it goes the same way",
  },
  { name: 'worker', usage: '[options]', load: sweep, description: 'take sweep jobs from a Redis queue and run each in a child process; results go back through the queue, artifacts to the shared --store' },
];

/** Every distinct command module, in table order (for tools that need the full program). */
export function commandLoaders(): Array<() => Promise<CommandModule>> {
  return [...new Set(commands.map((c) => c.load))];
}
