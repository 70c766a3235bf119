/**
 * A one-line progress bar for long jobs: done/total, a bar, rate, ETA and custom fields (loss,
 * tokens/s). Redraws in place on a TTY (at most every 100 ms); prints a line every 10% otherwise,
 * so logs stay readable in CI. Silent when `quiet`.
 */
export interface ProgressOptions {
  total: number;
  label: string;
  quiet?: boolean;
  stream?: NodeJS.WriteStream;
}

export class Progress {
  private done = 0;
  private readonly t0 = performance.now();
  private lastDraw = 0;
  private lastDecile = -1;
  private fields: Record<string, string> = {};
  private readonly stream: NodeJS.WriteStream;

  constructor(private readonly o: ProgressOptions) {
    this.stream = o.stream ?? process.stderr;
  }

  update(done: number, fields: Record<string, string | number> = {}): void {
    this.done = done;
    for (const [k, v] of Object.entries(fields)) this.fields[k] = typeof v === 'number' ? fmt(v) : v;
    if (this.o.quiet) return;
    const now = performance.now();
    if (this.stream.isTTY) {
      if (now - this.lastDraw < 100 && done < this.o.total) return;
      this.lastDraw = now;
      this.stream.write(`\r${this.line()}\x1b[K`);
    } else {
      const decile = Math.floor((10 * done) / Math.max(1, this.o.total));
      if (decile !== this.lastDecile || done >= this.o.total) {
        this.lastDecile = decile;
        this.stream.write(`${this.line()}\n`);
      }
    }
  }

  finish(fields: Record<string, string | number> = {}): void {
    this.update(this.o.total, fields);
    if (!this.o.quiet && this.stream.isTTY) this.stream.write('\n');
  }

  elapsedSeconds(): number {
    return (performance.now() - this.t0) / 1000;
  }

  line(): string {
    const { total, label } = this.o;
    const frac = total > 0 ? Math.min(1, this.done / total) : 1;
    const width = 24;
    const fill = Math.round(frac * width);
    const el = this.elapsedSeconds();
    const eta = frac > 0 && frac < 1 ? (el / frac) * (1 - frac) : 0;
    const extra = Object.entries(this.fields)
      .map(([k, v]) => `${k} ${v}`)
      .join('  ');
    return `${label} [${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${this.done}/${total}  ${extra}  ${fmtTime(el)}${eta ? ` ETA ${fmtTime(eta)}` : ''}`;
  }
}

function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a >= 1000 ? v.toFixed(0) : a >= 10 ? v.toFixed(1) : v.toFixed(3);
}

export function fmtTime(s: number): string {
  if (s < 60) return `${s.toFixed(1)}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.round(s - 60 * m)).padStart(2, '0')}s`;
}
