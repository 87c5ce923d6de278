import type { AmortWin } from './idle/amortize.js';
import type { PoolState } from './pool-state.js';
import type { Outcome, WindowEnd, WindowHandle, WindowUpdate } from './types.js';

/**
 * A request window inside the ledger; it is also the handle that `open()` returns (as WindowHandle only).
 *
 * Windows live as long as their request and its wait for the sensors (~100 ms to a minute), long enough
 * to outlive V8's young generation, so their size is garbage-collection work: booleans are bits of one
 * field (`flags`), optional numbers are plain fields, and the split policies keep their per-window state
 * in the fields below instead of objects of their own.
 *
 *   flags:  bit 0 ended       the proxy ended it (end() called)
 *           bit 1 startDone   its start event was processed (it is or was active)
 *           bit 2 inActive    active now: started, its end not processed yet
 *           bit 3 endDone     its end event was processed
 *           bit 4 known       its token counts are known (a split policy weighs it)
 *           bit 5 late        a device went unmeasured while it was active, or its start was clamped
 *           bit 6 hasFirst    it has a first segment (`tokens`: it was active in a held segment)
 *           bit 7 hasLast     its end was processed after its first segment opened
 *           bit 8 emitted     its record was given (possibly early, by the lag bound)
 *           bit 9 amortPending  counted in its amortization window's `pending`
 *           bit 10 learned    `learned`: weighed by its learned power (else its model's costs were not ready)
 *           bit 11 markQueued one of its marks (first byte, decode marks) waits in its pool's phase queue
 *           bit 12 stream     the request asked for a streamed response
 *           bit 13 endDeferred `learned` with queued prefills: the proxy ended it before its first byte
 *                            was processed; the held split finishes its end there (its prefill start is
 *                            known only then)
 */
export interface WindowOps {
  /** Called once, when w's first byte is set. */
  firstByte(w: Win): void;
  /** A decode mark: `chunks` content chunks had been streamed at `tMs`. */
  progress(w: Win, tMs: number, chunks: number): void;
  update(w: Win, u: WindowUpdate): void;
  end(w: Win, e: WindowEnd): void;
}

const FLAG_ENDED = 1;
const FLAG_START_DONE = 2;
const FLAG_IN_ACTIVE = 4;
const FLAG_END_DONE = 8;
const FLAG_KNOWN = 16;
const FLAG_LATE = 32;
const FLAG_HAS_FIRST = 64;
const FLAG_HAS_LAST = 128;
const FLAG_EMITTED = 256;
const FLAG_AMORT_PENDING = 512;
const FLAG_LEARNED = 1024;
const FLAG_MARK_QUEUED = 2048;
const FLAG_STREAM = 4096;
const FLAG_END_DEFERRED = 8192;

export class Win implements WindowHandle {
  endMs = Number.NaN;
  /** Insertion order of its start and end events (ties in time are processed in this order). */
  startOrder = 0;
  endOrder = 0;
  model: string | undefined;
  firstByteMs: number | undefined = undefined;
  prompt: number | undefined = undefined;
  completion: number | undefined = undefined;
  status: number | undefined = undefined;
  outcome: Outcome = 'ok';
  /** Prompt tokens the server reported as served from its cache (they skip prefill). */
  cachedPrompt: number | undefined = undefined;
  /** `tokens`: its weight per ms (0 when unknown; see `known`); `learned`: its learned power in its first phase. */
  density = 0;
  /** `learned`: its learned power after its first byte (decode, up to its first decode mark), equal to `density` for one phase. */
  densityAfter = 0;
  /** `learned`: its learned power after each later decode mark (undefined: `densityAfter` to its end). */
  dens: number[] | undefined = undefined;
  /**
   * Its marks (`learned`): mark 0 is its first byte, marks 1… the decode marks the proxy sent (`progress`),
   * flat as [time ms, content chunks streamed by then, insertion order, first segment after it] each.
   * The pool processes them in time order like starts and ends: `markPos` of them so far; the pending one
   * sits in the phase queue keyed by `markMs` and `phaseOrder`.
   */
  marks: number[] | undefined = undefined;
  markMs = Number.NaN;
  phaseOrder = 0;
  markPos = 0;
  /** Content chunks (SSE events, NDJSON lines) its response streamed in all, when the proxy counted them. */
  chunks: number | undefined = undefined;
  /** `learned`: its first segment after its first byte (0: none yet); how many of its marks have their first segment known. */
  phaseSeq = 0;
  markSeqd = 0;
  /**
   * `learned`: when its prefill began, if after its start (it waited while the engine computed earlier
   * prompts): the first segment after that instant (0: no wait) and the instant (held-split.ts).
   */
  waitSeq = 0;
  waitMs = Number.NaN;
  /**
   * `learned`, held split: how many of its mark boundaries were split (the interval its held energy is in),
   * and, once its density changed at one of them after its end, the integrals there and its energy before.
   */
  markRes = 0;
  cumAtMark: number[] | undefined = undefined;
  learnedAcc: number[] | undefined = undefined;
  /** The pool's count of unmeasured device pieces when it became active; more at its end: incomplete. */
  uncoveredAtStart = 0;
  /** `tokens`: its first held segment, and the one before it (0: none; `cumAtStart` holds the integrals just after it). */
  firstSeq = 0;
  fromSeq = 0;
  /** `tokens`: the last segment split while it was still open (counted unknown-token up to there), and the integrals after it. */
  splitSeq = 0;
  cumAtSplit: number[] | undefined = undefined;
  /** The newest segment when its record was given early (lag), and the integrals then. */
  givenSeq = 0;
  cumAtGiven: number[] | undefined = undefined;
  /** The running integrals when it became active. */
  cumAtStart: number[] | undefined = undefined;
  /** Its active energy per device, once final and until its record is built. */
  activeJ: number[] | undefined = undefined;
  /** `amortize`: the amortization window it ended in. */
  amortWin: AmortWin | undefined = undefined;
  flags = 0;
  /** `learned`: the learner's bucket that counts it open (-1: none). */
  learnBucket = -1;
  /** Its entry in the ledger's window slots; -1 once released. */
  slot = -1;
  get ended(): boolean {
    return (this.flags & FLAG_ENDED) !== 0;
  }
  set ended(v: boolean) {
    this.flags = v ? this.flags | FLAG_ENDED : this.flags & ~FLAG_ENDED;
  }
  get startDone(): boolean {
    return (this.flags & FLAG_START_DONE) !== 0;
  }
  set startDone(v: boolean) {
    this.flags = v ? this.flags | FLAG_START_DONE : this.flags & ~FLAG_START_DONE;
  }
  get inActive(): boolean {
    return (this.flags & FLAG_IN_ACTIVE) !== 0;
  }
  set inActive(v: boolean) {
    this.flags = v ? this.flags | FLAG_IN_ACTIVE : this.flags & ~FLAG_IN_ACTIVE;
  }
  get endDone(): boolean {
    return (this.flags & FLAG_END_DONE) !== 0;
  }
  set endDone(v: boolean) {
    this.flags = v ? this.flags | FLAG_END_DONE : this.flags & ~FLAG_END_DONE;
  }
  get known(): boolean {
    return (this.flags & FLAG_KNOWN) !== 0;
  }
  set known(v: boolean) {
    this.flags = v ? this.flags | FLAG_KNOWN : this.flags & ~FLAG_KNOWN;
  }
  get late(): boolean {
    return (this.flags & FLAG_LATE) !== 0;
  }
  set late(v: boolean) {
    this.flags = v ? this.flags | FLAG_LATE : this.flags & ~FLAG_LATE;
  }
  get hasFirst(): boolean {
    return (this.flags & FLAG_HAS_FIRST) !== 0;
  }
  set hasFirst(v: boolean) {
    this.flags = v ? this.flags | FLAG_HAS_FIRST : this.flags & ~FLAG_HAS_FIRST;
  }
  get hasLast(): boolean {
    return (this.flags & FLAG_HAS_LAST) !== 0;
  }
  set hasLast(v: boolean) {
    this.flags = v ? this.flags | FLAG_HAS_LAST : this.flags & ~FLAG_HAS_LAST;
  }
  get emitted(): boolean {
    return (this.flags & FLAG_EMITTED) !== 0;
  }
  set emitted(v: boolean) {
    this.flags = v ? this.flags | FLAG_EMITTED : this.flags & ~FLAG_EMITTED;
  }
  get amortPending(): boolean {
    return (this.flags & FLAG_AMORT_PENDING) !== 0;
  }
  set amortPending(v: boolean) {
    this.flags = v ? this.flags | FLAG_AMORT_PENDING : this.flags & ~FLAG_AMORT_PENDING;
  }
  get learned(): boolean {
    return (this.flags & FLAG_LEARNED) !== 0;
  }
  set learned(v: boolean) {
    this.flags = v ? this.flags | FLAG_LEARNED : this.flags & ~FLAG_LEARNED;
  }
  get markQueued(): boolean {
    return (this.flags & FLAG_MARK_QUEUED) !== 0;
  }
  set markQueued(v: boolean) {
    this.flags = v ? this.flags | FLAG_MARK_QUEUED : this.flags & ~FLAG_MARK_QUEUED;
  }
  get endDeferred(): boolean {
    return (this.flags & FLAG_END_DEFERRED) !== 0;
  }
  set endDeferred(v: boolean) {
    this.flags = v ? this.flags | FLAG_END_DEFERRED : this.flags & ~FLAG_END_DEFERRED;
  }
  get stream(): boolean {
    return (this.flags & FLAG_STREAM) !== 0;
  }
  set stream(v: boolean) {
    this.flags = v ? this.flags | FLAG_STREAM : this.flags & ~FLAG_STREAM;
  }
  constructor(
    readonly id: string,
    readonly poolName: string,
    readonly pool: PoolState | undefined,
    readonly startMs: number,
    readonly startWallMs: number,
    model: string | undefined,
    readonly tenant: string | undefined,
    readonly api: string | undefined,
    private readonly ops: WindowOps,
  ) {
    this.model = model;
  }
  firstByte(tMs: number): void {
    if (this.firstByteMs === undefined && Number.isFinite(tMs)) {
      this.firstByteMs = tMs;
      this.ops.firstByte(this);
    }
  }
  progress(tMs: number, chunks: number): void {
    this.ops.progress(this, tMs, chunks);
  }
  update(u: WindowUpdate): void {
    this.ops.update(this, u);
  }
  /** Marks in all: its first byte and its decode marks (0 before its first byte). */
  get markCount(): number {
    return this.firstByteMs === undefined ? 0 : 1 + (this.marks === undefined ? 0 : this.marks.length / 4);
  }
  /** Mark j's time (j < markCount). */
  markTime(j: number): number {
    return j === 0 ? this.firstByteMs! : this.marks![4 * j - 4]!;
  }
  /** Decode mark j's chunk count and insertion order (1 ≤ j < markCount). */
  markChunks(j: number): number {
    return this.marks![4 * j - 3]!;
  }
  markOrder(j: number): number {
    return this.marks![4 * j - 2]!;
  }
  /** When its prefill began: its start, or the end of its wait. */
  get prefillFromMs(): number {
    return this.waitSeq > 0 ? this.waitMs : this.startMs;
  }
  /** `learned`: its learned power in interval j (0: its prefill, j: after mark j - 1). */
  densAt(j: number): number {
    if (j === 0) return this.density;
    const d = this.dens;
    return j === 1 || d === undefined ? this.densityAfter : d[Math.min(j, d.length + 1) - 2]!;
  }
  /** `learned`: its learned power after k of its boundaries (its wait's end, if any, then its marks): 0 while it waits. */
  resDens(k: number): number {
    return this.waitSeq > 0 ? (k === 0 ? 0 : this.densAt(k - 1)) : this.densAt(k);
  }
  /**
   * Its decode as intervals: [first byte, mark 1], …, [last mark, end], each with its share of the content
   * chunks, in order (f gets the interval's index, 1 for the first); one interval [first byte, end] of
   * share 1 when it has no usable marks. Only for a window that ended after its first byte.
   */
  decodeIntervals(f: (j: number, a: number, b: number, share: number) => void): void {
    const fb = this.firstByteMs!;
    const m = this.marks;
    const n = this.chunks;
    // The ledger took marks only in order, after the first byte and with counts that never fall; they are
    // usable when the last one is before the end and within the total.
    if (m === undefined || n === undefined || !(n > 0) || !(this.endMs > m[m.length - 4]!) || !(n >= m[m.length - 3]!)) {
      f(1, fb, this.endMs, 1);
      return;
    }
    let t = fb;
    let c = 0;
    for (let i = 0; i <= m.length; i += 4) {
      const t1 = i < m.length ? m[i]! : this.endMs;
      const c1 = i < m.length ? m[i + 1]! : n;
      f(1 + i / 4, t, t1, (c1 - c) / n);
      t = t1;
      c = c1;
    }
  }
  end(e: WindowEnd): void {
    this.ops.end(this, e);
  }
}

/** A token count or HTTP status: a finite number ≥ 0. */
export function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}
