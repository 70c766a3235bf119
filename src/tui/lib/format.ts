/**
 * Number and text formatting for the terminal UI: sizes, durations, ETAs, significance marks and
 * fixed-width cells. Pure functions (tested in test/tui/lib.test.ts).
 */

/** 1536 -> "1.5 KiB" (binary units, as `ls -h` and the gradient-record tools print them). */
export function fmtBytes(n: number): string {
  if (!Number.isFinite(n) || n < 0) return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let v = n;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v < 10 ? v.toFixed(1) : v.toFixed(0)} ${units[i]}`;
}

/** Seconds -> "42s", "3m05s", "1h02m". */
export function fmtDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * Remaining time from progress so far, assuming a constant rate: elapsed * (total - done) / done.
 * Unknown ("--") before the first unit is done.
 */
export function etaSeconds(done: number, total: number, elapsedSeconds: number): number {
  if (!(done > 0) || !(total > 0) || !(elapsedSeconds >= 0)) return NaN;
  return (elapsedSeconds * Math.max(0, total - done)) / done;
}

/** A number with a sensible number of digits for a table cell. */
export function fmtNum(x: number | null | undefined, digits = 3): string {
  if (x === null || x === undefined || Number.isNaN(x)) return '-';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const a = Math.abs(x);
  if (a !== 0 && (a >= 1e5 || a < 10 ** -digits)) return x.toExponential(Math.max(0, digits - 2));
  return x.toFixed(a >= 100 ? Math.max(0, digits - 2) : digits);
}

/** Signed percentage change from a to b: "+12.3%". */
export function fmtChange(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || a === 0) return '-';
  const c = (b / a - 1) * 100;
  return `${c >= 0 ? '+' : ''}${c.toFixed(1)}%`;
}

/** Significance marks of a p-value: *** p<0.001, ** p<0.01, * p<0.05, none otherwise. */
export function pMarks(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '';
  return p < 0.001 ? '***' : p < 0.01 ? '**' : p < 0.05 ? '*' : '';
}

/** p-value for display: "<1e-4" below 1e-4, else 4 significant digits. */
export function fmtP(p: number | null | undefined): string {
  if (p === null || p === undefined || !Number.isFinite(p)) return '-';
  if (p < 1e-4) return '<1e-4';
  return p.toPrecision(2);
}

/** Cut `s` to `width` columns, ending in "…" when cut. */
export function truncate(s: string, width: number): string {
  if (width <= 0) return '';
  if (s.length <= width) return s;
  return width === 1 ? '…' : s.slice(0, width - 1) + '…';
}

/** Cut the start of a path to fit: "…/runs/finetune-x/checkpoint.gguf". */
export function truncateStart(s: string, width: number): string {
  if (s.length <= width) return s;
  if (width <= 1) return '…'.slice(0, width);
  return '…' + s.slice(s.length - width + 1);
}

/** A shell-quoted argument (for the "same as the CLI command" lines). */
export function shellQuote(s: string): string {
  return /^[A-Za-z0-9_./:,=+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

/** "unlearnkit finetune --model x --epochs 1" from a command and its flags (undefined/false skipped). */
export function cliLine(command: string[], flags: Record<string, string | number | boolean | undefined>): string {
  const parts = ['unlearnkit', ...command];
  for (const [k, v] of Object.entries(flags)) {
    if (v === undefined || v === false || v === '') continue;
    parts.push(`--${k}`);
    if (v !== true) parts.push(shellQuote(String(v)));
  }
  return parts.join(' ');
}
