import type { PoolCostReport } from './learn/pool-learner.js';

/**
 * The attribution stage: request windows in, per-request energy out, conserving the pool's energy.
 * The proxy (and the middleware) talk to it only through `RequestTracker`.
 */
export type Outcome = 'ok' | 'error' | 'aborted';
export const OUTCOMES: readonly Outcome[] = ['ok', 'error', 'aborted'];
export type AttributionPolicy = 'time' | 'tokens' | 'learned';
export type IdlePolicy = 'unattributed' | 'amortize';

export interface WindowStart {
  /** Request id, also sent back as `x-inferwatt-request-id`. */
  readonly id: string;
  /** Name of the upstream (its pool of devices); `default` for a single upstream. */
  readonly pool: string;
  readonly startMs: number;
  readonly model?: string;
  readonly tenant?: string;
  readonly method?: string;
  /** The API route family recognised by the tap (`openai.chat`, `ollama.generate`, …), for records only. */
  readonly api?: string;
}

export interface WindowUpdate {
  model?: string;
  promptTokens?: number;
  completionTokens?: number;
  /** Of promptTokens, those the server served from its prompt cache (`prompt_tokens_details.cached_tokens`). */
  cachedPromptTokens?: number;
  /** The request asked for a streamed response: its first byte ends its prefill. */
  stream?: boolean;
  /** Content chunks (SSE events, NDJSON lines) its streamed response carried in all, the last `progress` count included. */
  chunks?: number;
}

export interface WindowEnd {
  readonly endMs: number;
  readonly status?: number;
  readonly outcome: Outcome;
}

export interface WindowHandle {
  readonly id: string;
  firstByte(tMs: number): void;
  /**
   * A decode mark of a streamed response, after its first byte: `chunks` content chunks had been streamed
   * by `tMs` (monotonic ms, later than the first byte and than the previous mark). The `learned` policy
   * spreads a request's completion energy over its decode by these marks; the others ignore them.
   */
  progress?(tMs: number, chunks: number): void;
  update(update: WindowUpdate): void;
  end(end: WindowEnd): void;
}

export interface RequestTracker {
  open(start: WindowStart): WindowHandle;
  inFlight(): number;
  /** It uses decode marks (`WindowHandle.progress`): only then does the proxy time a streamed response's chunks. */
  readonly decodeMarks?: boolean;
}

export interface EnergyByKind {
  gpu: number;
  cpu: number;
  dram: number;
  total: number;
}

/** A request's attributed energy, before impacts are applied. Energies in joules. */
export interface AttributedRequest {
  id: string;
  pool: string;
  model: string | null;
  tenant: string | null;
  api: string | null;
  startedAt: string;
  startMs: number;
  endMs: number;
  durationMs: number;
  ttfbMs: number | null;
  outcome: Outcome;
  status: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  energyJ: EnergyByKind;
  /** Per device id, joules (active share plus idle share). */
  energyByDeviceJ: Record<string, number>;
  /** The part of energyJ.total that is amortized idle energy (0 under the `unattributed` policy). */
  idleShareJ: number;
  attribution: AttributionPolicy;
  /** False when a sensor lagged past the bound and the record was finalised with what existed. */
  complete: boolean;
}

export interface LedgerTotals {
  /** Energy measured on each pool's devices over the ledger's processed range, J. */
  measuredJ: number;
  attributedJ: number;
  unattributedJ: number;
  /**
   * Measured but not yet in a final record nor unattributed (windows in flight, held segments, open
   * amortization windows): measuredJ = attributedJ + unattributedJ + pendingJ.
   */
  pendingJ?: number;
  /** Attributed J by model ('' for unknown). */
  attributedByModelJ: Record<string, number>;
  /** How far (monotonic ms) the ledger has processed, per pool. */
  processedUntilMs: Record<string, number>;
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
  /** Called once per finished request, when its record is final, after the ledger call that made it. Returns an unsubscribe function. */
  onFinal(cb: (rec: AttributedRequest) => void): () => void;
  /** `{id, state: 'pending'}` for a known window whose record is not final yet; undefined otherwise. */
  pending(id: string): { id: string; state: 'pending' } | undefined;
  totals(): LedgerTotals;
  /** At shutdown: finalises everything with what exists (complete: false where the timeline does not cover). */
  flush(): void;
  stats(): LedgerStats;
  /** `learned`: each pool's learned token costs; undefined under the other policies. */
  tokenCosts(): PoolCostReport[] | undefined;
}
