import { toWallMs, type Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { EnergyTimeline } from '../energy/types.js';
import { Books } from './books.js';
import {
  DEFAULT_AMORTIZE_WINDOW_MS,
  DEFAULT_LAG_BOUND_MS,
  DEFAULT_MAX_HELD_SEGMENTS,
  DEFAULT_MAX_HOLD_MS,
  DEFAULT_PROMPT_TOKEN_WEIGHT,
} from './defaults.js';
import { AmortWin } from './idle/amortize.js';
import { IDLE_SINKS } from './idle/idle-sink.js';
import { LagQueue } from './lag-queue.js';
import { DEFAULT_LEARN_OPTIONS, type LearnOptions } from './learn/pool-learner.js';
import { PoolState } from './pool-state.js';
import { RecordOutbox } from './record.js';
import { createSplitPolicy } from './split/policy.js';
import type { AttributionPolicy, IdlePolicy, Ledger, WindowEnd, WindowHandle, WindowStart } from './types.js';
import { sumOf } from './vectors.js';
import { isCount, Win, type WindowOps } from './window.js';
import { WindowRegistry } from './window-registry.js';

/**
 * The attribution ledger: request windows in, per-request energy out, conserving each pool's measured
 * energy (docs/design.md, "Attribution"; docs/attribution.md for the rule, finality and cost).
 *
 * This file keeps the windows' books and drives the pools: each pool (pool-state.ts) merges its window
 * starts and ends in time order, reads its energy over each piece between them (pool-energy.ts), and gives
 * it to the split policy (split/) while windows are active or to the idle sink (idle/) when none is. A window whose active
 * energy the policy has finished goes to the idle sink, which gives its record (record.ts) now or, under
 * `amortize`, with its idle share later. Records are delivered when the call that made them returns, so
 * listeners never run inside the ledger. Windows the sensors lag behind by more than `lagBoundMs` are
 * given early, incomplete (lag-queue.ts); a device silent for `staleDeviceMs` no longer holds its pool.
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
  readonly maxHeldSegments?: number;
  /** `tokens`: longest a segment is held for open windows' token counts, ms; default 60 s. */
  readonly maxHoldMs?: number;
  /** Distinct models kept in totals().attributedByModelJ; the rest are summed under '__other__'. */
  readonly maxModelKeys?: number;
  /** `learned`: how token costs are learned (defaults: learn/pool-learner.ts), and where they survive restarts. */
  readonly learn?: Partial<LearnOptions>;
  readonly learnStateFile?: string | null;
}

export type { Ledger } from './types.js';

export function createLedger(opts: LedgerOptions): Ledger {
  const { timeline, clock } = opts;
  const log = opts.logger;
  const lagBoundMs = opts.lagBoundMs ?? DEFAULT_LAG_BOUND_MS;
  // Far beyond any lag or restart back-off (nvidia-smi: silentAfterMs 5 s + back-off up to 60 s is not
  // a device that is gone, and keeps holding), short enough that a lost GPU does not stop the host's books.
  const staleDeviceMs = opts.staleDeviceMs ?? Math.max(120_000, 10 * lagBoundMs);
  const maxHeld = opts.maxHeldSegments ?? DEFAULT_MAX_HELD_SEGMENTS;
  const tickMs = Math.max(10, Math.min(1_000, lagBoundMs / 2));

  const books = new Books(opts.maxModelKeys);
  const records = new RecordOutbox(books, opts.policy, log);
  const registry = new WindowRegistry(log);
  const split = createSplitPolicy(opts.policy, { clock, books, timeline, logger: log, activeFinal }, {
    promptTokenWeight: opts.promptTokenWeight ?? DEFAULT_PROMPT_TOKEN_WEIGHT,
    maxHeldSegments: maxHeld,
    maxHoldMs: opts.maxHoldMs ?? DEFAULT_MAX_HOLD_MS,
    learn: { ...DEFAULT_LEARN_OPTIONS, ...opts.learn },
    learnStateFile: opts.learnStateFile ?? null,
  });
  const idleFor = IDLE_SINKS[opts.idle]({ books, records, registry, emit }, {
    amortizeWindowMs: opts.amortizeWindowMs ?? DEFAULT_AMORTIZE_WINDOW_MS, lagBoundMs,
  });
  const pools = new Map<string, PoolState>();
  for (const [name, ids] of Object.entries(opts.pools)) {
    const P = new PoolState(name, [...ids], (p) => split.forPool(p), idleFor);
    P.pruneAt = maxHeld;
    pools.set(name, P);
  }

  let inFlightCount = 0;
  let evOrder = 0;
  const lagQueue = new LagQueue(lagBoundMs);
  let cancelTimer: (() => void) | undefined;
  let advancing = false;

  /** The split policy is done with w: book a late remainder as unattributed, or give it to the idle sink. */
  function activeFinal(P: PoolState, w: Win, act: number[]): void {
    // Finalised early (lag): what it would have got since goes to unattributed.
    if (w.emitted) { books.addUnattributed(sumOf(act)); P.dropVec(act); return; }
    w.activeJ = act;
    P.idle.activeFinal(w);
  }

  function emit(w: Win, complete: boolean, idleShare: number[] | undefined): void {
    w.emitted = true;
    const act = w.activeJ;
    w.activeJ = undefined;
    if (w.slot >= 0) { registry.release(w.id, w.slot); w.slot = -1; }
    records.build(w.pool, w, act, complete, idleShare);
  }

  /** The pool's devices lag past the bound: finalise with what exists; the rest goes unattributed later. */
  const lagFinalise = (w: Win): void => {
    const P = w.pool!;
    books.lagFinalised++;
    const act = P.takeVec();
    P.split.energySoFar(w, act);
    w.activeJ = act;
    P.idle.lagFinalised(w);
    log.rateLimited('warn', 'lag', 'sensor lag past the bound: request finalised with the energy that existed', { pool: P.name, lagBoundMs });
    emit(w, false, undefined);
  };

  const advancePool = (P: PoolState): void => {
    P.pruneEvents(maxHeld);
    if (!P.started && !P.tryStart(timeline, split.integralsPerDevice, books, log)) return;
    P.energy!.recover(P.cursor, P.measured);
    const covered = timeline.coveredUntilMs(P.ids);
    if (covered === undefined) return;
    P.processTo(covered, books, log);
    // A device that stopped reporting must not stall the pool: once it is silent for staleDeviceMs, the
    // others go on. A device that only lags still holds the pool back, and its late energy is attributed.
    const staleBefore = clock.nowMs() - staleDeviceMs;
    if (covered >= staleBefore) return;
    const live = P.energy!.liveCoveredUntil(staleBefore);
    if (live !== undefined && live > P.cursor) P.processTo(live, books, log);
  };

  const needsTimer = (): boolean => {
    if (lagQueue.waiting()) return true;
    for (const P of pools.values()) if (P.idle.busy() || P.split.held() > 0) return true;
    return false;
  };

  const armTimer = (): void => {
    if (cancelTimer === undefined) cancelTimer = clock.setTimer(onTimer, tickMs);
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
      lagQueue.check(now, lagFinalise);
      for (const P of pools.values()) P.idle.check(now);
    } catch (err) {
      log.rateLimited('error', 'advance', `ledger advance failed: ${errorMessage(err)}`);
    } finally {
      advancing = false;
    }
    records.deliver();
  };

  const endWindow = (w: Win, end: WindowEnd): void => {
    if (w.ended) { books.ignoredCalls++; return; }
    let endMs = end.endMs;
    if (!Number.isFinite(endMs)) { books.ignoredCalls++; endMs = clock.nowMs(); }
    if (endMs < w.startMs) endMs = w.startMs;
    w.ended = true;
    w.endMs = endMs;
    w.status = isCount(end.status) ? end.status : undefined;
    w.outcome = end.outcome;
    inFlightCount--;
    const P = w.pool;
    if (P === undefined) { emit(w, false, undefined); return; }
    P.split.ended(w);
    P.idle.ended(w);
    w.endOrder = ++evOrder;
    P.endQ.push(w);
    lagQueue.push(w);
    armTimer();
    P.split.settle(false);
  };

  const ops: WindowOps = {
    firstByte(w) {
      const P = w.pool;
      if (!split.phases || P === undefined || w.ended) return;
      w.markMs = w.firstByteMs!;
      w.phaseOrder = ++evOrder;
      w.markQueued = true;
      P.phaseQ.push(w);
    },
    progress(w, tMs, chunks) {
      const P = w.pool;
      if (!split.phases || P === undefined) return;
      const n = w.markCount;
      // After its first byte and its last mark, with no fewer chunks, before its end: else it says nothing usable.
      if (w.ended || n === 0 || !(tMs > w.markTime(n - 1)) || !isCount(chunks) || (n > 1 && chunks < w.markChunks(n - 1))) { books.ignoredCalls++; return; }
      const order = ++evOrder;
      (w.marks ??= []).push(tMs, chunks, order, 0);
      // Queued when all its earlier marks were processed; else when the one before it is (applyMark).
      if (w.markQueued || w.markPos !== n) return;
      w.markMs = tMs;
      w.phaseOrder = order;
      w.markQueued = true;
      P.phaseQ.push(w);
    },
    update(w, u) {
      if (w.ended) { books.ignoredCalls++; return; }
      if (typeof u.model === 'string') w.model = u.model;
      if (isCount(u.promptTokens)) w.prompt = u.promptTokens;
      if (isCount(u.completionTokens)) w.completion = u.completionTokens;
      if (isCount(u.cachedPromptTokens)) w.cachedPrompt = u.cachedPromptTokens;
      if (typeof u.stream === 'boolean') w.stream = u.stream;
      if (isCount(u.chunks)) w.chunks = u.chunks;
    },
    end(w, e) {
      try { endWindow(w, e); } catch (err) { log.rateLimited('error', 'end', `ledger end failed: ${errorMessage(err)}`); }
      records.deliver();
    },
  };

  const open = (start: WindowStart): WindowHandle => {
    const startMs = Number.isFinite(start.startMs) ? start.startMs : clock.nowMs();
    const P = pools.get(start.pool);
    const w = new Win(start.id, start.pool, P, startMs, toWallMs(clock, startMs), start.model, start.tenant, start.api, ops);
    if (P === undefined) {
      books.unknownPool++;
      log.rateLimited('warn', 'unknown-pool', 'request for an unknown pool: recorded with 0 J', { pool: start.pool });
    } else {
      w.startOrder = ++evOrder;
      P.startQ.push(w);
    }
    registry.add(w);
    inFlightCount++;
    return w;
  };

  const flush = (): void => {
    try {
      advance();
      const now = clock.nowMs();
      // Every open window, also one whose id a newer window took (it has its own slot).
      for (const w of registry.values()) {
        if (w instanceof Win && !w.ended) endWindow(w, { endMs: Math.max(now, w.startMs), outcome: 'aborted' });
      }
      for (const P of pools.values()) if (P.started) P.split.settle(true);
      for (const w of registry.values()) {
        if (w instanceof Win && !w.emitted && !w.endDone && w.pool !== undefined) lagFinalise(w);
      }
      for (const P of pools.values()) P.idle.flush();
      split.flush?.();
      lagQueue.clear();
      cancelTimer?.();
      cancelTimer = undefined;
    } catch (err) {
      log.error(`ledger flush failed: ${errorMessage(err)}`);
    }
    records.deliver();
  };

  return {
    open,
    inFlight: () => inFlightCount,
    decodeMarks: split.phases,
    advance,
    onFinal: (cb) => records.subscribe(cb),
    pending(id) {
      const w = registry.get(id);
      if (w === undefined) return undefined;
      // An amortization window names only its members that wait for it to close.
      return w instanceof AmortWin || !w.emitted ? { id, state: 'pending' } : undefined;
    },
    totals: () => books.totals(pools.values()),
    flush,
    stats: () => books.stats(pools.values(), registry.size),
    tokenCosts: () => split.report?.(),
  };
}
