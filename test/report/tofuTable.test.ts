/**
 * TOFU leftovers of issue #20: the report's table for the `tofu` metric (forget_quality,
 * model_utility with the sets it is over, privleak, extraction_strength; a value not computed shows
 * its reason) in Markdown and HTML, and the TUI Data screen's people count for TOFU data (authors
 * not grouped: says how to group, never "null people").
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderMarkdown, renderHtml } from '../../src/report/render.ts';
import type { ReportInput } from '../../src/report/types.ts';
import { peopleText } from '../../src/tui/screens/DataScreen.tsx';
import { getDataset } from '../../src/data/dataset.ts';
import { tofuNamedFolder, tofuPlainFolder } from '../data/tofuFixture.ts';

test('report: a TOFU table with open-unlearning names, the utility sets named, reasons for what was not computed', () => {
  const input: ReportInput = {
    title: 't',
    createdAt: '2026-01-01T00:00:00Z',
    comparisons: [],
    series: [],
    runs: [
      {
        id: 'a',
        label: 'unlearned',
        splitSummaries: { tofu: { forget: { n: 6, forget_Q_A_Prob: 0.25 } } },
        summaries: {
          tofu: {
            forget_quality: { value: 0.0123, n: 6 },
            model_utility: { value: 0.4567, over: ['retain', 'real_authors'], components: { retain_Q_A_Prob: 0.5 } },
            privleak: { value: null, reason: 'no holdout split' },
            extraction_strength: { value: 0.0338, n: 6 },
            retain_Q_A_Prob: { value: 0.5, n: 30 },
            ra_Q_A_ROUGE: { value: null, reason: 'no real_authors split' },
          },
        },
      },
    ],
  };
  const md = renderMarkdown(input, []);
  const lines = md.split('\n');
  const head = lines.findIndex((l) => l === '| run | forget_quality | model_utility | model_utility over | privleak | extraction_strength |');
  assert.ok(head >= 0, md);
  assert.equal(lines[head + 2], '| unlearned | 0.0123 | 0.4567 | retain, real_authors | not computed (no holdout split) | 0.0338 |');
  assert.match(md, /\| run \| retain_Q_A_Prob \| ra_Q_A_ROUGE \|\n\|---\|---\|---\|\n\| unlearned \| 0\.5 \| n\/c \|/);
  assert.doesNotMatch(md, /\[object Object\]/);
  const html = renderHtml(input, []);
  assert.match(html, /model_utility over/);
  assert.match(html, /retain, real_authors/);
  assert.doesNotMatch(html, /\[object Object\]/);
});

test('TUI Data screen: TOFU authors not grouped are said so, grouped ones counted; never "null people"', () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'uk-people-'));
  try {
    const plain = tofuPlainFolder(path.join(tmp, 'plain'));
    const named = tofuNamedFolder(path.join(tmp, 'named'));
    for (const d of [plain, named]) {
      const t = peopleText(getDataset(d));
      assert.doesNotMatch(t, /null/);
      assert.equal(t, 'authors not grouped (--group-by FIELD or --group-size N)');
    }
    // the fixture: 1 forget author, 5 retain authors, 1 holdout author (6 questions each)
    assert.equal(peopleText(getDataset(named, { groupBy: 'author' })), 'forget 1 people, retain 5 people, holdout 1 people');
    assert.match(peopleText(getDataset('dave')), /^forget \d+ people, retain \d+ people, holdout \d+ people, decoy \d+ people$/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
