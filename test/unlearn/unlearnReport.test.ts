/**
 * `unlearnkit unlearn --report` as a user runs it (the source CLI): one step from the unlearning run
 * to report.html, whose verdict carries the run's own forget perplexities (result.json), with the
 * reference rows evaluated by eval's code (the fine-tuned row equals the run's "before" numbers on
 * the same items) and 3 greedy sample generations before and after. A tiny fine-tune of the
 * stories260K fixture on 6 forget + 6 retain Dave facts, 4 items per set (as evalParity.test.ts).
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { cliArgs } from '../helpers/cli.ts';
import { haveModel, tempDir, tinyRun } from './helpers.ts';

const dir = tempDir('unlearnreport');
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const LIMIT = 4;

function cli(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, cliArgs(...args), { encoding: 'utf8', cwd: dir, env: { ...process.env, UNLEARNKIT_DEVICE: 'cpu' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('unlearn --report writes report.html with the verdict, reference rows and 3 sample generations', { skip: !haveModel && 'stories260K fixture missing' }, () => {
  tinyRun(dir, { forget: 6, retain: 6, epochs: 2 });
  const adapters = path.join(dir, 'adapters');
  const u = cli('unlearn', '--from', path.join(dir, 'run'), '--method', 'first-epoch', '--target', 'embedding', '--eval-limit', String(LIMIT), '--run-id', 'rep', '--adapters-dir', adapters, '--report', '--quiet');
  assert.ok(u.status === 0 || u.status === 3, `unlearn exited ${u.status}: ${u.stderr}`);
  const html = path.join(adapters, 'rep', 'report', 'report.html');
  assert.ok(u.stdout.includes(`html report: ${html}`), u.stdout);
  assert.ok(fs.existsSync(html));
  const page = fs.readFileSync(html, 'utf8');

  const result = JSON.parse(fs.readFileSync(path.join(adapters, 'rep', 'result.json'), 'utf8')) as {
    outcome: string;
    summary: Record<string, { perplexityBefore: number; perplexityAfter: number; p: number | null }>;
  };
  const f = result.summary.forget!;
  const verdict = /<p class="verdict">([^<]*)<\/p>/.exec(page)?.[1];
  assert.ok(verdict, 'a verdict paragraph');
  assert.ok(verdict.includes(result.outcome === 'unlearned' ? 'UNLEARNED' : 'NOT UNLEARNED'), verdict);
  assert.ok(verdict.includes(`Forget perplexity ${f.perplexityBefore.toFixed(3)} -&gt; ${f.perplexityAfter.toFixed(3)}`), verdict);
  if (f.p !== null) assert.ok(verdict.includes(`p = ${f.p.toExponential(2)}`), verdict);
  assert.ok(/utility budget of \+5\.0%/.test(verdict), verdict);
  // the verdict comes first: before the runs table
  assert.ok(page.indexOf('class="verdict"') < page.indexOf('<h2>Runs</h2>'));

  // reference rows: eval's perplexities of the fine-tuned model and the served artifact, on the run's items
  const row = (label: string) => new RegExp(`<tr><td>${label.replace(/[().]/g, '\\$&')}</td><td class="num">([\\d.]+)</td>`).exec(page)?.[1];
  assert.equal(row('fine-tuned (before)'), f.perplexityBefore.toFixed(3));
  assert.equal(row('unlearned (adapter.gguf)'), f.perplexityAfter.toFixed(3));

  // 3 sample generations: question, expected, before, after
  const samples = page.split('Sample generations (greedy, forget questions)')[1]!.split('</table>')[0]!;
  assert.equal((samples.match(/<tr><td>/g) ?? []).length, 3, samples);
});
