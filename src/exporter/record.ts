import type { AttributedRequest } from '../attribution/types.js';
import type { RequestNote } from '../core/request-notes.js';
import { computeImpacts, toRecordFactors } from '../impacts/convert.js';
import type { Factors, Impacts as ImpactsOfEnergy } from '../impacts/types.js';

/** The factors a record was converted with (the request record, docs/design.md). */
export type RecordFactors = Pick<Factors, 'region' | 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif' | 'source'>;

/** The CO2e and water of one request (impacts' conversion), plus the optional embodied share. */
export type Impacts = ImpactsOfEnergy & { embodiedCo2eGrams?: number };

/** What a record says beyond the ledger's fields, when there is something to say (the proxy's note). */
export interface RecordNote {
  /** Why the outcome is not `ok` (the proxy's OutcomeReason: `upstream_idle_timeout`, `client_closed`, `shutdown`, …). */
  outcomeReason?: string;
  /** The W3C trace context the request came with (`traceparent`): its trace id and the caller's span id. */
  traceId?: string;
  spanId?: string;
}

/**
 * A finished request as the API and the JSONL file show it (docs/design.md): the ledger's fields less its
 * monotonic times, plus impacts and the factors they came from. Never holds prompts or completions.
 * Beyond the contract, for researchers: the upstream `pool`, the `api` family, `energyByDeviceJ`, and
 * when known `outcomeReason`, `traceId` and `spanId`.
 */
export type RequestRecord = Omit<AttributedRequest, 'startMs' | 'endMs'> & Impacts & { factors: RecordFactors } & RecordNote;

export function toRecord(a: AttributedRequest, impacts: Impacts, factors: RecordFactors, note?: RequestNote): RequestRecord {
  const rec: RequestRecord = {
    id: a.id,
    model: a.model,
    tenant: a.tenant,
    startedAt: a.startedAt,
    durationMs: a.durationMs,
    ttfbMs: a.ttfbMs,
    outcome: a.outcome,
    status: a.status,
    promptTokens: a.promptTokens,
    completionTokens: a.completionTokens,
    energyJ: a.energyJ,
    idleShareJ: a.idleShareJ,
    co2eGrams: impacts.co2eGrams,
    waterLiters: impacts.waterLiters,
    factors,
    attribution: a.attribution,
    complete: a.complete,
    pool: a.pool,
    api: a.api,
    energyByDeviceJ: a.energyByDeviceJ,
  };
  // The optional fields last, in this order; assigned rather than spread from temporary objects (one
  // per record, on the agent's per-request path).
  if (impacts.embodiedCo2eGrams !== undefined) rec.embodiedCo2eGrams = impacts.embodiedCo2eGrams;
  if (note?.reason !== undefined) rec.outcomeReason = note.reason;
  if (note?.traceId !== undefined) {
    rec.traceId = note.traceId;
    rec.spanId = note.spanId;
  }
  return rec;
}

/**
 * Finished requests → records with their impacts (the agent's per-request path). The record's `factors`
 * object is made once per factor set in use (static, or each live value) and shared, frozen, by the
 * records converted with it, instead of a copy per record held 10,000 times over by the store's ring.
 */
export function createRecordBuilder(): (a: AttributedRequest, f: Factors, note?: RequestNote) => RequestRecord {
  let lastFactors: Factors | undefined;
  let recordFactors: RecordFactors | undefined;
  return (a, f, note) => {
    if (f !== lastFactors || recordFactors === undefined) {
      lastFactors = f;
      recordFactors = Object.freeze(toRecordFactors(f));
    }
    return toRecord(a, computeImpacts(a.energyJ.total, f), recordFactors, note);
  };
}
