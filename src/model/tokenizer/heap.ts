/** Priority queues for the tokenizers' merge loops (C++ std::priority_queue semantics). */

/** A small binary max-heap ordered by a "less" comparator (like C++ std::priority_queue). */
export class PriorityQueue<T> {
  private readonly items: T[] = [];
  /** `less(a, b)` true means a has lower priority than b (std::priority_queue semantics). */
  constructor(private readonly less: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  push(x: T): void {
    const a = this.items;
    a.push(x);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(a[p]!, a[i]!)) break;
      [a[p], a[i]] = [a[i]!, a[p]!];
      i = p;
    }
  }

  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0]!;
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.less(a[m]!, a[l]!)) m = l;
        if (r < a.length && this.less(a[m]!, a[r]!)) m = r;
        if (m === i) break;
        [a[m], a[i]] = [a[i]!, a[m]!];
        i = m;
      }
    }
    return top;
  }
}

/**
 * The merge queue of the SPM and BPE loops without per-entry objects: bigrams (key, left, right,
 * size) in growable typed arrays, highest key first, then lowest `left` (SPM: key = score;
 * BPE: key = -rank). `pop()` returns the slot of the best entry, valid until the next push.
 * Entries equal in key and left are never both current (a symbol only grows, so a (left, size)
 * pair is queued once), so the order among them, which a heap leaves open, cannot matter.
 */
export class BigramHeap {
  key = new Float64Array(64);
  left = new Int32Array(64);
  right = new Int32Array(64);
  size = new Int32Array(64);
  private heap = new Int32Array(64); // slots, heap-ordered
  private n = 0; // entries in the heap
  private slots = 0; // slots handed out since the last clear

  clear(): void {
    this.n = 0;
    this.slots = 0;
  }

  get length(): number {
    return this.n;
  }

  /** a ranks above b */
  private better(a: number, b: number): boolean {
    const ka = this.key[a]!;
    const kb = this.key[b]!;
    return ka > kb || (ka === kb && this.left[a]! < this.left[b]!);
  }

  private grow(): void {
    const cap = this.key.length * 2;
    const g = <A extends Float64Array | Int32Array>(a: A): A => {
      const b = new (a.constructor as new (n: number) => A)(cap);
      b.set(a);
      return b;
    };
    this.key = g(this.key);
    this.left = g(this.left);
    this.right = g(this.right);
    this.size = g(this.size);
    this.heap = g(this.heap);
  }

  push(key: number, left: number, right: number, size: number): void {
    if (this.slots === this.key.length) this.grow();
    const s = this.slots++;
    this.key[s] = key;
    this.left[s] = left;
    this.right[s] = right;
    this.size[s] = size;
    const h = this.heap;
    let i = this.n++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.better(s, h[p]!)) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = s;
  }

  /** The slot of the best entry, removed from the queue; -1 when empty. */
  pop(): number {
    if (this.n === 0) return -1;
    const h = this.heap;
    const top = h[0]!;
    const last = h[--this.n]!;
    if (this.n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= this.n) break;
        const r = l + 1;
        const c = r < this.n && this.better(h[r]!, h[l]!) ? r : l;
        if (!this.better(h[c]!, last)) break;
        h[i] = h[c]!;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }
}
