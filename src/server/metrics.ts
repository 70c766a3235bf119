/**
 * A small Prometheus registry (text exposition format 0.0.4): counters and gauges with labels, and
 * one latency histogram. Enough for `GET /metrics` without another dependency.
 */

type Labels = Record<string, string>;

function labelText(labels: Labels): string {
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  const esc = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
  return `{${keys.map((k) => `${k}="${esc(labels[k]!)}"`).join(',')}}`;
}

class Counter {
  private readonly values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' = 'counter',
  ) {}

  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    const cur = this.values.get(k);
    if (cur) cur.value += by;
    else this.values.set(k, { labels, value: by });
  }

  set(labels: Labels, value: number): void {
    this.values.set(labelText(labels), { labels, value });
  }

  get(labels: Labels = {}): number {
    return this.values.get(labelText(labels))?.value ?? 0;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  private readonly series = new Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {}

  observe(labels: Labels, v: number): void {
    const k = labelText(labels);
    let s = this.series.get(k);
    if (!s) {
      s = { labels, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(k, s);
    }
    for (let i = 0; i < this.buckets.length; i++) if (v <= this.buckets[i]!) s.counts[i]!++;
    s.sum += v;
    s.count++;
  }

  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    for (const s of this.series.values()) {
      this.buckets.forEach((b, i) => lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: String(b) })} ${s.counts[i]}`));
      lines.push(`${this.name}_bucket${labelText({ ...s.labels, le: '+Inf' })} ${s.count}`);
      lines.push(`${this.name}_sum${labelText(s.labels)} ${s.sum}`);
      lines.push(`${this.name}_count${labelText(s.labels)} ${s.count}`);
    }
    return lines.join('\n');
  }
}

export class ServerMetrics {
  readonly requests = new Counter('unlearnkit_http_requests_total', 'HTTP requests by route, method and status.');
  readonly latency = new Histogram(
    'unlearnkit_http_request_duration_seconds',
    'Time from request received to response finished, by route.',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
  );
  readonly promptTokens = new Counter('unlearnkit_prompt_tokens_total', 'Prompt tokens evaluated for generation, by endpoint.');
  readonly completionTokens = new Counter('unlearnkit_completion_tokens_total', 'Tokens generated, by endpoint.');
  readonly scoredTokens = new Counter('unlearnkit_scored_tokens_total', 'Tokens scored by /v1/score.');
  readonly aborted = new Counter('unlearnkit_requests_aborted_total', 'Requests stopped early, by reason (client_closed, timeout, shutdown).');
  readonly gauges = new Counter('unlearnkit_state', 'Server state: queue depth, running requests, contexts, adapters.', 'gauge');

  observeRequest(route: string, method: string, status: number, seconds: number): void {
    this.requests.inc({ route, method, status: String(status) });
    this.latency.observe({ route }, seconds);
  }

  render(state: { queued: number; running: number; contexts: number; adapters: number }): string {
    this.gauges.set({ what: 'queue_depth' }, state.queued);
    this.gauges.set({ what: 'running_requests' }, state.running);
    this.gauges.set({ what: 'contexts' }, state.contexts);
    this.gauges.set({ what: 'adapters_loaded' }, state.adapters);
    return (
      [this.requests, this.latency, this.promptTokens, this.completionTokens, this.scoredTokens, this.aborted, this.gauges]
        .map((m) => m.render())
        .join('\n') + '\n'
    );
  }
}
