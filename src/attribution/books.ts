import { compAdd, compSum, compValue } from './comp-sum.js';
import type { PoolState } from './pool-state.js';
import type { LedgerStats, LedgerTotals } from './types.js';

/** Distinct models kept in attributedByModel(); the rest are summed under OTHER_MODEL. */
const DEFAULT_MAX_MODEL_KEYS = 1_000;
const OTHER_MODEL = '__other__';

/**
 * The ledger's books: the energy given to records and the energy left unattributed, summed with
 * compensation (comp-sum.ts) because they grow for as long as the agent runs, the attributed energy per
 * model, and the counts of what went unusually (exported as `inferwatt_ledger_*_total`).
 */
export class Books {
  private readonly attributed = compSum();
  private readonly unattributed = compSum();
  /** Per model, a mutable box: a Map of numbers would allocate a new heap number on every record. */
  private readonly byModel = new Map<string, { j: number }>();

  /** Window starts/ends that arrived after the ledger had processed past them (clamped). */
  lateEvents = 0;
  /** Held segments split before all their windows ended (bounds reached, lag, flush). */
  forcedSplits = 0;
  /** Records finalised with complete: false because the pool's devices lagged past lagBoundMs. */
  lagFinalised = 0;
  /** Device pieces the timeline could not answer (evicted or missing), counted as 0 J and not measured. */
  uncoveredPieces = 0;
  /** Windows opened for a pool that the ledger does not know (recorded with 0 J, complete: false). */
  unknownPool = 0;
  /** Updates or ends ignored (after end, invalid values, second end). */
  ignoredCalls = 0;

  constructor(private readonly maxModelKeys = DEFAULT_MAX_MODEL_KEYS) {}

  addAttributed(model: string | undefined, j: number): void {
    compAdd(this.attributed, j);
    const key = model ?? '';
    const box = this.byModel.get(key);
    if (box !== undefined) box.j += j;
    else if (this.byModel.size < this.maxModelKeys) this.byModel.set(key, { j });
    else {
      const other = this.byModel.get(OTHER_MODEL);
      if (other !== undefined) other.j += j;
      else this.byModel.set(OTHER_MODEL, { j: 0 + j });
    }
  }

  addUnattributed(j: number): void {
    compAdd(this.unattributed, j);
  }

  attributedJ(): number {
    return compValue(this.attributed);
  }

  unattributedJ(): number {
    return compValue(this.unattributed);
  }

  /** Attributed J by model ('' for unknown, '__other__' past the bound). */
  attributedByModel(): Record<string, number> {
    return Object.fromEntries(Array.from(this.byModel, ([m, box]) => [m, box.j]));
  }

  /** The ledger's totals over its pools: measured = attributed + unattributed + pending. */
  totals(pools: Iterable<PoolState>): LedgerTotals {
    let measured = 0;
    const processedUntilMs: Record<string, number> = {};
    for (const P of pools) {
      measured += compValue(P.measured);
      if (P.started) processedUntilMs[P.name] = P.cursor;
    }
    const a = this.attributedJ();
    const u = this.unattributedJ();
    return { measuredJ: measured, attributedJ: a, unattributedJ: u, pendingJ: measured - a - u, attributedByModelJ: this.attributedByModel(), processedUntilMs };
  }

  stats(pools: Iterable<PoolState>, pendingWindows: number): LedgerStats {
    let heldSegments = 0;
    for (const P of pools) heldSegments += P.split.held();
    const { lateEvents, forcedSplits, lagFinalised, uncoveredPieces, unknownPool, ignoredCalls } = this;
    return { lateEvents, forcedSplits, lagFinalised, uncoveredPieces, unknownPool, ignoredCalls, heldSegments, pendingWindows };
  }
}
