import type { Books } from '../books.js';
import type { PoolState } from '../pool-state.js';
import type { RecordOutbox } from '../record.js';
import type { IdlePolicy } from '../types.js';
import type { Win } from '../window.js';
import type { WindowRegistry } from '../window-registry.js';
import { createAmortizeSink } from './amortize.js';
import { createUnattributedSink } from './unattributed.js';

/**
 * Where idle energy goes (pieces in which no window of the pool is active), and when a record whose
 * active energy is final is given: the one thing that differs between idle policies.
 * - `unattributed` (unattributed.ts): idle energy is booked apart; a record is given as soon as its
 *   active energy is final.
 * - `amortize` (amortize.ts): time is cut into amortization windows; each one's idle energy is spread
 *   over the records that ended in it, in proportion to their active energy, once it has closed.
 * Chosen once per ledger; one PoolIdle per pool.
 */
export type PieceFn = (P: PoolState, a: number, b: number, bucket: number) => void;

export interface PoolIdle {
  /** Cuts [a, b] of pool P at its own boundaries (if any) and calls piece for each part with its bucket (-1: none). */
  cut(P: PoolState, a: number, b: number, piece: PieceFn): void;
  /** An idle piece: `total` J, per device in `e`, in `bucket`. */
  idlePiece(e: number[], total: number, bucket: number): void;
  /** The proxy ended w (its end time is known). */
  ended(w: Win): void;
  /** w's active energy (w.activeJ) is final and w was not given early: give its record now or later. */
  activeFinal(w: Win): void;
  /** w's record was given early (lag): it no longer waits for anything. */
  lagFinalised(w: Win): void;
  /** On every advance, with the monotonic time now. */
  check(now: number): void;
  /** At shutdown: gives every waiting record. */
  flush(): void;
  /** Work is waiting for time to pass (the ledger keeps its timer armed). */
  busy(): boolean;
}

export interface IdleContext {
  readonly books: Books;
  readonly records: RecordOutbox;
  readonly registry: WindowRegistry;
  /** Releases w's id and builds its record (active energy w.activeJ, plus idleShare per device). */
  emit(w: Win, complete: boolean, idleShare: number[] | undefined): void;
}

export interface IdleOptions {
  /** `amortize`: the amortization window, ms. */
  readonly amortizeWindowMs: number;
  /** An amortization window still waiting this long after its end (sensor lag) closes anyway. */
  readonly lagBoundMs: number;
}

export type IdleSinkFactory = (ctx: IdleContext, opts: IdleOptions) => (P: PoolState) => PoolIdle;

export const IDLE_SINKS: Readonly<Record<IdlePolicy, IdleSinkFactory>> = {
  unattributed: createUnattributedSink,
  amortize: createAmortizeSink,
};
