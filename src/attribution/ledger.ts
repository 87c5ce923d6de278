import { toWallMs, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { Slots } from '../core/slots.js';
import type { DeviceSeries, EnergyTimeline } from '../energy/types.js';
import type { DeviceKind } from '../sensors/types.js';
import { compAdd, compAddAt, compSum, compValue, type CompSum } from './comp-sum.js';
import {
  DEFAULT_AMORTIZE_WINDOW_MS,
  DEFAULT_LAG_BOUND_MS,
  DEFAULT_MAX_HOLD_MS,
  DEFAULT_MAX_PENDING_WINDOWS,
  DEFAULT_PROMPT_TOKEN_WEIGHT,
  isCount,
  tokenDensity,
} from './policies.js';
import type {
  AttributedRequest,
  AttributionPolicy,
  IdlePolicy,
  LedgerTotals,
  Outcome,
  RequestTracker,
  WindowEnd,
  WindowHandle,
  WindowStart,
  WindowUpdate,
} from './types.js';

/**
 * The attribution ledger (DESIGN §2): request windows in, per-request energy out, conserving each pool's
 * measured energy.
 *
 * ## The rule, and how it is computed
 * Time is cut at every window start and end (and, under `amortize`, at every amortization-window
 * boundary); each piece's pool energy (Σ over the pool's devices of `energyBetween`) goes to the windows
 * active in it, split by weight (policies.ts), or is unattributed when none is. Cutting also at every
 * sample point, as DESIGN §2 words it, changes nothing: `energyBetween` is a difference of one cumulative
 * function, so it is additive over any partition, and the split only depends on the active set. The
 * ledger therefore merges the pieces between two window events into one *segment* (one set of active
 * windows) and reads each device's energy once per segment piece.
 *
 * Work is O(devices) per window event and per sample point, never O(active windows) per piece: nothing
 * lists the windows of a piece. Each pool keeps running integrals per device, compensated (comp-sum.ts):
 *   T += E / n                       (every window's time share),
 *   A += E × k / (n × K)             (per unit of density, for known-token windows; K = Σ their densities),
 *   Z += E / n  when K = 0            (known windows with all-zero densities fall back to time shares).
 * A window's energy is the difference of the integrals between its start and its end: T for `time` and
 * for windows whose tokens are unknown, d × ΔA + ΔZ for a known window of density d.
 * - `time`: the split of a piece is known at once, so T advances as energy arrives and a window keeps
 *   one copy of T from its start; nothing else is held, however long a window stays open.
 * - `tokens`: a piece's k and K are final only once all its windows have ended, so runs of pieces with one
 *   active set (*segments*, one per window start/end, not one per sample) are held and split in order
 *   when they are. Holding is bounded by `maxPendingWindows` segments and `maxHoldMs` per pool; past
 *   either bound the oldest segment is split with its still-open windows counted as unknown-token, i.e.
 *   time share. A window that ends after some of its segments were already split adds its density to
 *   the held rest with a difference array (O(1)), and keeps the integrals at that point (splitSnap).
 * A piece's energy per device is interpolated between the timeline's own points (loaded once per
 * advance with `pointTimesBetween` and `energyAt`): the timeline is linear between points, so this is
 * the timeline's value, without a search per piece.
 *
 * ## Finality
 * A record is final when the timeline covers its end and the segments up to its end are split (and,
 * under `amortize`, its amortization window has closed). If a pool's devices lag more than `lagBoundMs`
 * behind a window's end, the record is finalised with the energy that existed (complete: false); the
 * energy that arrives later for that window goes to the unattributed total, so conservation still holds.
 * A window whose start precedes what the ledger had already processed (or the timeline's retained range)
 * is clamped to it and is also complete: false. A device silent for `staleDeviceMs` (a lost GPU) no longer
 * holds its pool back: the others go on, its pieces count as 0 J not measured, the records they touch are
 * complete: false, and if it reports again the bridged energy of that stretch goes to unattributed.
 */
export interface LedgerOptions {
  readonly timeline: EnergyTimeline;
  /** Pool name → device ids whose energy goes to that upstream's requests. */
  readonly pools: Readonly<Record<string, readonly string[]>>;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly policy: AttributionPolicy;
  readonly idle: IdlePolicy;
  /** `tokens`: weight of a prompt token relative to a completion token; default DEFAULT_PROMPT_TOKEN_WEIGHT. */
  readonly promptTokenWeight?: number;
  /** Sensor lag past a window's end after which its record is finalised incomplete; default 5 s. */
  readonly lagBoundMs?: number;
  /** A device silent this long no longer holds its pool back (counted not measured); default max(120 s, 10 × lagBoundMs). */
  readonly staleDeviceMs?: number;
  /** `amortize`: the window of time whose idle energy is spread over the requests that ended in it; default 60 s. */
  readonly amortizeWindowMs?: number;
  /** `tokens`: most held segments per pool before the oldest is split anyway; default 100 000. */
  readonly maxPendingWindows?: number;
  /** `tokens`: longest a segment is held for open windows' token counts, ms; default 60 s. */
  readonly maxHoldMs?: number;
  /** Distinct models kept in totals().attributedByModelJ; the rest are summed under OTHER_MODEL_KEY. */
  readonly maxModelKeys?: number;
}

export interface LedgerStats {
  /** Window starts/ends that arrived after the ledger had processed past them (clamped). */
  readonly lateEvents: number;
  /** Held segments split before all their windows ended (bounds reached, lag, flush). */
  readonly forcedSplits: number;
  /** Records finalised with complete: false because the pool's devices lagged past lagBoundMs. */
  readonly lagFinalised: number;
  /** Device pieces the timeline could not answer (evicted or missing), counted as 0 J and not measured. */
  readonly uncoveredPieces: number;
  /** Windows opened for a pool that the ledger does not know (recorded with 0 J, complete: false). */
  readonly unknownPool: number;
  /** Updates or ends ignored (after end, invalid values, second end). */
  readonly ignoredCalls: number;
  /** Segments currently held (tokens policy) and windows not final yet. */
  readonly heldSegments: number;
  readonly pendingWindows: number;
}

export interface Ledger extends RequestTracker {
  /** Processes everything the timeline now covers; the composition root calls it from the sampler's onSample. */
  advance(): void;
  /** Called once per finished request, when its record is final. Returns an unsubscribe function. */
  onFinal(cb: (rec: AttributedRequest) => void): () => void;
  /** `{id, state: 'pending'}` for a known window whose record is not final yet; undefined otherwise. */
  pending(id: string): { id: string; state: 'pending' } | undefined;
  totals(): LedgerTotals;
  /** At shutdown: finalises everything with what exists (complete: false where the timeline does not cover). */
  flush(): void;
  stats(): LedgerStats;
}

/** Key under which attributedByModelJ sums models beyond maxModelKeys. */
export const OTHER_MODEL_KEY = '__other__';
const DEFAULT_MAX_MODEL_KEYS = 1_000;
const EMPTY: number[] = [];
/** Small plain arrays: V8 allocates typed arrays over 64 bytes off-heap, far slower for 12 devices. */
const zeroTemplates: number[][] = [];
const zeros = (n: number): number[] => {
  let t = zeroTemplates[n];
  if (t === undefined) {
    // Filled with a non-integer first so the array holds unboxed doubles; slice() then copies it in one go.
    t = [];
    for (let i = 0; i < n; i++) t.push(0.5);
    for (let i = 0; i < n; i++) t[i] = 0;
    zeroTemplates[n] = t;
  }
  return t.slice();
};

/**
 * A function returning `{ [ids[0]]: v[0], … }` as one object literal: V8 then gives every record the same
 * fixed shape, ~20× faster than adding 12 computed keys one by one (measured while writing
 * bench/ledger.bench.ts). The keys are JSON-encoded, so any device id is safe; where code generation is
 * disallowed (--disallow-code-generation-from-strings) it falls back to the loop.
 */
function makeByDevice(ids: readonly string[]): (v: readonly number[]) => Record<string, number> {
  try {
    const body = `return {${ids.map((id, i) => `${JSON.stringify(id)}: v[${i}]`).join(', ')}};`;
    return new Function('v', body) as (v: readonly number[]) => Record<string, number>;
  } catch {
    return (v) => {
      const o: Record<string, number> = {};
      ids.forEach((id, i) => { o[id] = v[i]!; });
      return o;
    };
  }
}

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
 * A run of pieces with one set of active windows. Held segments live in a ring per pool (PoolState.ring)
 * and are reused once split, with their arrays: at 10 000 requests/s there are two segments per request,
 * each held for about the longest overlapping request, long enough to outlive V8's young generation, so
 * allocating them made most of the `tokens` policy's garbage-collection cost (bench/ledger.bench.ts).
 */
class Seg {
  seq = 0;
  n = 0;
  baseU = 0; basek = 0; baseKPos = 0; baseK = 0;
  addU = 0; addk = 0; addKPos = 0; addK = 0;
  subU = 0; subk = 0; subKPos = 0; subK = 0;
  closed = false;
  closedAtMs = 0;
  /** Windows whose first segment follows this one: they copy the integrals when this one is split. */
  starters: Win[] = [];
  /** Windows whose last segment this is. */
  enders: Win[] = [];
  e: number[];
  constructor(devices: number) {
    this.e = zeros(devices);
  }
  init(seq: number, n: number, baseU: number, basek: number, baseKPos: number, baseK: number): void {
    this.seq = seq;
    this.n = n;
    this.baseU = baseU; this.basek = basek; this.baseKPos = baseKPos; this.baseK = baseK;
    this.addU = 0; this.addk = 0; this.addKPos = 0; this.addK = 0;
    this.subU = 0; this.subk = 0; this.subKPos = 0; this.subK = 0;
    this.closed = false;
    this.closedAtMs = 0;
    const e = this.e;
    for (let i = 0; i < e.length; i++) e[i] = 0;
  }
}

/**
 * A compensated integral at index j of `b` minus the same at `a` (undefined: zero); the low parts sit D
 * further on (see PoolState.cum). A module function, not a closure made per call (it allocated).
 */
function cumDiff(b: number[], a: number[] | undefined, j: number, D: number): number {
  return a === undefined ? b[j]! + b[j + D]! : b[j]! - a[j]! + (b[j + D]! - a[j + D]!);
}

/** `a.length = 0` is a runtime call in V8; popping the few entries of a hot short list is inlined. */
function clearList(a: unknown[]): void {
  while (a.length > 0) a.pop();
}

/** Most spare arrays kept per pool and kind (PoolState.snapFree): ~2 000 requests in flight, then garbage. */
const MAX_FREE_ARRAYS = 4_096;
/** Initial ring size (a power of two); it doubles when full and halves when mostly empty. */
const MIN_RING = 1024;

/** Numbers kept per member of an amortization window before its active energy per device (AmortWin.nums). */
const M_START_WALL = 0;
const M_START = 1;
const M_END = 2;
const M_FIRST_BYTE = 3;
const M_STATUS = 4;
const M_PROMPT = 5;
const M_COMPLETION = 6;
const M_LATE = 7;
const M_FIELDS = 8;
const EMPTY_F64 = new Float64Array(0);

/** NaN for absent, so that an optional count or time fits a Float64Array column. */
const orNaN = (v: number | undefined): number => (v === undefined ? Number.NaN : v);
const unNaN = (v: number): number | undefined => (Number.isNaN(v) ? undefined : v);

/**
 * An amortization window. Its members (windows that ended in it and whose active energy is final) wait
 * for it to close, a minute by default: 600 000 of them at 10 000 requests/s. So they are not kept as
 * windows (a handle of ~40 fields, its boxed times and a per-device array, ~0.6 KB with its map entry)
 * but as what their record needs, by column: the strings in arrays, the numbers and the per-device
 * active energy in one Float64Array, which the garbage collector does not trace. The `windows` map then
 * names the AmortWin itself for their ids, so pending() still answers.
 */
class AmortWin {
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
  /** Per member, the window slot that names this AmortWin for the member's id. */
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

/** The record fields of a member of an amortization window, read back from its columns (see AmortWin). */
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
}

/** What emit reads to build a record: a window, or a member of an amortization window. */
type RecordSource = Pick<
  Win,
  'id' | 'poolName' | 'model' | 'tenant' | 'api' | 'startWallMs' | 'startMs' | 'endMs' | 'firstByteMs' | 'outcome' | 'status' | 'prompt' | 'completion'
>;

/** What a window's handle calls back into (one per ledger, so handles need no closures). */
interface WinOps {
  update(w: Win, u: WindowUpdate): void;
  end(w: Win, e: WindowEnd): void;
}

/** Bits of Win.flags. */
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

/** A request window; it is also the handle returned by open() (as WindowHandle only). */
class Win implements WindowHandle {
  endMs = Number.NaN;
  /** Insertion order of its start and end events (ties in time are processed in this order). */
  startS = 0;
  endS = 0;
  model: string | undefined;
  firstByteMs: number | undefined = undefined;
  prompt: number | undefined = undefined;
  completion: number | undefined = undefined;
  status: number | undefined = undefined;
  outcome: Outcome = 'ok';
  d = 0;
  /** The pool's count of unmeasured device pieces when it became active; more at its end: incomplete. */
  uncoveredAtStart = 0;
  firstSeq = 0;
  /** Seq of the segment before its first one (0: none); `snap` holds the integrals just after it. */
  fromSeq = 0;
  /** `tokens`: the last segment split while it was still open (counted unknown-token up to there). */
  splitSeq = 0;
  splitSnap: number[] | undefined = undefined;
  givenSeq = 0;
  act: number[] | undefined = undefined;
  /** The running integrals when it became active, and when its record was given early (lag). */
  snap: number[] | undefined = undefined;
  snapGiven: number[] | undefined = undefined;
  amort: AmortWin | undefined = undefined;
  /**
   * The booleans below, one bit each (FLAG_*): as fields they took 8 bytes apiece, and windows outlive
   * the young generation, so their size is garbage-collection work (bench/ledger.bench.ts).
   */
  flags = 0;
  /** Its entry in the ledger's window slots (see `winSlots`); -1 once released. */
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
  /** Its end was applied after its first segment opened (its last segment is the pool's newest then). */
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
  /** Counted in amort.pending (registered while that window was open, not yet active-final). */
  get amortPending(): boolean {
    return (this.flags & FLAG_AMORT_PENDING) !== 0;
  }
  set amortPending(v: boolean) {
    this.flags = v ? this.flags | FLAG_AMORT_PENDING : this.flags & ~FLAG_AMORT_PENDING;
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
    private readonly ops: WinOps,
  ) {
    this.model = model;
  }
  firstByte(tMs: number): void {
    if (this.firstByteMs === undefined && Number.isFinite(tMs)) this.firstByteMs = tMs;
  }
  update(u: WindowUpdate): void {
    this.ops.update(this, u);
  }
  end(e: WindowEnd): void {
    this.ops.end(this, e);
  }
}

/**
 * Pending window events of one kind (starts or ends) in processing order, consumed from `head`. Events
 * arrive almost in order (a proxy stamps them with the clock as they happen), so a push walks back past
 * the few later ones (usually none) instead of sifting through a heap, and a pop is an index bump: with a
 * binary heap the comparisons of its pops were a tenth of the `tokens` policy's cost (bench/ledger.bench.ts).
 * An event further out of order than MAX_WALK leaves the queue unsorted and it is sorted once before the
 * next pop, so no order of calls costs more than a sort per advance.
 */
class EventQueue {
  a: Win[] = [];
  head = 0;
  sorted = true;
  get size(): number {
    return this.a.length - this.head;
  }
}
const MAX_WALK = 32;

class PoolState {
  ids: string[] = [];
  kinds: DeviceKind[] = [];
  D = 0;
  started = false;
  cursor = Number.NaN;
  /** Windows whose start (startQ) or end (endQ) is not processed yet; see EventQueue. */
  startQ = new EventQueue();
  endQ = new EventQueue();
  n = 0;
  U = 0;
  k = 0;
  kPos = 0;
  K: CompSum = compSum();
  awaiting: Win[] = [];
  cur: Seg | null = null;
  /**
   * Held segments are seqs headSeq..seq (the newest; 0: none yet), at ring[seq & mask]. A segment is
   * split (resolved) when its seq < headSeq; headSeq - 1 is the last split one (0: none).
   */
  ring: Seg[] = [];
  mask = -1;
  /** Most segments held since ringCheckSeq; the ring shrinks only if that stayed small (held counts saw-tooth). */
  ringPeak = 0;
  ringCheckSeq = 0;
  headSeq = 1;
  seq = 0;
  /** Spare window lists, swapped in while a split segment's lists are walked (listeners may re-enter). */
  spareLists: Win[][] = [];
  /**
   * Spare copies of `cum` (a window's snapshots) and per-device vectors (its energy): one or two of each
   * per request, living as long as the request, so reused rather than left to the young generation.
   */
  snapFree: number[][] = [];
  vecFree: number[][] = [];
  carryU = 0;
  carryk = 0;
  carryKPos = 0;
  carryK: CompSum = compSum();
  cum: number[] = EMPTY;
  measured: CompSum = compSum();
  /** Device pieces counted as 0 J because the timeline could not answer (a device that stopped). */
  uncovered = 0;
  /** Per device, where its unmeasured stretch began (NaN: none); recovered as unattributed if it reports again. */
  unmeasuredFrom: number[] = EMPTY;
  amort = new Map<number, AmortWin>();
  eBuf: number[] = EMPTY;
  /**
   * Per device, the cumulative-energy knots over the range being processed: the cursor, the sample
   * points inside (pointTimesBetween) and the target, with energyAt at each. Between knots the timeline
   * is linear, so a piece's energy is interpolated here with no search; `fast[i]` false means the
   * timeline could not answer and energyBetween is asked instead.
   */
  series: DeviceSeries[] = [];
  knotT: number[][] = [];
  knotC: number[][] = [];
  kp: number[] = [];
  lastE: number[] = [];
  fast: boolean[] = [];
  /** Builds energyByDeviceJ from per-device values in one fixed-shape literal (see makeByDevice). */
  byDevice: (v: readonly number[]) => Record<string, number> = () => ({});
  warned = false;
  /** Queued events above which pruneEvents runs. */
  pruneAt = 0;
  constructor(readonly name: string, readonly configIds: readonly string[]) {}
}

export function createLedger(opts: LedgerOptions): Ledger {
  const { timeline, clock, policy, idle } = opts;
  const log = opts.logger;
  const tokens = policy === 'tokens';
  const amortize = idle === 'amortize';
  const promptW = opts.promptTokenWeight ?? DEFAULT_PROMPT_TOKEN_WEIGHT;
  const lagBoundMs = opts.lagBoundMs ?? DEFAULT_LAG_BOUND_MS;
  // Far beyond any lag or restart back-off (nvidia-smi: silentAfterMs 5 s + back-off up to 60 s is not
  // a device that is gone, and keeps holding), short enough that a lost GPU does not stop the host's books.
  const staleDeviceMs = opts.staleDeviceMs ?? Math.max(120_000, 10 * lagBoundMs);
  const amortMs = opts.amortizeWindowMs ?? DEFAULT_AMORTIZE_WINDOW_MS;
  const maxPending = opts.maxPendingWindows ?? DEFAULT_MAX_PENDING_WINDOWS;
  const maxHoldMs = opts.maxHoldMs ?? DEFAULT_MAX_HOLD_MS;
  const maxModelKeys = opts.maxModelKeys ?? DEFAULT_MAX_MODEL_KEYS;
  const tickMs = Math.max(10, Math.min(1_000, lagBoundMs / 2));

  const pools = new Map<string, PoolState>();
  for (const [name, ids] of Object.entries(opts.pools)) {
    const P = new PoolState(name, [...ids]);
    P.pruneAt = maxPending;
    pools.set(name, P);
  }

  /**
   * Windows not final yet, by id: the map gives a slot, the slot the window (or, for a member of an open
   * amortization window, that AmortWin). Not a Map of the windows themselves, for the reason in
   * core/slots.ts: with the windows in the map, 146–151 MB were promoted per bench run; with slot
   * numbers, 75 MB (docs/attribution.md#cost).
   */
  const windows = new Map<string, number>();
  const winSlots = new Slots<Win | AmortWin>();
  /**
   * Replaced, never mutated, on (un)subscribe: emit walks it by index, where iterating a Set allocated an
   * iterator per record. A listener (un)subscribed during a call takes effect from the next record.
   */
  let listeners: ((rec: AttributedRequest) => void)[] = [];
  let inFlightCount = 0;
  /** Ids opened while a window with that id was pending (then emit must check which window the id names). */
  let duplicateIds = 0;
  let evSeq = 0;
  const lagFifo: Win[] = [];
  let lagHead = 0;
  let cancelTimer: (() => void) | undefined;
  let advancing = false;

  const attributed = compSum();
  const unattributed = compSum();
  /** Per model, a mutable box: a Map of numbers would allocate a new heap number on every record. */
  const byModel = new Map<string, { j: number }>();
  const counts = { lateEvents: 0, forcedSplits: 0, lagFinalised: 0, uncoveredPieces: 0, unknownPool: 0, ignoredCalls: 0 };

  // ---- pooled arrays (see PoolState.snapFree) ----
  const takeSnap = (P: PoolState): number[] => {
    const a = P.snapFree.pop();
    const c = P.cum;
    if (a === undefined) return c.slice();
    for (let i = 0; i < c.length; i++) a[i] = c[i]!;
    return a;
  };
  const dropSnap = (P: PoolState, a: number[] | undefined): void => {
    if (a !== undefined && P.snapFree.length < MAX_FREE_ARRAYS) P.snapFree.push(a);
  };
  const takeVec = (P: PoolState): number[] => {
    const a = P.vecFree.pop();
    if (a === undefined) return zeros(P.D);
    for (let i = 0; i < a.length; i++) a[i] = 0;
    return a;
  };
  const dropVec = (P: PoolState, a: number[] | undefined): void => {
    if (a !== undefined && P.vecFree.length < MAX_FREE_ARRAYS) P.vecFree.push(a);
  };

  // ---- event queues ----
  // A window's start and end are events ordered by time, then by insertion order (evSeq), so a window's
  // start precedes its end. The windows themselves are the queue entries, one queue for starts (startMs,
  // startS) and one for ends (endMs, endS), merged in processTo: two event objects per request were
  // garbage that outlived the young generation (events wait for the next sample, ~100 ms).
  const startLess = (a: Win, b: Win): boolean => a.startMs < b.startMs || (a.startMs === b.startMs && a.startS < b.startS);
  const endLess = (a: Win, b: Win): boolean => a.endMs < b.endMs || (a.endMs === b.endMs && a.endS < b.endS);
  const startCmp = (a: Win, b: Win): number => (startLess(a, b) ? -1 : startLess(b, a) ? 1 : 0);
  const endCmp = (a: Win, b: Win): number => (endLess(a, b) ? -1 : endLess(b, a) ? 1 : 0);
  /** Inserts w in order, walking back at most MAX_WALK places (see EventQueue). */
  const qPush = (q: EventQueue, w: Win, less: (a: Win, b: Win) => boolean): void => {
    const a = q.a;
    let i = a.length;
    a.push(w);
    if (!q.sorted) return;
    const stop = Math.max(q.head, i - MAX_WALK);
    while (i > q.head && less(w, a[i - 1]!)) {
      if (i === stop) { q.sorted = false; break; }
      a[i] = a[i - 1]!;
      i--;
    }
    a[i] = w;
  };
  /** The next event, or undefined; sorts the rest first if a push left it out of order. */
  const qPeek = (q: EventQueue, cmp: (a: Win, b: Win) => number): Win | undefined => {
    if (!q.sorted) {
      if (q.head > 0) { q.a.splice(0, q.head); q.head = 0; }
      q.a.sort(cmp);
      q.sorted = true;
    }
    return q.head < q.a.length ? q.a[q.head] : undefined;
  };
  /** Drops the consumed entries (they would keep their windows reachable). */
  const qCompact = (q: EventQueue): void => {
    if (q.head === 0) return;
    if (q.head === q.a.length) q.a.length = 0;
    else q.a.splice(0, q.head);
    q.head = 0;
  };
  const startPush = (q: EventQueue, w: Win): void => qPush(q, w, startLess);
  const endPush = (q: EventQueue, w: Win): void => qPush(q, w, endLess);

  // ---- pools ----
  const startPool = (P: PoolState): boolean => {
    const ids: string[] = [];
    const kinds: DeviceKind[] = [];
    for (const id of P.configIds) {
      const s = timeline.series(id);
      if (s === undefined) continue;
      ids.push(id);
      kinds.push(s.device.kind);
    }
    if (ids.length !== P.configIds.length && !P.warned) {
      P.warned = true;
      log.warn('pool names devices the timeline does not have; they are left out', {
        pool: P.name, missing: P.configIds.filter((id) => !ids.includes(id)),
      });
    }
    if (ids.length === 0) return false;
    let from = Number.NEGATIVE_INFINITY;
    for (const id of ids) {
      const r = timeline.series(id)?.retainedFromMs();
      if (r === undefined) return false;
      if (r > from) from = r;
    }
    if (timeline.coveredUntilMs(ids) === undefined) return false;
    P.ids = ids;
    P.kinds = kinds;
    P.D = ids.length;
    P.cum = zeros((tokens ? 6 : 2) * P.D);
    P.eBuf = zeros(P.D);
    P.byDevice = makeByDevice(ids);
    P.series = ids.map((id) => timeline.series(id)!);
    P.knotT = ids.map(() => []);
    P.knotC = ids.map(() => []);
    P.kp = zeros(ids.length);
    P.lastE = zeros(ids.length);
    P.fast = ids.map(() => false);
    P.unmeasuredFrom = ids.map(() => Number.NaN);
    P.cursor = from;
    P.started = true;
    return true;
  };

  const closeCur = (P: PoolState): void => {
    if (P.cur !== null) {
      P.cur.closed = true;
      P.cur.closedAtMs = clock.nowMs();
      P.cur = null;
    }
  };

  const openSeg = (P: PoolState): Seg => {
    if (P.seq - P.headSeq + 1 >= P.ring.length) growRing(P);
    const prevSeq = P.seq;
    const seq = ++P.seq;
    if (seq - P.headSeq + 1 > P.ringPeak) P.ringPeak = seq - P.headSeq + 1;
    const seg = P.ring[seq & P.mask]!;
    seg.init(seq, P.n, P.U, P.k, P.kPos, compValue(P.K));
    for (const w of P.awaiting) {
      if (!w.inActive) continue;
      w.hasFirst = true;
      w.firstSeq = seq;
      w.fromSeq = prevSeq;
      // All split up to prev (or nothing yet): the integrals are those just after prev.
      if (prevSeq < P.headSeq) w.snap = takeSnap(P);
      else P.ring[prevSeq & P.mask]!.starters.push(w);
    }
    clearList(P.awaiting);
    P.cur = seg;
    return seg;
  };

  /** Re-lays the held segments (headSeq..seq) in a ring of `size` slots; the other slots get spare segments. */
  const relayRing = (P: PoolState, size: number): void => {
    const old = P.ring;
    const oldMask = P.mask;
    const oldUsed = new Array<boolean>(old.length).fill(false);
    const ring = new Array<Seg>(size);
    const used = new Array<boolean>(size).fill(false);
    const mask = size - 1;
    for (let q = P.headSeq; q <= P.seq; q++) {
      oldUsed[q & oldMask] = true;
      ring[q & mask] = old[q & oldMask]!;
      used[q & mask] = true;
    }
    const spare: Seg[] = [];
    for (let i = 0; i < old.length; i++) if (!oldUsed[i]) spare.push(old[i]!);
    for (let i = 0; i < size; i++) if (!used[i]) ring[i] = spare.pop() ?? new Seg(P.D);
    P.ring = ring;
    P.mask = mask;
  };
  const growRing = (P: PoolState): void => relayRing(P, Math.max(MIN_RING, 2 * P.ring.length));

  const getAmort = (P: PoolState, idx: number): AmortWin => {
    let a = P.amort.get(idx);
    if (a === undefined) {
      a = new AmortWin(idx, (idx + 1) * amortMs);
      P.amort.set(idx, a);
    }
    return a;
  };

  /** One piece [a, b] inside one amortization window (idx; -1 when not amortizing). */
  /** Loads each device's knots over [cursor, target] (see PoolState.knotT). */
  const loadKnots = (P: PoolState, target: number): void => {
    for (let i = 0; i < P.D; i++) {
      const s = P.series[i]!;
      const T = P.knotT[i]!;
      const C = P.knotC[i]!;
      T.length = 0;
      C.length = 0;
      P.kp[i] = 0;
      P.fast[i] = false;
      const c0 = s.energyAt(P.cursor);
      const c1 = s.energyAt(target);
      if (c0 === undefined || c1 === undefined || !(target > P.cursor)) continue;
      T.push(P.cursor);
      C.push(c0);
      let ok = true;
      for (const t of s.pointTimesBetween(P.cursor, target)) {
        const c = s.energyAt(t);
        if (c === undefined) { ok = false; break; }
        T.push(t);
        C.push(c);
      }
      if (!ok) continue;
      T.push(target);
      C.push(c1);
      P.lastE[i] = c0;
      P.fast[i] = true;
    }
  };

  const piece = (P: PoolState, a: number, b: number, idx: number): void => {
    const e = P.eBuf;
    const fast = P.fast;
    const lastE = P.lastE;
    const knotT = P.knotT;
    const knotC = P.knotC;
    const kp = P.kp;
    // `tokens` with windows active: the piece goes into the current segment, summed in the same loop.
    const se = tokens && P.n > 0 ? (P.cur ?? openSeg(P)).e : undefined;
    let total = 0;
    for (let i = 0; i < P.D; i++) {
      // A plain number (NaN when the timeline cannot answer): `number | undefined` made V8 box every
      // device's value of every piece as a heap number (the largest garbage source of `tokens` but records).
      let v: number;
      if (fast[i]) {
        // Cumulative energy at b, interpolated between the loaded knots (b never decreases); inlined by
        // hand, as a function V8 did not always inline it and then boxed its result.
        const T = knotT[i]!;
        const C = knotC[i]!;
        let j = kp[i]!;
        while (j + 2 < T.length && T[j + 1]! <= b) j++;
        kp[i] = j;
        const t1 = T[j + 1]!;
        let cb: number;
        if (b >= t1) cb = C[j + 1]!;
        else {
          const t0 = T[j]!;
          cb = C[j]! + ((C[j + 1]! - C[j]!) * (b - t0)) / (t1 - t0);
        }
        v = cb - lastE[i]!;
        lastE[i] = cb;
      } else {
        v = timeline.energyBetween(P.ids[i]!, a, b) ?? Number.NaN;
      }
      if (!Number.isFinite(v)) {
        counts.uncoveredPieces++;
        P.uncovered++;
        if (Number.isNaN(P.unmeasuredFrom[i]!)) P.unmeasuredFrom[i] = a;
        log.rateLimited('warn', 'uncovered', 'timeline did not cover a piece; counted as 0 J (not measured)', { pool: P.name, device: P.ids[i] });
        v = 0;
      }
      e[i] = v;
      if (se !== undefined) se[i] = se[i]! + v;
      total += v;
    }
    compAdd(P.measured, total);
    if (se !== undefined) return;
    if (P.n > 0 && !tokens) {
      // `time`: the split is known now; no segment is kept (see applyStart/applyEnd).
      const n = P.n;
      for (let i = 0; i < P.D; i++) if (e[i] !== 0) compAddAt(P.cum, i, P.D, e[i]! / n);
      return;
    }
    if (idx >= 0) {
      const am = getAmort(P, idx);
      if (!am.closed) {
        const idleV = (am.idle ??= zeros(P.D));
        for (let i = 0; i < P.D; i++) idleV[i] = idleV[i]! + e[i]!;
        return;
      }
    }
    compAdd(unattributed, total);
  };

  const accumulate = (P: PoolState, t: number): void => {
    if (!(t > P.cursor)) return;
    if (!amortize) {
      piece(P, P.cursor, t, -1);
    } else {
      let a = P.cursor;
      while (a < t) {
        let idx = Math.floor(a / amortMs);
        let end = (idx + 1) * amortMs;
        if (end <= a) { idx++; end = (idx + 1) * amortMs; }
        const b = Math.min(t, end);
        piece(P, a, b, idx);
        a = b;
      }
    }
    P.cursor = t;
  };

  /** out[i] = integral T of device i at `b` minus at `a` (a undefined: zero). */
  const diffT = (P: PoolState, b: number[], a: number[] | undefined, out: number[]): void => {
    const D = P.D;
    for (let i = 0; i < D; i++) out[i] = a === undefined ? b[i]! + b[i + D]! : b[i]! - a[i]! + (b[i + D]! - a[i + D]!);
  };

  const applyStart = (P: PoolState, w: Win): void => {
    w.uncoveredAtStart = P.uncovered;
    if (!tokens) {
      w.startDone = true;
      w.inActive = true;
      P.n++;
      w.snap = takeSnap(P);
      return;
    }
    closeCur(P);
    w.startDone = true;
    w.inActive = true;
    P.n++;
    if (!w.ended) P.U++;
    else if (w.known) {
      P.k++;
      if (w.d > 0) { P.kPos++; compAdd(P.K, w.d); }
    }
    P.awaiting.push(w);
  };

  const applyEnd = (P: PoolState, w: Win): void => {
    // A device of the pool went unmeasured while it was active: its energy is partial.
    if (P.uncovered !== w.uncoveredAtStart) w.late = true;
    if (!tokens) {
      w.endDone = true;
      w.inActive = false;
      P.n--;
      const act = takeVec(P);
      diffT(P, P.cum, w.emitted ? (w.snapGiven ?? w.snap) : w.snap, act);
      dropSnap(P, w.snap);
      dropSnap(P, w.snapGiven);
      w.snap = undefined;
      w.snapGiven = undefined;
      finishActive(P, w, act);
      return;
    }
    closeCur(P);
    w.endDone = true;
    w.inActive = false;
    P.n--;
    if (w.known) {
      P.k--;
      if (w.d > 0) { P.kPos--; compAdd(P.K, -w.d); }
      // Exactly zero when no positive density is left, so float residue never weighs anything.
      if (P.kPos === 0) { P.K.hi = 0; P.K.lo = 0; }
    }
    if (w.hasFirst) {
      // Its last segment is the newest one.
      w.hasLast = true;
      if (P.seq < P.headSeq) onActiveFinal(w);
      else P.ring[P.seq & P.mask]!.enders.push(w);
    } else {
      onActiveFinal(w); // active in no piece: 0 J (zero-length, or nothing measured while it ran)
    }
  };

  const segAt = (P: PoolState, seq: number): Seg => P.ring[seq & P.mask]!;

  const resolveSeg = (P: PoolState, s: Seg): void => {
    const D = P.D;
    const cum = P.cum;
    const n = s.n;
    const e = s.e;
    if (!tokens) {
      for (let i = 0; i < D; i++) if (e[i] !== 0) compAddAt(cum, i, D, e[i]! / n);
    } else {
      const k = s.basek + P.carryk + s.addk;
      const kPos = s.baseKPos + P.carryKPos + s.addKPos;
      const K = s.baseK + compValue(P.carryK) + s.addK;
      const weighted = kPos > 0 && K > 0;
      const perDensity = weighted ? k / (n * K) : 0;
      // Only the windows active in a segment read its increments (a window's energy is a difference of
      // the integrals over its own segments): T only unknown-token ones, counting those still open at a
      // forced split, A and Z only known ones. An increment no one reads is skipped: with every window's
      // tokens known, half the work. Known windows' energies are unchanged to the bit; an unknown one's T
      // is a different running sum, so its difference may differ in the last bit (rel. ~1e-16).
      const open = s.baseU + P.carryU + s.addU;
      const needT = open > 0 || k < n;
      const knownOff = k === 0 ? -1 : weighted ? 2 * D : 4 * D;
      for (let i = 0; i < D; i++) {
        const ei = e[i]!;
        if (ei === 0) continue;
        if (needT) compAddAt(cum, i, D, ei / n);
        if (knownOff >= 0) compAddAt(cum, knownOff + i, D, weighted ? ei * perDensity : ei / n);
      }
      P.carryU += s.addU - s.subU;
      P.carryk += s.addk - s.subk;
      P.carryKPos += s.addKPos - s.subKPos;
      compAdd(P.carryK, s.addK);
      compAdd(P.carryK, -s.subK);
      if (P.carryKPos === 0) { P.carryK.hi = 0; P.carryK.lo = 0; }
    }
    P.headSeq = s.seq + 1;
    const starters = s.starters;
    if (starters.length > 0) {
      for (const w of starters) w.snap = takeSnap(P);
      clearList(starters);
    }
    const enders = s.enders;
    if (enders.length > 0) {
      // Detached before the walk: a listener may re-enter and reuse this slot.
      s.enders = P.spareLists.pop() ?? [];
      for (const w of enders) onActiveFinal(w);
      clearList(enders);
      P.spareLists.push(enders);
    }
  };

  /** Splits held segments in order while they can be (forceUntilSeq: split up to it regardless). */
  const resolveHead = (P: PoolState, forceUntilSeq = 0): void => {
    const now = clock.nowMs();
    while (P.headSeq <= P.seq) {
      const s = segAt(P, P.headSeq);
      if (!s.closed) break;
      if (tokens && s.baseU + P.carryU + s.addU > 0) {
        const forced = s.seq <= forceUntilSeq || P.seq - P.headSeq + 1 > maxPending || now - s.closedAtMs > maxHoldMs;
        if (!forced) break;
        counts.forcedSplits++;
      }
      resolveSeg(P, s);
    }
    // Give back a ring left large by a burst (held segments are bounded by maxPendingWindows): checked
    // once per ring's worth of segments, against the peak over that stretch.
    if (P.seq >= P.ringCheckSeq && P.ring.length > 0) {
      if (P.ring.length > MIN_RING && P.ringPeak * 8 < P.ring.length) relayRing(P, P.ring.length / 2);
      P.ringPeak = P.seq - P.headSeq + 1;
      P.ringCheckSeq = P.seq + P.ring.length;
    }
  };

  /**
   * `tokens`: window w's energy per device from the integrals `cf` (just after segment fromSeq) to the
   * current ones (just after the newest split segment, its last one).
   */
  const winEnergy = (P: PoolState, w: Win, cf: number[] | undefined, fromSeq: number, out: number[]): void => {
    const D = P.D;
    const ct = P.cum;
    const cs = w.splitSnap;
    const useSplit = cs !== undefined && w.splitSeq > fromSeq;
    const d = w.d;
    if (!w.known) for (let i = 0; i < D; i++) out[i] = cumDiff(ct, cf, i, D);
    else if (useSplit) {
      for (let i = 0; i < D; i++) out[i] = cumDiff(cs, cf, i, D) + d * cumDiff(ct, cs, 2 * D + i, D) + cumDiff(ct, cs, 4 * D + i, D);
    } else {
      for (let i = 0; i < D; i++) out[i] = d * cumDiff(ct, cf, 2 * D + i, D) + cumDiff(ct, cf, 4 * D + i, D);
    }
  };

  const sumOf = (a: number[] | undefined): number => {
    let s = 0;
    if (a !== undefined) for (let i = 0; i < a.length; i++) s += a[i]!;
    return s;
  };

  const onActiveFinal = (w: Win): void => {
    const P = w.pool!;
    const act = takeVec(P);
    if (w.hasFirst && w.hasLast) {
      const early = w.emitted && w.snapGiven !== undefined;
      winEnergy(P, w, early ? w.snapGiven : w.snap, early ? w.givenSeq : w.fromSeq, act);
    }
    dropSnap(P, w.snap);
    dropSnap(P, w.snapGiven);
    dropSnap(P, w.splitSnap);
    w.snap = undefined;
    w.snapGiven = undefined;
    w.splitSnap = undefined;
    finishActive(P, w, act);
  };

  /** A window's active energy is known: give it its record now, or wait for its amortization window. */
  const finishActive = (P: PoolState, w: Win, act: number[]): void => {
    if (w.emitted) {
      // Finalised early (sensor lag): what it would have got since goes to the unattributed total.
      compAdd(unattributed, sumOf(act));
      dropVec(P, act);
      return;
    }
    w.act = act;
    const am = w.amort;
    if (am !== undefined) {
      if (w.amortPending) { w.amortPending = false; am.pending--; }
      if (!am.closed) {
        addMember(P, am, w, act);
        if (am.pending === 0 && P.cursor >= am.endMs) closeAmort(P, am, false);
        return;
      }
      emit(w, !w.late && !am.forced, undefined);
      return;
    }
    emit(w, !w.late, undefined);
  };

  /** Stores w (its active energy `act` final) as a member of the open amortization window am. */
  const addMember = (P: PoolState, am: AmortWin, w: Win, act: number[]): void => {
    const D = P.D;
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
    nums[o + M_LATE] = w.late ? 1 : 0;
    for (let i = 0; i < D; i++) nums[o + M_FIELDS + i] = act[i]!;
    dropVec(P, act);
    w.act = undefined;
    am.ids.push(w.id);
    am.models.push(w.model);
    am.tenants.push(w.tenant);
    am.apis.push(w.api);
    am.outcomes.push(w.outcome);
    // The window's slot names the amortization window from now on, and is released with the member.
    am.slots.push(w.slot);
    winSlots.set(w.slot, am);
    w.slot = -1;
  };

  const memberView = new MemberView();
  /** Member j's record fields into memberView, its active energy into a vector from the pool. */
  const readMember = (P: PoolState, am: AmortWin, j: number): number[] => {
    const nums = am.nums;
    const o = j * (M_FIELDS + P.D);
    const m = memberView;
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
    const act = takeVec(P);
    for (let i = 0; i < P.D; i++) act[i] = nums[o + M_FIELDS + i]!;
    return act;
  };
  /** Σ of member j's active energy over devices, in device order (as sumOf on its vector). */
  const memberSum = (P: PoolState, am: AmortWin, j: number): number => {
    const nums = am.nums;
    const o = j * (M_FIELDS + P.D) + M_FIELDS;
    let s = 0;
    for (let i = 0; i < P.D; i++) s += nums[o + i]!;
    return s;
  };

  const closeAmort = (P: PoolState, am: AmortWin, forced: boolean): void => {
    am.closed = true;
    am.forced = forced;
    const count = am.count;
    const idleV = am.idle;
    am.idle = undefined;
    let activeTotal = 0;
    for (let j = 0; j < count; j++) activeTotal += memberSum(P, am, j);
    const idleTotal = sumOf(idleV);
    const weighted = activeTotal > 0 && idleV !== undefined;
    if (!weighted) compAdd(unattributed, idleTotal);
    for (let j = 0; j < count; j++) {
      const late = am.nums[j * (M_FIELDS + P.D) + M_LATE] === 1;
      let share: number[] | undefined;
      if (weighted) {
        const f = memberSum(P, am, j) / activeTotal;
        share = takeVec(P);
        for (let i = 0; i < P.D; i++) share[i] = idleV[i]! * f;
      }
      const act = readMember(P, am, j);
      const id = memberView.id;
      const slot = am.slots[j]!;
      // Without duplicate ids the slot under this id is the member's own: one lookup, not get() then delete().
      if (duplicateIds === 0 || windows.get(id) === slot) windows.delete(id);
      winSlots.remove(slot);
      send(P, memberView, act, !late && !forced, share);
      dropVec(P, share);
    }
    am.count = 0;
    am.ids = [];
    am.models = [];
    am.tenants = [];
    am.apis = [];
    am.outcomes = [];
    am.slots = [];
    am.nums = EMPTY_F64;
    if (!forced) P.amort.delete(am.idx);
  };

  const checkAmort = (P: PoolState, now: number): void => {
    if (!amortize) return;
    for (const am of P.amort.values()) {
      if (P.started && P.cursor >= am.endMs) {
        if (am.pending === 0) {
          if (!am.closed) closeAmort(P, am, false);
          else P.amort.delete(am.idx);
        }
      } else if (!am.closed && now >= am.endMs + lagBoundMs) {
        closeAmort(P, am, true);
      }
    }
  };

  const emit = (w: Win, complete: boolean, idleShare: number[] | undefined): void => {
    w.emitted = true;
    const act = w.act;
    w.act = undefined;
    // Without duplicate ids the slot under w.id is w's own: one lookup instead of get() then delete().
    if (w.slot >= 0) {
      if (duplicateIds === 0 || windows.get(w.id) === w.slot) windows.delete(w.id);
      winSlots.remove(w.slot);
      w.slot = -1;
    }
    send(w.pool, w, act, complete, idleShare);
  };

  /** Builds the record of w (active energy `act`, given back to the pool) and gives it to the listeners. */
  const send = (
    P: PoolState | undefined,
    w: RecordSource,
    actIn: number[] | undefined,
    complete: boolean,
    idleShare: number[] | undefined,
  ): void => {
    let gpuJ = 0;
    let cpuJ = 0;
    let dramJ = 0;
    let totalJ = 0;
    let idleJ = 0;
    let byDevice: Record<string, number> = {};
    if (P !== undefined) {
      const act = actIn ?? takeVec(P);
      for (let i = 0; i < P.D; i++) {
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
      dropVec(P, act);
    }
    const energyJ = { gpu: gpuJ, cpu: cpuJ, dram: dramJ, total: totalJ };
    compAdd(attributed, totalJ);
    const modelKey = w.model ?? '';
    const box = byModel.get(modelKey);
    if (box !== undefined) box.j += totalJ;
    else if (byModel.size < maxModelKeys) byModel.set(modelKey, { j: totalJ });
    else {
      const other = byModel.get(OTHER_MODEL_KEY);
      if (other !== undefined) other.j += totalJ;
      else byModel.set(OTHER_MODEL_KEY, { j: 0 + totalJ });
    }
    const rec: AttributedRequest = {
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
      energyJ,
      energyByDeviceJ: byDevice,
      idleShareJ: idleJ,
      attribution: policy,
      complete,
    };
    const ls = listeners;
    for (let i = 0; i < ls.length; i++) {
      const cb = ls[i]!;
      try {
        cb(rec);
      } catch (err) {
        log.rateLimited('error', 'listener', `onFinal listener threw: ${errorMessage(err)}`);
      }
    }
  };

  /** The pool's devices lag past the bound: finalise with what exists; the rest goes unattributed later. */
  const lagFinalise = (w: Win): void => {
    const P = w.pool!;
    counts.lagFinalised++;
    const act = takeVec(P);
    if (!tokens) {
      if (w.inActive) {
        diffT(P, P.cum, w.snap, act);
        w.snapGiven = takeSnap(P);
      }
    } else if (w.inActive && w.hasFirst) {
      closeCur(P);
      resolveHead(P, P.seq);
      winEnergy(P, w, w.snap, w.fromSeq, act);
      w.snapGiven = takeSnap(P);
      w.givenSeq = P.seq;
    }
    w.act = act;
    const am = w.amort;
    if (am !== undefined && w.amortPending) { w.amortPending = false; am.pending--; }
    log.rateLimited('warn', 'lag', 'sensor lag past the bound: request finalised with the energy that existed', {
      pool: P.name, lagBoundMs,
    });
    emit(w, false, undefined);
  };

  const checkLag = (now: number): void => {
    while (lagHead < lagFifo.length) {
      const w = lagFifo[lagHead]!;
      if (w.emitted || w.endDone) { lagHead++; continue; }
      if (now < w.endMs + lagBoundMs) break;
      lagHead++;
      lagFinalise(w);
    }
    if (lagHead > 1024 && lagHead * 2 > lagFifo.length) {
      lagFifo.splice(0, lagHead);
      lagHead = 0;
    }
  };

  /**
   * Drops the events of windows already finalised (by the lag bound) whose start was never processed: a
   * pool whose devices stopped must not grow without bound. Runs only when the queues are large.
   */
  const pruneEvents = (P: PoolState): void => {
    const keep = (w: Win): boolean => !(w.emitted && !w.startDone);
    const prune = (q: EventQueue, cmp: (a: Win, b: Win) => number): void => {
      q.a = q.a.slice(q.head).filter(keep).sort(cmp);
      q.head = 0;
      q.sorted = true;
    };
    prune(P.startQ, startCmp);
    prune(P.endQ, endCmp);
    P.pruneAt = Math.max(maxPending, 2 * (P.startQ.size + P.endQ.size));
  };

  const advancePool = (P: PoolState): void => {
    if (P.startQ.size + P.endQ.size > P.pruneAt) pruneEvents(P);
    if (!P.started && !startPool(P)) return;
    recoverUnmeasured(P);
    const covered = timeline.coveredUntilMs(P.ids);
    if (covered === undefined) return;
    processTo(P, covered);
    // A device that stopped reporting (a lost GPU, a sensor failing every read) must not stall the pool:
    // once it is silent for staleDeviceMs, the others go on and its pieces count as not measured (0 J,
    // records overlapping them complete: false). A device that only lags (a restarting nvidia-smi child,
    // a slow read) still holds the pool back, and its late energy is attributed as before.
    const staleBefore = clock.nowMs() - staleDeviceMs;
    if (covered >= staleBefore) return;
    let live = Number.POSITIVE_INFINITY;
    for (const s of P.series) {
      const c = s.coveredUntilMs();
      if (c !== undefined && c >= staleBefore && c < live) live = c;
    }
    if (live !== Number.POSITIVE_INFINITY && live > P.cursor) processTo(P, live);
  };

  /**
   * A device that stopped and reports again: the timeline now bridges the stretch the ledger processed
   * without it. That energy was measured after its requests were split, so it goes to the unattributed
   * total (as the energy of a lag-finalised record does), and conservation holds against the timeline.
   */
  const recoverUnmeasured = (P: PoolState): void => {
    for (let i = 0; i < P.D; i++) {
      const from = P.unmeasuredFrom[i]!;
      if (Number.isNaN(from)) continue;
      const c = P.series[i]!.coveredUntilMs();
      if (c === undefined || c < P.cursor) continue;
      P.unmeasuredFrom[i] = Number.NaN;
      const v = timeline.energyBetween(P.ids[i]!, from, P.cursor);
      if (v === undefined || !Number.isFinite(v)) continue; // evicted meanwhile: unknown, stays unmeasured
      compAdd(P.measured, v);
      compAdd(unattributed, v);
    }
  };

  const processTo = (P: PoolState, target: number): void => {
    loadKnots(P, target);
    const sq = P.startQ;
    const eq = P.endQ;
    for (;;) {
      // Peeked anew each turn: a listener called from applyEnd may open or end windows (re-entrant push).
      let s0 = qPeek(sq, startCmp);
      let e0 = qPeek(eq, endCmp);
      if (s0 !== undefined && !(s0.startMs <= target)) s0 = undefined;
      if (e0 !== undefined && !(e0.endMs <= target)) e0 = undefined;
      let end: boolean;
      if (s0 === undefined) {
        if (e0 === undefined) break;
        end = true;
      } else {
        end = e0 !== undefined && (e0.endMs < s0.startMs || (e0.endMs === s0.startMs && e0.endS < s0.startS));
      }
      const w = end ? e0! : s0!;
      if (end) eq.head++;
      else sq.head++;
      let t = end ? w.endMs : w.startMs;
      if (t < P.cursor) {
        t = P.cursor;
        counts.lateEvents++;
        if (!end) w.late = true;
        log.rateLimited('warn', 'late', 'window event older than the processed range; clamped', { pool: P.name });
      }
      accumulate(P, t);
      if (end) applyEnd(P, w);
      else applyStart(P, w);
    }
    qCompact(sq);
    qCompact(eq);
    accumulate(P, target);
    resolveHead(P);
  };

  const needsTimer = (): boolean => {
    if (lagHead < lagFifo.length) return true;
    for (const P of pools.values()) if (P.amort.size > 0 || P.headSeq <= P.seq) return true;
    return false;
  };

  const armTimer = (): void => {
    if (cancelTimer !== undefined) return;
    cancelTimer = clock.setTimer(onTimer, tickMs);
  };

  const onTimer = (): void => {
    cancelTimer = undefined;
    advance();
    if (needsTimer()) armTimer();
  };

  const advance = (): void => {
    if (advancing) return;
    advancing = true;
    try {
      for (const P of pools.values()) advancePool(P);
      const now = clock.nowMs();
      checkLag(now);
      for (const P of pools.values()) checkAmort(P, now);
    } catch (err) {
      log.rateLimited('error', 'advance', `ledger advance failed: ${errorMessage(err)}`);
    } finally {
      advancing = false;
    }
  };

  const endWindow = (w: Win, end: WindowEnd): void => {
    if (w.ended) { counts.ignoredCalls++; return; }
    let endMs = end.endMs;
    if (!Number.isFinite(endMs)) { counts.ignoredCalls++; endMs = clock.nowMs(); }
    if (endMs < w.startMs) endMs = w.startMs;
    w.ended = true;
    w.endMs = endMs;
    w.status = isCount(end.status) ? end.status : undefined;
    w.outcome = end.outcome;
    inFlightCount--;
    const P = w.pool;
    if (P === undefined) {
      emit(w, false, undefined);
      return;
    }
    const dens = tokens ? tokenDensity(w.prompt, w.completion, endMs - w.startMs, promptW) : undefined;
    w.known = dens !== undefined;
    w.d = dens ?? 0;
    if (w.inActive) {
      P.U--;
      if (w.known) {
        P.k++;
        if (w.d > 0) { P.kPos++; compAdd(P.K, w.d); }
      }
      if (tokens && w.hasFirst) {
        // Its segments split while it was open counted it as unknown-token: remember where they stop.
        if (P.headSeq - 1 >= w.firstSeq) {
          w.splitSeq = P.headSeq - 1;
          w.splitSnap = takeSnap(P); // the integrals just after the last split segment
        }
        const a = Math.max(w.firstSeq, P.headSeq);
        const b = P.seq;
        if (a <= b) {
          const sa = segAt(P, a);
          const sb = segAt(P, b);
          sa.addU -= 1; sb.subU -= 1;
          if (w.known) {
            sa.addk += 1; sb.subk += 1;
            if (w.d > 0) { sa.addKPos += 1; sb.subKPos += 1; sa.addK += w.d; sb.subK += w.d; }
          }
        }
      }
    }
    if (amortize) {
      const am = getAmort(P, Math.floor(endMs / amortMs));
      w.amort = am;
      if (!am.closed) { am.pending++; w.amortPending = true; }
    }
    w.endS = ++evSeq;
    endPush(P.endQ, w);
    lagFifo.push(w);
    armTimer();
    if (tokens) resolveHead(P);
  };

  const ops: WinOps = {
    update(w, u) {
      if (w.ended) { counts.ignoredCalls++; return; }
      if (typeof u.model === 'string') w.model = u.model;
      if (isCount(u.promptTokens)) w.prompt = u.promptTokens;
      if (isCount(u.completionTokens)) w.completion = u.completionTokens;
    },
    end(w, e) {
      try {
        endWindow(w, e);
      } catch (err) {
        log.rateLimited('error', 'end', `ledger end failed: ${errorMessage(err)}`);
      }
    },
  };

  const open = (start: WindowStart): WindowHandle => {
    const startMs = Number.isFinite(start.startMs) ? start.startMs : clock.nowMs();
    const P = pools.get(start.pool);
    const w = new Win(start.id, start.pool, P, startMs, toWallMs(clock, startMs), start.model, start.tenant, start.api, ops);
    if (P === undefined) {
      counts.unknownPool++;
      log.rateLimited('warn', 'unknown-pool', 'request for an unknown pool: recorded with 0 J', { pool: start.pool });
    } else {
      w.startS = ++evSeq;
      startPush(P.startQ, w);
    }
    // One hash lookup, not has() then set(): the size tells whether the id was there (a tenth of the
    // ledger's cost at 10 000 requests/s went to these lookups).
    w.slot = winSlots.add(w);
    const before = windows.size;
    windows.set(start.id, w.slot);
    if (windows.size === before) {
      duplicateIds++;
      log.rateLimited('warn', 'duplicate-id', 'duplicate request id; the newer window answers pending()');
    }
    inFlightCount++;
    return w;
  };

  const flush = (): void => {
    try {
      advance();
      const now = clock.nowMs();
      // Every open window, also one whose id a newer window took (it has its own slot).
      for (const w of winSlots.values()) {
        if (w instanceof Win && !w.ended) endWindow(w, { endMs: Math.max(now, w.startMs), outcome: 'aborted' });
      }
      for (const P of pools.values()) {
        if (!P.started) continue;
        closeCur(P);
        if (P.seq > 0) resolveHead(P, P.seq);
      }
      for (const w of winSlots.values()) {
        if (w instanceof Win && !w.emitted && !w.endDone && w.pool !== undefined) lagFinalise(w);
      }
      for (const P of pools.values()) {
        for (const am of P.amort.values()) if (!am.closed) closeAmort(P, am, !(P.started && P.cursor >= am.endMs));
      }
      lagFifo.length = 0;
      lagHead = 0;
      cancelTimer?.();
      cancelTimer = undefined;
    } catch (err) {
      log.error(`ledger flush failed: ${errorMessage(err)}`);
    }
  };

  return {
    open,
    inFlight: () => inFlightCount,
    advance,
    onFinal(cb) {
      // A function subscribed twice is called once, as with the Set this replaced.
      if (!listeners.includes(cb)) listeners = [...listeners, cb];
      return () => {
        listeners = listeners.filter((l) => l !== cb);
      };
    },
    pending(id) {
      const s = windows.get(id);
      const w = s === undefined ? undefined : winSlots.get(s);
      if (w === undefined) return undefined;
      // An amortization window names only its members that wait for it to close.
      return w instanceof AmortWin || !w.emitted ? { id, state: 'pending' } : undefined;
    },
    totals() {
      let measured = 0;
      const processedUntilMs: Record<string, number> = {};
      for (const P of pools.values()) {
        measured += compValue(P.measured);
        if (P.started) processedUntilMs[P.name] = P.cursor;
      }
      const a = compValue(attributed);
      const u = compValue(unattributed);
      return {
        measuredJ: measured,
        attributedJ: a,
        unattributedJ: u,
        pendingJ: measured - a - u,
        attributedByModelJ: Object.fromEntries(Array.from(byModel, ([m, box]) => [m, box.j])),
        processedUntilMs,
      };
    },
    flush,
    stats() {
      let held = 0;
      for (const P of pools.values()) held += P.seq - P.headSeq + 1;
      return { ...counts, heldSegments: held, pendingWindows: windows.size };
    },
  };
}
