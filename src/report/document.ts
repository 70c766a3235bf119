/**
 * The one renderer of every report unlearnkit writes. A report is a list of blocks (headings,
 * paragraphs, tables, lists, code, quotes, chart figures); `toMarkdown` writes them as Markdown
 * (report.md, compare-targets.md, an adapter run's report.md, the RUM, sweep and reproduce
 * reports) and `toHtml` as the body of an HTML page (report.html), so a report's Markdown and HTML
 * always show the same tables. Modules above this layer (unlearn/, rum/, reproduce/, sweep/) build
 * blocks from their results; no other module writes Markdown or HTML syntax.
 *
 * Paragraph, list, heading, caption and cell text may use four inline marks: **bold**, *italic*,
 * `code` (kept as they are in Markdown; <strong>, <em>, <code> in HTML, after escaping the text)
 * and subscripts written d_{z} (d_z in Markdown, d<sub>z</sub> in HTML).
 */

/** A table: header cells, body rows (already formatted), an optional caption shown above it. */
export interface Table {
  caption?: string;
  head: string[];
  rows: string[][];
}

export type Block =
  | { kind: 'heading'; level: 1 | 2 | 3 | 4; text: string }
  /** `role` becomes the HTML class (e.g. 'verdict', so a page reader can find the report's conclusion). */
  | { kind: 'paragraph'; text: string; role?: string }
  | ({ kind: 'table' } & Table)
  | { kind: 'list'; items: string[] }
  | { kind: 'code'; text: string; lang?: string }
  | { kind: 'quote'; text: string }
  /** Charts: Markdown links each charts/<name>.svg; HTML inlines the SVGs given to toHtml, side by side. */
  | { kind: 'figures'; items: Array<{ name: string; title: string }> };

export const heading = (level: 1 | 2 | 3 | 4, text: string): Block => ({ kind: 'heading', level, text });
export const paragraph = (text: string, role?: string): Block => ({ kind: 'paragraph', text, ...(role ? { role } : {}) });
export const table = (t: Table): Block => ({ kind: 'table', ...t });
export const list = (items: string[]): Block => ({ kind: 'list', items });
export const code = (text: string, lang?: string): Block => ({ kind: 'code', text, ...(lang ? { lang } : {}) });
export const quote = (text: string): Block => ({ kind: 'quote', text });
export const figures = (items: Array<{ name: string; title: string }>): Block => ({ kind: 'figures', items });

/** A p-value as every report prints it: 4 decimals, exponent form below 1e-4; `missing` when absent or not finite. */
export function fmtP(p: number | null | undefined, missing = 'n/a'): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return missing;
  if (p < 1e-4) return p.toExponential(1);
  return p.toFixed(4);
}

/** Inline text for Markdown: subscripts d_{z} as d_z. */
function mdText(s: string): string {
  return s.replace(/_\{(\w+)\}/g, '_$1');
}

function mdCell(s: string): string {
  return mdText(s).replace(/\|/g, '\\|').replace(/\n/g, ' ');
}

function mdTable(t: Table): string {
  const lines: string[] = [];
  if (t.caption) lines.push(`**${mdText(t.caption)}**`, '');
  lines.push(`| ${t.head.map(mdCell).join(' | ')} |`, `|${t.head.map(() => '---').join('|')}|`);
  for (const r of t.rows) lines.push(`| ${r.map(mdCell).join(' | ')} |`);
  return lines.join('\n');
}

function mdBlock(b: Block): string {
  switch (b.kind) {
    case 'heading':
      return `${'#'.repeat(b.level)} ${mdText(b.text)}`;
    case 'paragraph':
      return mdText(b.text);
    case 'table':
      return mdTable(b);
    case 'list':
      return b.items.map((i) => `- ${mdText(i).replace(/\n/g, ' ')}`).join('\n');
    case 'code':
      return ['```' + (b.lang ?? ''), b.text, '```'].join('\n');
    case 'quote':
      return mdText(b.text).split('\n').map((l) => `> ${l}`).join('\n');
    case 'figures':
      return b.items.map((f) => `![${f.title}](charts/${f.name}.svg)`).join('\n\n');
  }
}

/** Markdown: the blocks separated by blank lines, ending with a newline. */
export function toMarkdown(blocks: Block[]): string {
  return blocks.map(mdBlock).join('\n\n') + '\n';
}

/** HTML-escaped text. */
export function escapeHtml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Escaped text with the inline marks (**bold**, *italic*, `code`, d_{z}) as HTML elements. */
function inline(s: string): string {
  return escapeHtml(s)
    .replace(/_\{(\w+)\}/g, '<sub>$1</sub>')
    .replace(/`([^`]+)`/g, '<code>$1</code>')
    .replace(/\*\*([^*]+)\*\*/g, '<strong>$1</strong>')
    .replace(/(^|[^*\w])\*([^*\s][^*]*)\*(?![*\w])/g, '$1<em>$2</em>');
}

/** Cells that read as numbers are right-aligned (class "num"). */
const NUMERIC = /^[−+-]?(\d|n\/a|∞|\[)/;

function htmlTable(t: Table): string {
  const head = `<tr>${t.head.map((h) => `<th>${inline(h)}</th>`).join('')}</tr>`;
  const body = t.rows.map((r) => `<tr>${r.map((c, i) => `<td${i > 0 && NUMERIC.test(c) ? ' class="num"' : ''}>${inline(c)}</td>`).join('')}</tr>`).join('\n');
  return `<div class="tw">${t.caption ? `<p class="cap">${inline(t.caption)}</p>` : ''}<table><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

function htmlBlock(b: Block, svgs: Record<string, string>): string {
  switch (b.kind) {
    case 'heading':
      return `<h${b.level}>${inline(b.text)}</h${b.level}>`;
    case 'paragraph':
      return `<p${b.role ? ` class="${escapeHtml(b.role)}"` : ''}>${inline(b.text)}</p>`;
    case 'table':
      return htmlTable(b);
    case 'list':
      return `<ul>${b.items.map((i) => `<li>${inline(i)}</li>`).join('')}</ul>`;
    case 'code':
      return `<pre>${escapeHtml(b.text)}</pre>`;
    case 'quote':
      return `<div class="note">${inline(b.text)}</div>`;
    case 'figures': {
      const f = b.items.filter((x) => svgs[x.name]).map((x) => `<figure id="chart-${escapeHtml(x.name)}" aria-label="${escapeHtml(x.title)}">${svgs[x.name]}</figure>`);
      return f.length ? `<div class="charts">${f.join('\n')}</div>` : '';
    }
  }
}

/** Styles of every HTML report. */
export const REPORT_CSS = `
body{font-family:Helvetica,Arial,sans-serif;margin:24px auto;max-width:1200px;color:#222;padding:0 16px}
h1{font-size:22px}h2{font-size:18px;border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}h3{font-size:15px}
.note{background:#f6f8fa;border-left:3px solid #888;padding:6px 10px;margin:6px 0;font-size:13px}
.tw{overflow-x:auto}
table{border-collapse:collapse;margin:0 0 18px;font-size:12.5px}
.cap{font-weight:bold;margin:14px 0 4px;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 7px;text-align:left;white-space:nowrap}
td.num{text-align:right;font-variant-numeric:tabular-nums}
th{background:#f3f3f3}
pre{background:#f7f7f7;padding:1em;overflow:auto;font-size:12px}
figure{margin:12px 0 24px}figure svg{max-width:100%;height:auto}
.charts{display:flex;flex-wrap:wrap;gap:18px}
`;

/** The blocks as HTML elements (figures inline `svgs[name]`; a chart without an SVG is left out). */
export function toHtml(blocks: Block[], svgs: Record<string, string> = {}): string {
  return blocks.map((b) => htmlBlock(b, svgs)).filter(Boolean).join('\n');
}

/** A self-contained HTML page: title, the report styles, the blocks. */
export function htmlPage(title: string, blocks: Block[], svgs: Record<string, string> = {}): string {
  return ['<!DOCTYPE html>', '<html lang="en"><head><meta charset="utf-8">', `<title>${escapeHtml(title)}</title>`, `<style>${REPORT_CSS}</style></head><body>`, toHtml(blocks, svgs), '</body></html>', ''].join('\n');
}
