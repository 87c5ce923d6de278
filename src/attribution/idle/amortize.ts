import type { PoolState } from '../pool-state.js';
import type { Outcome } from '../types.js';
import { sumOf, zeros } from '../vectors.js';
import type { Win } from '../window.js';
import type { IdleContext, IdleOptions, PieceFn, PoolIdle } from './idle-sink.js';

/** Numbers kept per member of an amortization window before its active energy per device (AmortWin.nums). */
const M_START_WALL = 0;
const M_START = 1;
const M_END = 2;
const M_FIRST_BYTE = 3;
const M_STATUS = 4;
const M_PROMPT = 5;
const M_COMPLETION = 6;
/** Bits: 1 late, 2 learned (weighed by learned costs). */
const M_FLAGS = 7;
const M_FIELDS = 8;
const EMPTY_F64 = new Float64Array(0);

/** NaN for absent, so that an optional count or time fits a Float64Array column. */
const orNaN = (v: number | undefined): number => (v === undefined ? Number.NaN : v);
const unNaN = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

/**
 * An amortization window: [idx × W, (idx + 1) × W) on the monotonic clock. Its members (windows that
 * ended in it and whose active energy is final) wait for it to close, a minute by default: 600 000 of
 * them at 10 000 requests/s. So they are kept not as windows (a handle of ~40 fields, its boxed times and
 * a per-device array, ~0.6 KB with its map entry) but as what their record needs, by column:
 *
 *   ids / models / tenants / apis / outcomes / slots:  one array entry per member
 *   nums:  [ startWall start end firstByte status prompt completion flags | J dev0 .. J devD-1 ] per member
 *
 * a Float64Array the garbage collector does not trace (0.64 → 0.37 KB held per waiting record,
 * docs/bench.md). The window registry names the AmortWin itself for their ids, so pending() answers.
 */
export class AmortWin {
  idle: number[] | undefined = undefined;
  /** Windows that ended in it and are not active-final yet. */
  pending = 0;
  closed = false;
  forced = false;
  count = 0;
  ids: string[] = [];
  models: (string | undefined)[] = [];
  tenants: (string | undefined)[] = [];
  apis: (string | undefined)[] = [];
  outcomes: Outcome[] = [];
  /** Per member, the registry slot that names this AmortWin for the member's id. */
  slots: number[] = [];
  /**
   * Per member, M_FIELDS numbers then its active energy per device: stride M_FIELDS + the pool's device
   * count, read when used (an AmortWin can be made at a window's end, before the pool knows its devices).
   */
  nums: Float64Array = EMPTY_F64;
  constructor(
    readonly idx: number,
    readonly endMs: number,
  ) {}
}

/** The record fields of a member, read back from its columns (see AmortWin). */
class MemberView {
  id = '';
  poolName = '';
  model: string | undefined = undefined;
  tenant: string | undefined = undefined;
  api: string | undefined = undefined;
  startWallMs = 0;
  startMs = 0;
  endMs = 0;
  firstByteMs: number | undefined = undefined;
  outcome: Outcome = 'ok';
  status: number | undefined = undefined;
  prompt: number | undefined = undefined;
  completion: number | undefined = undefined;
  learned = false;
}

/**
 * `amortize`: each amortization window's idle energy is spread over the requests that ended in it, in
 * proportion to their active energy, and reported apart in their records (idleShareJ). Whenever traffic
 * runs every window, the requests of each window add up to the energy measured in it. A window closes
 * once the pool is processed past its end and its members' active energy is final; or, past the lag
 * bound after its end, anyway (its records then say complete: false).
 */
class AmortizeSink implements PoolIdle {
  private readonly wins = new Map<number, AmortWin>();
  private readonly view = new MemberView();

  constructor(private readonly P: PoolState, private readonly ctx: IdleContext, private readonly opts: IdleOptions) {}

  cut(P: PoolState, from: number, t: number, piece: PieceFn): void {
    const W = this.opts.amortizeWindowMs;
    let a = from;
    while (a < t) {
      let idx = Math.floor(a / W);
      let end = (idx + 1) * W;
      if (end <= a) { idx++; end = (idx + 1) * W; }
      const b = Math.min(t, end);
      piece(P, a, b, idx);
      a = b;
    }
  }

  idlePiece(e: number[], total: number, bucket: number): void {
    if (bucket >= 0) {
      const am = this.get(bucket);
      if (!am.closed) {
        const idleV = (am.idle ??= zeros(this.P.deviceCount));
        for (let i = 0; i < idleV.length; i++) idleV[i] = idleV[i]! + e[i]!;
        return;
      }
    }
    this.ctx.books.addUnattributed(total);
  }

  ended(w: Win): void {
    const am = this.get(Math.floor(w.endMs / this.opts.amortizeWindowMs));
    w.amortWin = am;
    if (!am.closed) { am.pending++; w.amortPending = true; }
  }

  activeFinal(w: Win): void {
    const am = w.amortWin;
    if (am === undefined) { this.ctx.emit(w, !w.late, undefined); return; }
    if (w.amortPending) { w.amortPending = false; am.pending--; }
    if (am.closed) { this.ctx.emit(w, !w.late && !am.forced, undefined); return; }
    this.addMember(am, w);
    if (am.pending === 0 && this.P.cursor >= am.endMs) this.close(am, false);
  }

  lagFinalised(w: Win): void {
    const am = w.amortWin;
    if (am !== undefined && w.amortPending) { w.amortPending = false; am.pending--; }
  }

  check(now: number): void {
    const P = this.P;
    for (const am of this.wins.values()) {
      if (P.started && P.cursor >= am.endMs) {
        if (am.pending === 0) {
          if (!am.closed) this.close(am, false);
          else this.wins.delete(am.idx);
        }
      } else if (!am.closed && now >= am.endMs + this.opts.lagBoundMs) {
        this.close(am, true);
      }
    }
  }

  flush(): void {
    const P = this.P;
    for (const am of this.wins.values()) if (!am.closed) this.close(am, !(P.started && P.cursor >= am.endMs));
  }

  busy(): boolean {
    return this.wins.size > 0;
  }

  private get(idx: number): AmortWin {
    let a = this.wins.get(idx);
    if (a === undefined) {
      a = new AmortWin(idx, (idx + 1) * this.opts.amortizeWindowMs);
      this.wins.set(idx, a);
    }
    return a;
  }

  /** Stores w (its active energy w.activeJ final) as a member of the open amortization window am. */
  private addMember(am: AmortWin, w: Win): void {
    const P = this.P;
    const act = w.activeJ!;
    const D = P.deviceCount;
    const stride = M_FIELDS + D;
    const j = am.count++;
    if ((j + 1) * stride > am.nums.length) {
      const grown = new Float64Array(Math.max(64, 2 * am.count) * stride);
      grown.set(am.nums);
      am.nums = grown;
    }
    const nums = am.nums;
    const o = j * stride;
    nums[o + M_START_WALL] = w.startWallMs;
    nums[o + M_START] = w.startMs;
    nums[o + M_END] = w.endMs;
    nums[o + M_FIRST_BYTE] = orNaN(w.firstByteMs);
    nums[o + M_STATUS] = orNaN(w.status);
    nums[o + M_PROMPT] = orNaN(w.prompt);
    nums[o + M_COMPLETION] = orNaN(w.completion);
    nums[o + M_FLAGS] = (w.late ? 1 : 0) | (w.learned ? 2 : 0);
    for (let i = 0; i < D; i++) nums[o + M_FIELDS + i] = act[i]!;
    P.dropVec(act);
    w.activeJ = undefined;
    am.ids.push(w.id);
    am.models.push(w.model);
    am.tenants.push(w.tenant);
    am.apis.push(w.api);
    am.outcomes.push(w.outcome);
    // The window's slot names the amortization window from now on, and is released with the member.
    am.slots.push(w.slot);
    this.ctx.registry.point(w.slot, am);
    w.slot = -1;
  }

  /** Member j's record fields into the view, its active energy into a vector from the pool. */
  private readMember(am: AmortWin, j: number): number[] {
    const P = this.P;
    const nums = am.nums;
    const o = j * (M_FIELDS + P.deviceCount);
    const m = this.view;
    m.id = am.ids[j]!;
    m.poolName = P.name;
    m.model = am.models[j];
    m.tenant = am.tenants[j];
    m.api = am.apis[j];
    m.startWallMs = nums[o + M_START_WALL]!;
    m.startMs = nums[o + M_START]!;
    m.endMs = nums[o + M_END]!;
    m.firstByteMs = unNaN(nums[o + M_FIRST_BYTE]!);
    m.outcome = am.outcomes[j]!;
    m.status = unNaN(nums[o + M_STATUS]!);
    m.prompt = unNaN(nums[o + M_PROMPT]!);
    m.completion = unNaN(nums[o + M_COMPLETION]!);
    m.learned = (nums[o + M_FLAGS]! & 2) !== 0;
    const act = P.takeVec();
    for (let i = 0; i < P.deviceCount; i++) act[i] = nums[o + M_FIELDS + i]!;
    return act;
  }

  /** Σ of member j's active energy over devices, in device order (as sumOf on its vector). */
  private memberSum(am: AmortWin, j: number): number {
    const D = this.P.deviceCount;
    const nums = am.nums;
    const o = j * (M_FIELDS + D) + M_FIELDS;
    let s = 0;
    for (let i = 0; i < D; i++) s += nums[o + i]!;
    return s;
  }

  private close(am: AmortWin, forced: boolean): void {
    const P = this.P;
    const D = P.deviceCount;
    am.closed = true;
    am.forced = forced;
    const count = am.count;
    const idleV = am.idle;
    am.idle = undefined;
    let activeTotal = 0;
    for (let j = 0; j < count; j++) activeTotal += this.memberSum(am, j);
    const idleTotal = sumOf(idleV);
    const weighted = activeTotal > 0 && idleV !== undefined;
    if (!weighted) this.ctx.books.addUnattributed(idleTotal);
    for (let j = 0; j < count; j++) {
      const late = (am.nums[j * (M_FIELDS + D) + M_FLAGS]! & 1) !== 0;
      let share: number[] | undefined;
      if (weighted) {
        const f = this.memberSum(am, j) / activeTotal;
        share = P.takeVec();
        for (let i = 0; i < D; i++) share[i] = idleV[i]! * f;
      }
      const act = this.readMember(am, j);
      this.ctx.registry.release(this.view.id, am.slots[j]!);
      this.ctx.records.build(P, this.view, act, !late && !forced, share);
      P.dropVec(share);
    }
    am.count = 0;
    am.ids = [];
    am.models = [];
    am.tenants = [];
    am.apis = [];
    am.outcomes = [];
    am.slots = [];
    am.nums = EMPTY_F64;
    if (!forced) this.wins.delete(am.idx);
  }
}

export function createAmortizeSink(ctx: IdleContext, opts: IdleOptions): (P: PoolState) => PoolIdle {
  return (P) => new AmortizeSink(P, ctx, opts);
}
