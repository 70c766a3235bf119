/**
 * The option declarations and the one validator (src/options/): ranges, integer-ness, finiteness,
 * enums and lists, the messages (option, value, allowed range), and the derived commander help,
 * TUI form fields and JSON schemas, checked against each other and against the lists the engine,
 * data and training modules hold.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { Command } from 'commander';
import Fastify from 'fastify';
import {
  addOptions,
  adapterScaleDecl,
  checkOption,
  describeAllowed,
  DEVICE_CHOICES,
  FACT_SPLIT_CHOICES,
  FINETUNE,
  PRETRAIN,
  RUM,
  formDefaults,
  formFieldOf,
  formValue,
  jsonSchemaOf,
  readOptions,
  SAMPLING,
  SAVE_TYPE_CHOICES,
  UNLEARN,
  UNLEARN_DATA,
  UNLEARN_HYPER,
  type OptionDecl,
} from '../../src/options/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { DEVICE_CHOICES as ENGINE_DEVICES } from '../../src/engine/loader.ts';
import { FACT_SPLITS } from '../../src/data/types.ts';
import { FINETUNE_DEFAULTS, SAVE_TYPES } from '../../src/train/finetune.ts';
import { PRETRAIN_DEFAULTS } from '../../src/train/pretrain.ts';
import { DEFAULT_UTILITY_BUDGET } from '../../src/unlearn/stepSearch.ts';
import { DEFAULT_RECIPE } from '../../src/rum/train.ts';

function refuses(d: OptionDecl, v: unknown, ...parts: RegExp[]): void {
  assert.throws(
    () => checkOption(d, v),
    (e: unknown) => {
      assert.ok(e instanceof UserError, `expected a UserError for ${String(v)}, got ${String(e)}`);
      assert.ok(e.message.startsWith(`${d.flag}: `), e.message);
      assert.ok(e.message.includes(describeAllowed(d)), e.message);
      for (const p of parts) assert.match(e.message, p);
      return true;
    },
  );
}

test('numbers: finite, sign, integer-ness, bounds; the message names the option, the value and the range', () => {
  refuses(FINETUNE.lr, '1e400', /got '1e400'/, /a finite number > 0$/);
  refuses(FINETUNE.lr, 'NaN', /got 'NaN'/);
  refuses(FINETUNE.lr, '0');
  refuses(FINETUNE.lr, -1e-3);
  assert.equal(checkOption(FINETUNE.lr, '1e-3'), 1e-3);
  assert.equal(checkOption(FINETUNE.lr, 1e10), 1e10); // allowed: the non-finite stop catches what diverges
  refuses(FINETUNE.weightDecay, '-5', /--weight-decay: got '-5'; allowed: a finite number >= 0 and <= 1/);
  refuses(FINETUNE.replay, '-4');
  refuses(FINETUNE.replay, '2.5');
  assert.equal(checkOption(FINETUNE.replay, '0'), 0);
  refuses(FINETUNE.epochs, '1e9', /an integer >= 1 and <= 1000/);
  assert.equal(checkOption(FINETUNE.epochs, '1e3'), 1000);
  refuses(FINETUNE.epochs, '');
  refuses(FINETUNE.epochs, ' ');
  refuses(FINETUNE.epochs, true);
  refuses(UNLEARN_DATA.evalLimit, '-3', /--eval-limit: got '-3'/);
  assert.equal(checkOption(UNLEARN_DATA.evalLimit, '0'), 0);
  refuses(SAMPLING.temperature, 'NaN');
  refuses(SAMPLING.temperature, '-1');
  assert.equal(checkOption(SAMPLING.temperature, '0'), 0);
  refuses(SAMPLING.topK, '-3');
  refuses(SAMPLING.topK, '1.5');
  refuses(SAMPLING.topP, '0', /> 0 and <= 1/);
  assert.equal(checkOption(SAMPLING.topP, 1), 1);
  refuses(SAMPLING.seed, 'NaN');
  refuses(SAMPLING.seed, '0.5');
  refuses(SAMPLING.seed, String(2 ** 32));
  refuses(adapterScaleDecl, 1e308);
  assert.equal(checkOption(adapterScaleDecl, -1), -1);
  refuses(UNLEARN_HYPER.lr, 'Infinity');
  refuses(UNLEARN.fuzzyRelative, '1.5');
});

test('enums, lists and paths', () => {
  refuses(FINETUNE.optimizer, 'adam', /got 'adam'; allowed: one of adamw, sgd/);
  refuses(FINETUNE.splits, 'forgot', /'forgot' is not one of forget, retain/);
  assert.deepEqual(checkOption(FINETUNE.splits, ' retain, forget ,decoy'), ['retain', 'forget', 'decoy']);
  refuses(FINETUNE.splits, ',', /names no item/);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-opt-'));
  try {
    refuses(FINETUNE.model, dir, /is a folder/);
    refuses(FINETUNE.model, path.join(dir, 'none.gguf'), /does not exist/);
    const f = path.join(dir, 'm.gguf');
    fs.writeFileSync(f, '');
    assert.equal(checkOption(FINETUNE.model, f), f);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('the choices and defaults agree with the modules that use them', () => {
  assert.deepEqual([...DEVICE_CHOICES], [...ENGINE_DEVICES]);
  assert.deepEqual([...FACT_SPLIT_CHOICES], [...FACT_SPLITS]);
  assert.deepEqual([...SAVE_TYPE_CHOICES], [...SAVE_TYPES]);
  for (const k of ['epochs', 'lr', 'batch', 'optimizer', 'weightDecay', 'record', 'recordDtype', 'seed', 'saveType'] as const) assert.equal(FINETUNE[k].default, FINETUNE_DEFAULTS[k], `finetune ${k}`);
  for (const [k, v] of Object.entries(PRETRAIN_DEFAULTS)) assert.equal(PRETRAIN[k as keyof typeof PRETRAIN].default, v, `pretrain ${k}`);
  assert.equal(UNLEARN.utilityBudget.default, DEFAULT_UTILITY_BUDGET);
  for (const k of ['epochs', 'batch', 'lr', 'momentum', 'weightDecay'] as const) assert.doesNotThrow(() => checkOption(RUM[k], DEFAULT_RECIPE[k]), `rum ${k}`);
});

test('commander: flags, defaults and ranges in --help come from the declarations; readOptions checks every value', () => {
  const cmd = addOptions(new Command('finetune').exitOverride(), FINETUNE);
  const help = cmd.helpInformation().replace(/\s+/g, ' ');
  assert.match(help, /--epochs <n>\s+epochs .*\(integer >= 1 and <= 1000\) \(default: 3\)/);
  assert.match(help, /--lr <x>\s+learning rate .*\(finite, > 0\)/);
  assert.match(help, /--optimizer <name>\s+optimiser \(adamw \| sgd\)/);
  assert.match(help, /--no-eval/);
  cmd.parse(['--model', 'x.gguf', '--lr', '2e-3'], { from: 'user' });
  const raw = cmd.opts();
  assert.throws(() => readOptions(FINETUNE, raw), /--model: x.gguf does not exist/);
  const v = readOptions(FINETUNE, { ...raw, model: undefined });
  assert.equal(v.lr, 2e-3);
  assert.equal(v.epochs, 3);
  assert.deepEqual(v.splits, ['retain', 'forget', 'decoy']);
  assert.equal(v.eval, true);
  assert.equal(v.microBatch, undefined);
});

test('TUI fields: the editor kind, the choices and the hint derive from the declarations; values pass the same validator', () => {
  assert.deepEqual(formFieldOf(FINETUNE.optimizer), { key: 'optimizer', label: 'optimizer', kind: 'choice', options: ['adamw', 'sgd'], help: 'optimiser (adamw | sgd)' });
  assert.equal(formFieldOf(FINETUNE.epochs).kind, 'number');
  assert.equal(formFieldOf(FINETUNE.splits).kind, 'multi');
  assert.equal(formFieldOf(FINETUNE.eval).kind, 'toggle');
  assert.equal(formFieldOf(FINETUNE.eval).label, 'perplexity');
  assert.equal(formFieldOf(FINETUNE.weightDecay).help, 'AdamW decoupled weight decay (finite, >= 0 and <= 1)');
  assert.throws(() => formValue(FINETUNE.weightDecay, '-5'), /--weight-decay: got '-5'/);
  assert.equal(formValue(FINETUNE.weightDecay, ''), undefined);
  assert.equal(formValue(FINETUNE.eval, 'no'), false);
  const d = formDefaults(FINETUNE);
  assert.equal(d.epochs, '3');
  assert.equal(d.eval, 'yes');
  assert.equal(d.splits, 'retain,forget,decoy');
});

test('JSON schemas (the server) state the same ranges: fastify accepts and refuses what the validator does', async () => {
  // the server's Ajv settings (src/server/app.ts): no type coercion
  const app = Fastify({ ajv: { customOptions: { coerceTypes: false, allowUnionTypes: true } } });
  const cases: Array<[OptionDecl, unknown[]]> = [
    [SAMPLING.temperature, [0, 0.7, 2, -1, 2.5, 'x']],
    [SAMPLING.topK, [0, 40, -3, 1.5]],
    [SAMPLING.topP, [0, 0.5, 1, 1.1]],
    [SAMPLING.seed, [0, 7, -1, 0.5, 2 ** 32]],
    [adapterScaleDecl, [1, -1, 16, 1e308, -17]],
  ];
  cases.forEach(([d], i) => app.post(`/${i}`, { schema: { body: { type: 'object', properties: { v: jsonSchemaOf(d) } } } }, async () => ({ ok: true })));
  try {
    for (const [i, [d, values]] of cases.entries()) {
      for (const v of values) {
        let ours = typeof v === 'number'; // JSON: no string for a number
        try {
          checkOption(d, v);
        } catch {
          ours = false;
        }
        const r = await app.inject({ method: 'POST', url: `/${i}`, payload: { v } });
        assert.equal(r.statusCode, ours ? 200 : 400, `${d.flag} ${String(v)}: ${r.body}`);
      }
    }
  } finally {
    await app.close();
  }
  assert.deepEqual(jsonSchemaOf(SAMPLING.maxTokens, { nullable: true, max: 512 }), { type: ['integer', 'null'], minimum: 1, maximum: 512 });
});
