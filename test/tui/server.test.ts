/**
 * The TUI's server control against the real server: start `unlearnkit serve` on stories260K (any
 * free port), read /health and /v1/adapters through it, attach a second control to the same URL,
 * see a missing adapter and a missing model come back as messages, and stop it (the process ends).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { needFixture } from '../helpers/fixtures.ts';
import { tempDir } from './helpers.tsx';
import { HttpServerControl, listAdapterNames, serveArgs } from '../../src/tui/lib/server.ts';
import { UserError } from '../../src/util/errors.ts';
import { saveLoraAdapter } from '../../src/model/lora.ts';

test('server control: start, health, adapters, attach, errors, stop', { timeout: 120_000 }, async (t) => {
  const model = needFixture(t, 'models', 'stories260K.gguf');
  if (!model) return;
  const dir = tempDir();
  const adapters = path.join(dir, 'adapters');
  fs.mkdirSync(adapters);
  const own = new HttpServerControl();
  try {
    const { url } = await own.start({ model, port: 0, adaptersDir: adapters, device: 'cpu' });
    assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.equal(own.owned, true);
    const h = await own.health();
    assert.equal(h.status, 'ok');
    assert.equal(h.model.id, 'stories260K');
    assert.equal(h.device.backend, 'cpu');
    assert.deepEqual(await own.adapters(), []);
    // An adapter run (rank-1 change of one attention matrix) loads, lists with its scale, and unloads.
    const ne = [64, 64];
    const delta = new Float32Array(64 * 64);
    for (let i = 0; i < 64; i++) for (let j = 0; j < 64; j++) delta[i * 64 + j] = 0.01 * Math.sin(i) * Math.cos(j);
    fs.mkdirSync(path.join(adapters, 'run-x'));
    saveLoraAdapter(path.join(adapters, 'run-x', 'adapter.gguf'), { baseGgufPath: model, deltas: [{ tensor: 'blk.0.attn_q.weight', ne, delta }], maxRank: 4 });
    assert.deepEqual(listAdapterNames(adapters), ['run-x']);
    await own.loadAdapter('run-x', 0.5);
    assert.deepEqual((await own.adapters()).map((a) => [a.name, a.scale]), [['run-x', 0.5]]);
    assert.deepEqual((await own.health()).adapters.map((a) => a.name), ['run-x']);
    await own.unloadAdapter('run-x');
    assert.deepEqual(await own.adapters(), []);
    await assert.rejects(own.loadAdapter('no-such-run'), (e: unknown) => e instanceof UserError && /404/.test(e.message) && /no-such-run/.test(e.message));
    await assert.rejects(own.start({ model, port: 0, adaptersDir: adapters }), /already running/);
    // A second TUI attaches to the same server (and does not own it).
    const other = new HttpServerControl();
    const h2 = await other.attach(url.replace('http://', ''));
    assert.equal(h2.model.id, 'stories260K');
    assert.equal(other.owned, false);
    await other.stop();
    assert.equal((await own.health()).status, 'ok', 'detaching does not stop the server');
  } finally {
    await own.stop();
  }
  assert.equal(own.url, null);
  await assert.rejects(own.health(), /no server/);
  await assert.rejects(new HttpServerControl().attach('127.0.0.1:1'), (e: unknown) => e instanceof UserError && /cannot reach the server/.test(e.message));
  await assert.rejects(own.start({ model: path.join(dir, 'missing.gguf'), port: 0, adaptersDir: adapters }), /does not exist/);
});

test('server control: the serve command line and the adapters on disk', () => {
  assert.deepEqual(serveArgs({ model: 'm.gguf', port: 8765, adaptersDir: 'adapters' }), ['serve', '--model', 'm.gguf', '--port', '8765', '--adapters-dir', 'adapters', '--json', '--log-level', 'warn']);
  assert.deepEqual(serveArgs({ model: 'm.gguf', port: 0, adaptersDir: 'a', device: 'cuda' }).slice(-2), ['--device', 'cuda']);
  const dir = tempDir();
  fs.mkdirSync(path.join(dir, 'run-1'));
  fs.writeFileSync(path.join(dir, 'run-1', 'adapter.gguf'), 'x');
  fs.mkdirSync(path.join(dir, 'empty-run'));
  fs.mkdirSync(path.join(dir, 'run-2.tmp-1-ab'));
  fs.writeFileSync(path.join(dir, 'run-2.tmp-1-ab', 'adapter.gguf'), 'x');
  fs.writeFileSync(path.join(dir, 'loose.gguf'), 'x');
  assert.deepEqual(listAdapterNames(dir), ['loose.gguf', 'run-1']);
  assert.deepEqual(listAdapterNames(path.join(dir, 'nope')), []);
});
