import type { Win } from './window.js';

/**
 * Ended windows in the order they ended, watched against the lag bound: a window whose end the pool's
 * devices have not covered `lagBoundMs` after it is due to be finalised with the energy that exists.
 * End times arrive almost in order, so the oldest is at the head and a check stops at the first window
 * not yet due; windows already final are skipped as the head passes them.
 */
export class LagQueue {
  private readonly fifo: Win[] = [];
  private head = 0;

  constructor(private readonly lagBoundMs: number) {}

  push(w: Win): void {
    this.fifo.push(w);
  }

  /** Windows are waiting (the ledger keeps its timer armed). */
  waiting(): boolean {
    return this.head < this.fifo.length;
  }

  /** Calls finalise for every window due at `now` that is neither emitted nor processed. */
  check(now: number, finalise: (w: Win) => void): void {
    const fifo = this.fifo;
    while (this.head < fifo.length) {
      const w = fifo[this.head]!;
      if (w.emitted || w.endDone) { this.head++; continue; }
      if (now < w.endMs + this.lagBoundMs) break;
      this.head++;
      finalise(w);
    }
    if (this.head > 1024 && this.head * 2 > fifo.length) {
      fifo.splice(0, this.head);
      this.head = 0;
    }
  }

  clear(): void {
    this.fifo.length = 0;
    this.head = 0;
  }
}
