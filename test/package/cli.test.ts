/**
 * The CLI's start-up and error contract (src/cli.ts, src/commands/index.ts), on the sources:
 *  - the command table names every command each module registers, with the description and usage
 *    the module gives it, and nothing else;
 *  - `--version` and `--help` import no command module; `<cmd> --help` and a run import only that
 *    command's module (what keeps them under 0.5 s: see the README's Install section);
 *  - with `--json`, a failing command prints one `{"error": {...}}` object on stdout, with exit
 *    code 2 for a UserError, commander's code for usage errors, 1 for anything else.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command, CommanderError, Help } from 'commander';
import { buildProgram, reportFailure } from '../../src/cli.ts';
import { commands } from '../../src/commands/index.ts';
import { UserError } from '../../src/util/errors.ts';
import { cliArgs, REPO_ROOT } from '../helpers/cli.ts';

const TRACE = pathToFileURL(path.join(path.dirname(fileURLToPath(import.meta.url)), 'trace-loads.mjs')).href;
const VERSION = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Run the source CLI with the load tracer; the src/ modules it loaded, relative to src/. */
function runTraced(...args: string[]): { status: number | null; stdout: string; loaded: string[] } {
  const [imp, tsx, ...rest] = cliArgs(...args);
  const r = spawnSync(process.execPath, [imp!, tsx!, '--import', TRACE, ...rest], { encoding: 'utf8', cwd: REPO_ROOT, timeout: 120_000 });
  const src = pathToFileURL(path.join(REPO_ROOT, 'src')).href + '/';
  const loaded = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('LOADED '))
    .map((l) => l.slice('LOADED '.length))
    .filter((u) => u.startsWith(src))
    .map((u) => u.slice(src.length).replace(/\?.*$/, ''));
  return { status: r.status, stdout: r.stdout, loaded };
}

/** The command modules (files of src/commands/ that export `register`), relative to src/. */
const COMMAND_MODULES = new Set(
  fs
    .readdirSync(path.join(REPO_ROOT, 'src', 'commands'))
    .filter((f) => /\.tsx?$/.test(f) && /^export (async )?function register\(/m.test(fs.readFileSync(path.join(REPO_ROOT, 'src', 'commands', f), 'utf8')))
    .map((f) => `commands/${f}`),
);
const commandModulesLoaded = (loaded: string[]) => loaded.filter((m) => COMMAND_MODULES.has(m)).sort();

test('the command table matches what the command modules register (names, descriptions, usage)', async () => {
  const program = await buildProgram([], { all: true });
  const help = new Help();
  const registered = program.commands.filter((c) => c.name() !== 'help');
  const byName = new Map(commands.map((c) => [c.name, c]));
  for (const c of registered) {
    const entry = byName.get(c.name());
    assert.ok(entry, `command ${c.name()} is registered by a module but has no row in src/commands/index.ts`);
    assert.equal(entry.description, c.description(), `description of ${c.name()} in src/commands/index.ts`);
    assert.equal(entry.usage, help.subcommandTerm(c).slice(c.name().length).trim(), `usage of ${c.name()} in src/commands/index.ts`);
  }
  assert.deepEqual(registered.map((c) => c.name()).sort(), commands.map((c) => c.name).sort());
  // Each row's loader registers that command itself (the CLI loads only that module to run it).
  for (const entry of commands) {
    const p = new Command();
    (await entry.load()).register(p);
    assert.ok(
      p.commands.some((c) => c.name() === entry.name),
      `the module loaded for ${entry.name} does not register it`,
    );
  }
});

test('--version and --help import no command module; a command imports only its own', () => {
  const v = runTraced('--version');
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), VERSION);
  assert.ok(v.loaded.includes('cli.ts'), `the tracer saw: ${v.loaded.join(', ')}`);
  assert.deepEqual(commandModulesLoaded(v.loaded), []);

  const h = runTraced('--help');
  assert.equal(h.status, 0);
  assert.deepEqual(commandModulesLoaded(h.loaded), []);
  for (const c of commands) assert.match(h.stdout, new RegExp(`^  ${c.name}\\b`, 'm'), `top-level help lacks ${c.name}`);
  assert.ok(!h.loaded.some((m) => m.startsWith('engine/') || m.startsWith('tui/')), `--help loaded ${h.loaded.join(', ')}`);

  const i = runTraced('inspect', '--help');
  assert.equal(i.status, 0);
  assert.match(i.stdout, /Usage: unlearnkit inspect \[options\] <model>/);
  assert.deepEqual(commandModulesLoaded(i.loaded), ['commands/model.ts']);

  const hc = runTraced('help', 'compare');
  assert.equal(hc.status, 0);
  assert.match(hc.stdout, /Usage: unlearnkit compare \[options\] <runA> <runB>/);
  assert.deepEqual(commandModulesLoaded(hc.loaded), ['commands/eval.ts']);
});

test('--json: a failing command prints one {"error"} object on stdout with the usual exit codes', () => {
  const missing = path.join(REPO_ROOT, 'no-such-gradient-record');
  const user = spawnSync(process.execPath, cliArgs('grads', 'info', missing, '--json'), { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(user.status, 2, user.stderr);
  const lines = user.stdout.trim().split('\n');
  assert.equal(lines.length, 1, user.stdout);
  const e = JSON.parse(lines[0]!) as { error: { message: string; kind: string } };
  assert.equal(e.error.kind, 'user');
  assert.match(e.error.message, /is not a gradient record/);
  assert.match(user.stderr, /^unlearnkit: .*is not a gradient record/m);

  // The same failure without --json: nothing on stdout, the message on stderr, the same code.
  const plain = spawnSync(process.execPath, cliArgs('grads', 'info', missing), { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(plain.status, 2);
  assert.equal(plain.stdout, '');

  // A usage error in a subcommand: commander's exit code (1), kind user, commander's code.
  const usage = spawnSync(process.execPath, cliArgs('grads', 'info', '--no-such-option', '--json'), { encoding: 'utf8', cwd: REPO_ROOT });
  assert.equal(usage.status, 1);
  assert.deepEqual(JSON.parse(usage.stdout), { error: { message: "unknown option '--no-such-option'", kind: 'user', code: 'commander.unknownOption' } });
});

test('reportFailure: internal errors are kind "internal" with exit 1; help and version are not failures', () => {
  const capture = () => {
    let text = '';
    return { stream: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, text: () => text };
  };
  const out = capture();
  const err = capture();
  const boom = Object.assign(new Error('disk on fire'), { code: 'EIO' });
  assert.equal(reportFailure(boom, true, out.stream, err.stream), 1);
  assert.deepEqual(JSON.parse(out.text()), { error: { message: 'disk on fire', kind: 'internal', name: 'Error', code: 'EIO' } });
  assert.match(err.text(), /^unlearnkit: Error: disk on fire\n {4}at /);

  const out2 = capture();
  assert.equal(reportFailure(new UserError('no such model'), true, out2.stream, capture().stream), 2);
  assert.deepEqual(JSON.parse(out2.text()), { error: { message: 'no such model', kind: 'user' } });

  const out3 = capture();
  assert.equal(reportFailure(new CommanderError(0, 'commander.version', VERSION), true, out3.stream, capture().stream), 0);
  assert.equal(out3.text(), '');
  const out4 = capture();
  assert.equal(reportFailure(new Error('not json'), false, out4.stream, capture().stream), 1);
  assert.equal(out4.text(), '');
});
