import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Books } from './books.js';
import type { PoolState } from './pool-state.js';
import type { AttributedRequest, AttributionPolicy } from './types.js';
import type { Win } from './window.js';

/** What a record is built from: a window, or a member of an amortization window read back from its columns. */
export type RecordSource = Pick<
  Win,
  'id' | 'poolName' | 'model' | 'tenant' | 'api' | 'startWallMs' | 'startMs' | 'endMs' | 'firstByteMs' | 'outcome' | 'status' | 'prompt' | 'completion' | 'learned'
>;

export type RecordListener = (rec: AttributedRequest) => void;

let isoSecond = Number.NaN;
let isoPrefix = '';
/** `new Date(ms).toISOString()`, with the part up to the second cached (records come many per second). */
function isoFromWallMs(ms: number): string {
  const sec = Math.floor(ms / 1000);
  if (sec !== isoSecond) {
    const full = new Date(sec * 1000).toISOString(); // YYYY-MM-DDTHH:MM:SS.000Z
    if (full.length !== 24) return new Date(ms).toISOString(); // years beyond 9999: no cache
    isoSecond = sec;
    isoPrefix = full.slice(0, 20);
  }
  const milli = Math.floor(ms - sec * 1000);
  return `${isoPrefix}${milli < 10 ? '00' : milli < 100 ? '0' : ''}${milli}Z`;
}

/**
 * Builds each final record and delivers it to the listeners, later: records built while the ledger works
 * (inside advance, end or flush) wait in a queue that the ledger delivers when that call is done, so a
 * listener never runs in the middle of the ledger's work and can call it (open, end) without re-entering
 * it. A listener that throws is logged and the others still get the record.
 */
export class RecordOutbox {
  /**
   * Records built and not delivered: queue[0..queued). Slots are overwritten, never popped, and cleared
   * after delivery: an array emptied with `length = 0` gives its backing store back, and regrowing it to
   * the ~1 000 records of one advance on every advance made the `time` policy ~15 % slower.
   */
  private readonly queue: (AttributedRequest | undefined)[] = [];
  private queued = 0;
  /** Replaced, never mutated, on (un)subscribe: deliver walks it by index (iterating a Set allocated an iterator per record). */
  private listeners: RecordListener[] = [];
  private delivering = false;

  /** What a record's `attribution` says: the policy, or under `learned` the fallback of a window not weighed by learned costs. */
  private readonly fallback: AttributionPolicy;

  constructor(private readonly books: Books, attribution: AttributionPolicy, private readonly log: Logger) {
    this.fallback = attribution === 'learned' ? 'tokens' : attribution;
  }

  subscribe(cb: RecordListener): () => void {
    // A function subscribed twice is called once.
    if (!this.listeners.includes(cb)) this.listeners = [...this.listeners, cb];
    return () => {
      this.listeners = this.listeners.filter((l) => l !== cb);
    };
  }

  /**
   * The record of `w` with active energy `act` per device (given back to the pool) plus `idleShare`, booked
   * as attributed and queued. `P` undefined: a window of an unknown pool, 0 J.
   */
  build(P: PoolState | undefined, w: RecordSource, actIn: number[] | undefined, complete: boolean, idleShare: number[] | undefined): void {
    let gpuJ = 0;
    let cpuJ = 0;
    let dramJ = 0;
    let totalJ = 0;
    let idleJ = 0;
    let byDevice: Record<string, number> = {};
    if (P !== undefined) {
      const act = actIn ?? P.takeVec();
      for (let i = 0; i < P.deviceCount; i++) {
        const a = Math.max(0, act[i] ?? 0);
        const s = idleShare === undefined ? 0 : Math.max(0, idleShare[i]!);
        const v = a + s;
        act[i] = v;
        idleJ += s;
        const kind = P.kinds[i]!;
        if (kind === 'gpu') gpuJ += v;
        else if (kind === 'cpu') cpuJ += v;
        else dramJ += v;
        totalJ += v;
      }
      byDevice = P.byDevice(act);
      P.dropVec(act);
    }
    this.books.addAttributed(w.model, totalJ);
    this.queue[this.queued++] = {
      id: w.id,
      pool: w.poolName,
      model: w.model ?? null,
      tenant: w.tenant ?? null,
      api: w.api ?? null,
      startedAt: isoFromWallMs(w.startWallMs),
      startMs: w.startMs,
      endMs: w.endMs,
      durationMs: w.endMs - w.startMs,
      ttfbMs: w.firstByteMs === undefined ? null : Math.max(0, w.firstByteMs - w.startMs),
      outcome: w.outcome,
      status: w.status ?? null,
      promptTokens: w.prompt ?? null,
      completionTokens: w.completion ?? null,
      energyJ: { gpu: gpuJ, cpu: cpuJ, dram: dramJ, total: totalJ },
      energyByDeviceJ: byDevice,
      idleShareJ: idleJ,
      attribution: w.learned ? 'learned' : this.fallback,
      complete,
    };
  }

  /** Gives the queued records to the listeners, in the order they were built. */
  deliver(): void {
    if (this.queued === 0 || this.delivering) return; // a listener's call into the ledger: the loop below picks its records up
    this.delivering = true;
    const q = this.queue;
    let j = 0;
    try {
      for (; j < this.queued; j++) {
        const rec = q[j]!;
        q[j] = undefined;
        const ls = this.listeners;
        for (let i = 0; i < ls.length; i++) {
          try {
            ls[i]!(rec);
          } catch (err) {
            this.log.rateLimited('error', 'listener', `onFinal listener threw: ${errorMessage(err)}`);
          }
        }
      }
    } finally {
      for (; j < this.queued; j++) q[j] = undefined;
      this.queued = 0;
      // A burst (an amortization window of a busy minute) may have grown it far: give that back.
      if (q.length > 65_536) q.length = 0;
      this.delivering = false;
    }
  }
}
