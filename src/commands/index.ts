/**
 * The CLI's command registry. Each command lives in its own module exporting
 * `register(program: Command)`; add one import + one entry here per command module.
 */
import type { Command } from 'commander';
import * as doctor from './doctor.ts';
import * as bench from './bench.ts';
import * as model from './model.ts';
import * as train from './train.ts';
import * as demo from './demo.ts';
import * as data from './data.ts';
import * as serve from './serve.ts';
import * as evalCmd from './eval.ts';
import * as unlearn from './unlearn.ts';
import * as rum from './rum.ts';

export const commandModules: Array<{ register: (program: Command) => void }> = [doctor, bench, model, train, demo, data, serve, evalCmd, unlearn, rum];
