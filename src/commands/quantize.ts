/**
 * `unlearnkit quantize IN OUT --type <t>`: quantise a GGUF model as llama.cpp's `llama-quantize`
 * does (src/model/quantize.ts): the same type for every tensor, the same bytes, the same metadata.
 */
import type { Command } from 'commander';
import fs from 'node:fs';
import path from 'node:path';
import { QUANTIZE_TARGET_NAMES, quantizeGguf, type QuantizeTarget } from '../model/quantize.ts';
import { UserError } from '../util/errors.ts';

const MiB = (n: number) => `${(n / 2 ** 20).toFixed(2)} MiB`;

export function register(program: Command): void {
  program
    .command('quantize')
    .description("quantise a GGUF model as llama.cpp's llama-quantize does (same tensor types and bytes): q4_k_m, q5_k_m, q4_0 ... q6_k, q8_0, f16, bf16, f32")
    .argument('<in>', 'GGUF model with F32, F16 or BF16 weights')
    .argument('<out>', 'output GGUF')
    .requiredOption('--type <type>', `target: ${QUANTIZE_TARGET_NAMES.join(', ')} (q3_k / q4_k / q5_k: every quantisable tensor in that one type)`)
    .option('--pure', "no mix: every quantisable tensor in the target's main type (llama-quantize --pure)")
    .option('--allow-requantize', 'quantise tensors that are already block-quantised (loses precision twice)')
    .option('--json', 'print JSON')
    .action((input: string, output: string, o: { type: string; pure?: boolean; allowRequantize?: boolean; json?: boolean }) => {
      const type = o.type.toLowerCase();
      if (!(QUANTIZE_TARGET_NAMES as string[]).includes(type)) throw new UserError(`unknown --type '${o.type}'; use one of ${QUANTIZE_TARGET_NAMES.join(', ')}`);
      if (!fs.existsSync(input)) throw new UserError(`model file ${input} does not exist`);
      if (path.resolve(input) === path.resolve(output)) throw new UserError('the output file must differ from the input file');
      const r = quantizeGguf(input, output, { type: type as QuantizeTarget, pure: o.pure, allowRequantize: o.allowRequantize });
      if (o.json) return void process.stdout.write(JSON.stringify(r, null, 2) + '\n');
      const counts = new Map<string, number>();
      for (const t of r.tensors) counts.set(t.to, (counts.get(t.to) ?? 0) + 1);
      const lines = [
        `${output}: ${r.type}${r.pure ? ' (pure)' : ''}, general.file_type ${r.ftype}; ${MiB(r.bytesIn)} -> ${MiB(r.bytesOut)}`,
        `  ${r.tensors.length} tensors: ${[...counts].map(([k, n]) => `${n} ${k}`).join(', ')}`,
      ];
      if (r.fallbacks > 0) {
        const fb = r.tensors.filter((t) => t.fellBackFrom);
        lines.push(`  ${r.fallbacks} tensors fell back because their rows are not whole blocks of the chosen type (as llama.cpp does): ` + [...new Set(fb.map((t) => `${t.fellBackFrom} -> ${t.to}`))].join(', '));
      }
      process.stdout.write(lines.join('\n') + '\n');
    });
}
