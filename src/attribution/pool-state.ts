import type { Logger } from '../core/logger.js';
import type { EnergyTimeline } from '../energy/types.js';
import type { DeviceKind } from '../sensors/types.js';
import type { Books } from './books.js';
import { compAdd, compSum, type CompSum } from './comp-sum.js';
import { EventQueue } from './event-queue.js';
import type { PoolIdle } from './idle/idle-sink.js';
import { PoolEnergy } from './pool-energy.js';
import type { PoolSplit } from './split/policy.js';
import { EMPTY, makeByDevice, zeros } from './vectors.js';
import type { Win } from './window.js';

/** One piece [a, b] of pool P, inside the idle sink's `bucket`. */
function piece(P: PoolState, a: number, b: number, bucket: number): void {
  const e = P.pieceJ;
  const total = P.energy!.read(a, b, e);
  compAdd(P.measured, total);
  if (P.active > 0) P.split.activePiece(e);
  else P.idle.idlePiece(e, total, bucket);
}

const keepEvent = (w: Win): boolean => !(w.emitted && !w.startDone);

/** Most spare arrays kept per pool and kind: ~2 000 requests in flight, then garbage. */
const MAX_FREE_ARRAYS = 4_096;

/**
 * One pool: the devices whose energy goes to one upstream's requests, and everything the ledger keeps
 * for it. The split policy's and the idle sink's per-pool parts hang off it (`split`, `idle`), chosen
 * once per ledger.
 *
 * `integrals` are the split policy's running integrals per device, each a compensated pair (comp-sum.ts):
 * integral q of device i is at q × 2D + i, its low part D further on. A window's energy is a difference
 * of integrals between two instants, so each window keeps a copy (`cumAtStart`); those copies and the
 * per-device vectors of finished windows are one or two per request, living as long as the request, so
 * they are reused (`takeSnap`/`takeVec`) rather than left to the young generation.
 */
export class PoolState {
  ids: string[] = [];
  kinds: DeviceKind[] = [];
  deviceCount = 0;
  started = false;
  /** How far (monotonic ms) the pool is processed. */
  cursor = Number.NaN;
  readonly startQ = EventQueue.ofStarts();
  readonly endQ = EventQueue.ofEnds();
  /** Marks (first bytes, decode marks), queued only under a policy whose weights change there (SplitPolicy.phases): a window's next one at a time. */
  readonly phaseQ = EventQueue.ofPhases();
  /** Windows active now (start processed, end not). */
  active = 0;
  integrals: number[] = EMPTY;
  readonly measured: CompSum = compSum();
  /** Reads its energy per piece; set when it starts. */
  energy: PoolEnergy | undefined = undefined;
  /** The current piece's energy per device. */
  pieceJ: number[] = EMPTY;
  /** Builds energyByDeviceJ from per-device values in one fixed-shape literal (see makeByDevice). */
  byDevice: (v: readonly number[]) => Record<string, number> = () => ({});
  /** Warned once that the pool names devices the timeline does not have. */
  warned = false;
  /** Queued events above which they are pruned (pruneEvents). */
  pruneAt = 0;
  readonly split: PoolSplit;
  readonly idle: PoolIdle;
  private readonly snapFree: number[][] = [];
  private readonly vecFree: number[][] = [];

  constructor(
    readonly name: string,
    readonly configIds: readonly string[],
    split: (P: PoolState) => PoolSplit,
    idle: (P: PoolState) => PoolIdle,
  ) {
    this.split = split(this);
    this.idle = idle(this);
  }

  /**
   * Starts the pool once the timeline has readings of its devices, from the latest first reading among
   * them (devices the timeline does not know are left out, with a warning). False: not yet.
   */
  tryStart(timeline: EnergyTimeline, integralsPerDevice: number, books: Books, log: Logger): boolean {
    const ids: string[] = [];
    const kinds: DeviceKind[] = [];
    for (const id of this.configIds) {
      const s = timeline.series(id);
      if (s === undefined) continue;
      ids.push(id);
      kinds.push(s.device.kind);
    }
    if (ids.length !== this.configIds.length && !this.warned) {
      this.warned = true;
      log.warn('pool names devices the timeline does not have; they are left out', { pool: this.name, missing: this.configIds.filter((id) => !ids.includes(id)) });
    }
    if (ids.length === 0) return false;
    let from = Number.NEGATIVE_INFINITY;
    for (const id of ids) {
      const r = timeline.series(id)?.retainedFromMs();
      if (r === undefined) return false;
      if (r > from) from = r;
    }
    if (timeline.coveredUntilMs(ids) === undefined) return false;
    this.ids = ids;
    this.kinds = kinds;
    this.deviceCount = ids.length;
    this.integrals = zeros(2 * integralsPerDevice * ids.length);
    this.pieceJ = zeros(ids.length);
    this.byDevice = makeByDevice(ids);
    this.energy = new PoolEnergy(timeline, ids, this.name, books, log);
    this.cursor = from;
    this.started = true;
    return true;
  }

  /**
   * Drops the queued events of windows finalised by the lag bound before their start was processed, once
   * the queues pass `pruneAt`: a pool whose devices stopped must not queue events without bound.
   */
  pruneEvents(minPruneAt: number): void {
    if (this.startQ.size + this.endQ.size + this.phaseQ.size <= this.pruneAt) return;
    this.startQ.filter(keepEvent);
    this.endQ.filter(keepEvent);
    this.phaseQ.filter(keepEvent);
    this.pruneAt = Math.max(minPruneAt, 2 * (this.startQ.size + this.endQ.size + this.phaseQ.size));
  }

  /**
   * Merges the pool's starts, ends (and marks, under a policy with phases) up to `target` in time
   * order, cutting a piece before each; an event older than the cursor is clamped to it and counted late.
   */
  processTo(target: number, books: Books, log: Logger): void {
    this.energy!.load(this.cursor, target);
    const sq = this.startQ;
    const eq = this.endQ;
    const pq = this.phaseQ;
    for (;;) {
      let s0 = sq.peek();
      let e0 = eq.peek();
      let p0 = pq.peek();
      if (s0 !== undefined && !(s0.startMs <= target)) s0 = undefined;
      if (e0 !== undefined && !(e0.endMs <= target)) e0 = undefined;
      if (p0 !== undefined && !(p0.markMs <= target)) p0 = undefined;
      // Earliest first; at equal times, in the order the ledger received them.
      let kind: 0 | 1 | 2; // start, end, first byte
      let w: Win;
      let t: number;
      if (s0 === undefined) {
        if (e0 === undefined) { if (p0 === undefined) break; kind = 2; w = p0; t = p0.markMs; }
        else { kind = 1; w = e0; t = e0.endMs; }
      } else if (e0 !== undefined && (e0.endMs < s0.startMs || (e0.endMs === s0.startMs && e0.endOrder < s0.startOrder))) {
        kind = 1; w = e0; t = e0.endMs;
      } else { kind = 0; w = s0; t = s0.startMs; }
      if (p0 !== undefined && kind !== 2 && (p0.markMs < t || (p0.markMs === t && p0.phaseOrder < (kind === 0 ? w.startOrder : w.endOrder)))) {
        kind = 2; w = p0; t = p0.markMs;
      }
      if (kind === 0) sq.pop();
      else if (kind === 1) eq.pop();
      else pq.pop();
      if (t < this.cursor) {
        t = this.cursor;
        books.lateEvents++;
        if (kind === 0) w.late = true;
        log.rateLimited('warn', 'late', 'window event older than the processed range; clamped', { pool: this.name });
      }
      this.advanceTo(t);
      if (kind === 1) this.applyEnd(w);
      else if (kind === 0) this.applyStart(w);
      else this.applyMark(w);
    }
    sq.compact();
    eq.compact();
    pq.compact();
    this.advanceTo(target);
    this.split.settle(false);
  }

  /** Processes time from the cursor to t: each piece's energy to the split policy, or to the idle sink when no window is active. */
  advanceTo(t: number): void {
    if (!(t > this.cursor)) return;
    this.idle.cut(this, this.cursor, t, piece);
    this.cursor = t;
  }

  /** w becomes active at the cursor. */
  applyStart(w: Win): void {
    w.uncoveredAtStart = this.energy!.uncovered;
    w.startDone = true;
    w.inActive = true;
    this.active++;
    this.split.start(w);
  }

  /** w stops being active at the cursor. */
  applyEnd(w: Win): void {
    // A device of the pool went unmeasured while it was active: its energy is partial.
    if (this.energy!.uncovered !== w.uncoveredAtStart) w.late = true;
    w.endDone = true;
    w.inActive = false;
    this.active--;
    this.split.end(w);
  }

  /** w's mark number markPos, at the cursor; its next one, if the proxy sent it already, joins the queue. */
  applyMark(w: Win): void {
    w.markQueued = false;
    if (!w.inActive) return; // its end was processed: what is left of its marks weighs nothing
    this.split.phase!(w);
    const j = ++w.markPos;
    if (j < w.markCount) {
      w.markMs = w.markTime(j);
      w.phaseOrder = w.markOrder(j);
      w.markQueued = true;
      this.phaseQ.push(w);
    }
  }

  /** A copy of the integrals now. */
  takeSnap(): number[] {
    const a = this.snapFree.pop();
    const c = this.integrals;
    if (a === undefined) return c.slice();
    for (let i = 0; i < c.length; i++) a[i] = c[i]!;
    return a;
  }

  dropSnap(a: number[] | undefined): void {
    if (a !== undefined && this.snapFree.length < MAX_FREE_ARRAYS) this.snapFree.push(a);
  }

  /** A per-device vector of zeros. */
  takeVec(): number[] {
    const a = this.vecFree.pop();
    if (a === undefined) return zeros(this.deviceCount);
    for (let i = 0; i < a.length; i++) a[i] = 0;
    return a;
  }

  dropVec(a: number[] | undefined): void {
    if (a !== undefined && this.vecFree.length < MAX_FREE_ARRAYS) this.vecFree.push(a);
  }
}
