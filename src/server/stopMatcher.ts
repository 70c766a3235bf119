/**
 * Exact stop-string matching on generated text, safe for streaming. Text is released only up to
 * the point where no stop string can still begin: the longest suffix of the pending text that is a
 * prefix of some stop string is held back. When a stop string appears, everything before it is
 * released and generation should end; the stop string itself is never sent (OpenAI semantics).
 *
 * (node-llama-cpp's own stop triggers are tokenized first, which loses a leading space with
 * SentencePiece vocabularies: " Lily" would never match. Matching text avoids that.)
 */
export class StopMatcher {
  private pending = '';
  private done = false;
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  get stopped(): boolean {
    return this.done;
  }

  /** Add generated text; returns the text that is now safe to release. */
  push(chunk: string): string {
    if (this.done) return '';
    this.pending += chunk;
    let cut = -1;
    for (const s of this.stops) {
      const i = this.pending.indexOf(s);
      if (i >= 0 && (cut < 0 || i < cut)) cut = i;
    }
    if (cut >= 0) {
      const out = this.pending.slice(0, cut);
      this.pending = '';
      this.done = true;
      return out;
    }
    let hold = 0;
    for (const s of this.stops) {
      for (let k = Math.min(s.length - 1, this.pending.length); k > hold; k--) {
        if (this.pending.endsWith(s.slice(0, k))) {
          hold = k;
          break;
        }
      }
    }
    const out = this.pending.slice(0, this.pending.length - hold);
    this.pending = this.pending.slice(this.pending.length - hold);
    return out;
  }

  /** Generation ended without a stop: release what was held back. */
  flush(): string {
    const out = this.done ? '' : this.pending;
    this.pending = '';
    return out;
  }
}
