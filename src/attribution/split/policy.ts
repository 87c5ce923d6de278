import type { Clock } from '../../core/clock.js';
import type { Logger } from '../../core/logger.js';
import type { EnergyTimeline } from '../../energy/types.js';
import type { Books } from '../books.js';
import type { LearnOptions, PoolCostReport } from '../learn/pool-learner.js';
import type { PoolState } from '../pool-state.js';
import type { AttributionPolicy } from '../types.js';
import type { Win } from '../window.js';
import { createLearnedSplit } from './learned.js';
import { createTimeSplit } from './time.js';
import { createTokensSplit } from './tokens.js';

/**
 * How a piece's energy is split over the windows active in it: the one thing that differs between
 * attribution policies (docs/design.md, "Attribution"). The ledger cuts time, reads each piece's energy
 * and tracks which windows are active; a split policy turns that into each window's active energy.
 *
 * A policy is chosen once per ledger and makes one `PoolSplit` per pool (all of one class, so the
 * ledger's call sites stay monomorphic). Its contract:
 * - every joule given to `activePiece` ends, once every window active in that piece is final, in the
 *   active energy of those windows (handed to `ctx.activeFinal`), nothing lost or counted twice:
 *   conservation (test/attribution: the oracle, the property test and the golden digests check it);
 * - work per piece and per window event is O(devices), never O(active windows);
 * - `ctx.activeFinal(w, act)` is called exactly once per window whose start was processed, after its
 *   end was, with its energy per device (the vector is the ledger's from then on).
 *
 * To add a policy: write split/<name>.ts against these interfaces, add the name to AttributionPolicy
 * (types.ts) and to SPLIT_POLICIES below, and its rule to test/attribution/oracle.ts; the conservation
 * property test and the golden digests then run it.
 */
export interface PoolSplit {
  /** w's start was processed; P.active counts it already. */
  start(w: Win): void;
  /** A piece of measured energy while windows are active: per device in `pieceJ`. */
  activePiece(pieceJ: number[]): void;
  /** w's end was processed; P.active no longer counts it. */
  end(w: Win): void;
  /** The proxy ended w (its token counts are final), before its end event is processed. */
  ended(w: Win): void;
  /** Splits what can be split now; with `force`, everything held (flush). */
  settle(force: boolean): void;
  /** w's active energy so far into `out` (a record given early by the lag bound); its remainder will go to unattributed. */
  energySoFar(w: Win, out: number[]): void;
  /** Segments held for windows still open (0 for a policy that holds nothing). */
  held(): number;
  /** w's first byte, while w is active: only for a policy with `phases` (the ledger cuts time there). */
  phase?(w: Win): void;
}

export interface SplitContext {
  readonly clock: Clock;
  readonly books: Books;
  readonly timeline: EnergyTimeline;
  readonly logger: Logger;
  /** Window w's active energy per device is final (see PoolSplit). */
  activeFinal(P: PoolState, w: Win, act: number[]): void;
}

export interface SplitOptions {
  /** `tokens`: weight of a prompt token relative to a completion token. */
  readonly promptTokenWeight: number;
  /** `tokens`: most held segments per pool before the oldest is split anyway. */
  readonly maxHeldSegments: number;
  /** `tokens`: longest a segment is held for open windows' token counts, ms. */
  readonly maxHoldMs: number;
  /** `learned`: how the token costs are learned. */
  readonly learn: LearnOptions;
  /** `learned`: where the learned state survives restarts (null: it does not). */
  readonly learnStateFile: string | null;
}

export interface SplitPolicy {
  readonly name: AttributionPolicy;
  /** Running integrals per device that its PoolSplits keep in PoolState.integrals. */
  readonly integralsPerDevice: number;
  /** Its weights change at a window's first byte: the ledger then also cuts time there and calls PoolSplit.phase. */
  readonly phases: boolean;
  forPool(P: PoolState): PoolSplit;
  /** Learned token costs per pool (`learned` only). */
  report?(): PoolCostReport[];
  /** At shutdown (after the ledger's flush): persists what must survive a restart. */
  flush?(): void;
}

export type SplitPolicyFactory = (ctx: SplitContext, opts: SplitOptions) => SplitPolicy;

/** The registry: every policy `--attribution` accepts. */
export const SPLIT_POLICIES: Readonly<Record<AttributionPolicy, SplitPolicyFactory>> = {
  time: createTimeSplit,
  tokens: createTokensSplit,
  learned: createLearnedSplit,
};

/** The names `--attribution` accepts. */
export const SPLIT_POLICY_NAMES = Object.keys(SPLIT_POLICIES) as [AttributionPolicy, ...AttributionPolicy[]];

export function createSplitPolicy(name: AttributionPolicy, ctx: SplitContext, opts: SplitOptions): SplitPolicy {
  return SPLIT_POLICIES[name](ctx, opts);
}
