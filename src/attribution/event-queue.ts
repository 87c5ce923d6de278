import type { Win } from './window.js';

/**
 * Pending window events of one kind (starts, ends, or marks: first bytes and decode marks) of one pool, in processing order: by time, then by
 * the order the ledger received them, so that a window's start precedes its end at equal times.
 *
 *      consumed        pending, sorted                      newest
 *   [ w0  w1  w2 | w3  w4  w5  w6  w7  w8  w9 ... ]  <- push walks back from here
 *                ^head                          at most MAX_WALK places
 *
 * The windows themselves are the entries, not event objects: two objects per request waiting ~100 ms for
 * the next sample outlived the young generation and were most of the garbage. Events arrive almost in
 * order (the proxy stamps them with the clock as they happen), so a push walks back past the few later
 * ones, usually none, instead of sifting through a heap; a pop is an index bump (with a binary heap its
 * comparisons were a tenth of the `tokens` policy's cost, docs/bench.md). An event further out of order
 * than MAX_WALK marks the queue unsorted, and it is sorted once before the next peek: no order of calls
 * costs more than one sort per advance. Consumed entries are dropped by `compact` (they would keep their
 * windows reachable).
 */
export const MAX_WALK = 32;

type Less = (a: Win, b: Win) => boolean;
type Cmp = (a: Win, b: Win) => number;

export const startLess: Less = (a, b) => a.startMs < b.startMs || (a.startMs === b.startMs && a.startOrder < b.startOrder);
export const endLess: Less = (a, b) => a.endMs < b.endMs || (a.endMs === b.endMs && a.endOrder < b.endOrder);
/** Marks, first bytes first (the `learned` policy's phase events): a window's pending one, at markMs. */
export const phaseLess: Less = (a, b) => a.markMs < b.markMs || (a.markMs === b.markMs && a.phaseOrder < b.phaseOrder);
const startCmp: Cmp = (a, b) => (startLess(a, b) ? -1 : startLess(b, a) ? 1 : 0);
const endCmp: Cmp = (a, b) => (endLess(a, b) ? -1 : endLess(b, a) ? 1 : 0);
const phaseCmp: Cmp = (a, b) => (phaseLess(a, b) ? -1 : phaseLess(b, a) ? 1 : 0);

export class EventQueue {
  private a: Win[] = [];
  private head = 0;
  private sorted = true;

  private constructor(private readonly less: Less, private readonly cmp: Cmp) {}

  static ofStarts(): EventQueue {
    return new EventQueue(startLess, startCmp);
  }

  static ofEnds(): EventQueue {
    return new EventQueue(endLess, endCmp);
  }

  static ofPhases(): EventQueue {
    return new EventQueue(phaseLess, phaseCmp);
  }

  get size(): number {
    return this.a.length - this.head;
  }

  /** Inserts w in order, walking back at most MAX_WALK places. */
  push(w: Win): void {
    const a = this.a;
    const less = this.less;
    let i = a.length;
    a.push(w);
    if (!this.sorted) return;
    const stop = Math.max(this.head, i - MAX_WALK);
    while (i > this.head && less(w, a[i - 1]!)) {
      if (i === stop) { this.sorted = false; break; }
      a[i] = a[i - 1]!;
      i--;
    }
    a[i] = w;
  }

  /** The next event, or undefined; sorts the rest first if a push left it out of order. */
  peek(): Win | undefined {
    if (!this.sorted) {
      if (this.head > 0) { this.a.splice(0, this.head); this.head = 0; }
      this.a.sort(this.cmp);
      this.sorted = true;
    }
    return this.head < this.a.length ? this.a[this.head] : undefined;
  }

  /** Consumes the event peek() returned. */
  pop(): void {
    this.head++;
  }

  /** Drops the consumed entries. */
  compact(): void {
    if (this.head === 0) return;
    if (this.head === this.a.length) this.a.length = 0;
    else this.a.splice(0, this.head);
    this.head = 0;
  }

  /** Keeps only the pending events for which keep() is true, sorted. */
  filter(keep: (w: Win) => boolean): void {
    this.a = this.a.slice(this.head).filter(keep).sort(this.cmp);
    this.head = 0;
    this.sorted = true;
  }
}
