import type { AttributedRequest } from '../attribution/types.js';
import type { RequestNote } from '../core/request-notes.js';
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
  return {
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
    ...(impacts.embodiedCo2eGrams !== undefined ? { embodiedCo2eGrams: impacts.embodiedCo2eGrams } : {}),
    ...(note?.reason !== undefined ? { outcomeReason: note.reason } : {}),
    ...(note?.traceId !== undefined ? { traceId: note.traceId, spanId: note.spanId } : {}),
  };
}
