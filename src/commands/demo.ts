/** `unlearnkit demo [--tiny]`: the whole Dave pipeline on the embedded model (see src/demo.ts). */
import type { Command } from 'commander';
import { runDemo } from '../demo.ts';
import { deviceOption, resolveDevice } from './deviceOption.ts';

export function register(program: Command): void {
  program
    .command('demo')
    .description('the Dave unlearning pipeline on the embedded default model, ending in a report')
    .option('--tiny', 'a seconds-scale version (used by the tests)')
    .option('--model <gguf>', 'model (default: models/unlearnkit-base.gguf)')
    .option('--out <dir>', 'run folder (default: runs/demo, or runs/demo-tiny with --tiny, in the current directory)')
    .option('--quiet', 'no progress bars')
    .addOption(deviceOption())
    .action(async (o: { tiny?: boolean; model?: string; out?: string; quiet?: boolean; device?: string }) => {
      resolveDevice(o);
      await runDemo(o);
    });
}
