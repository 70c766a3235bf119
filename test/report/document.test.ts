/**
 * The one report renderer (src/report/document.ts): every block kind as Markdown and as HTML, the
 * escaping of table cells and HTML text, and the inline marks.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { code, figures, fmtP, heading, htmlPage, list, paragraph, quote, table, toHtml, toMarkdown } from '../../src/report/document.ts';

const blocks = [
  heading(1, 'Run <a>'),
  paragraph('outcome: **unlearned**, target `block:0`, effect d_{z} = 2.1, *not* final'),
  table({ caption: 'per set', head: ['set', 'p'], rows: [['forget | retain', '0.01'], ['multi\nline', '-']] }),
  list(['one', 'two **bold**']),
  code('{\n  "a": 1\n}', 'json'),
  quote('a note'),
  figures([{ name: 'effect', title: 'Effect sizes' }]),
];

test('Markdown: each block kind, separated by blank lines; | and newlines in cells escaped; subscripts as d_z', () => {
  const md = toMarkdown(blocks);
  assert.equal(
    md,
    [
      '# Run <a>',
      'outcome: **unlearned**, target `block:0`, effect d_z = 2.1, *not* final',
      '**per set**\n\n| set | p |\n|---|---|\n| forget \\| retain | 0.01 |\n| multi line | - |',
      '- one\n- two **bold**',
      '```json\n{\n  "a": 1\n}\n```',
      '> a note',
      '![Effect sizes](charts/effect.svg)',
    ].join('\n\n') + '\n',
  );
});

test('HTML: text escaped, inline marks as elements, numeric cells right-aligned, charts inlined only when given', () => {
  const html = toHtml(blocks, { effect: '<svg id="s"></svg>' });
  assert.match(html, /<h1>Run &lt;a&gt;<\/h1>/);
  assert.match(html, /<p>outcome: <strong>unlearned<\/strong>, target <code>block:0<\/code>, effect d<sub>z<\/sub> = 2\.1, <em>not<\/em> final<\/p>/);
  assert.match(html, /<p class="cap">per set<\/p><table><thead><tr><th>set<\/th><th>p<\/th><\/tr><\/thead>/);
  assert.match(html, /<td>forget \| retain<\/td><td class="num">0\.01<\/td>/);
  assert.match(html, /<ul><li>one<\/li><li>two <strong>bold<\/strong><\/li><\/ul>/);
  assert.match(html, /<pre>\{\n {2}&quot;a&quot;: 1\n\}<\/pre>/);
  assert.match(html, /<div class="note">a note<\/div>/);
  assert.match(html, /<div class="charts"><figure id="chart-effect" aria-label="Effect sizes"><svg id="s"><\/svg><\/figure><\/div>/);
  assert.doesNotMatch(toHtml(blocks), /<figure/, 'a chart without its SVG is left out of the HTML');
  assert.match(toHtml([paragraph('the verdict', 'verdict')]), /^<p class="verdict">the verdict<\/p>$/);
  const page = htmlPage('T & U', blocks);
  assert.ok(page.startsWith('<!DOCTYPE html>') && page.includes('<title>T &amp; U</title>') && page.trimEnd().endsWith('</body></html>'));
});

test('fmtP: 4 decimals, exponent form below 1e-4, the placeholder when absent', () => {
  assert.equal(fmtP(0.012345), '0.0123');
  assert.equal(fmtP(2.5e-7), '2.5e-7');
  assert.equal(fmtP(null), 'n/a');
  assert.equal(fmtP(NaN, '-'), '-');
});
