import type { AttributedRequest } from '../attribution/types.js';
import { computeImpacts, toRecordFactors } from '../impacts/convert.js';
import type { Factors, Impacts as ImpactsOfEnergy } from '../impacts/types.js';

/** The factors a record was converted with (DESIGN §4 request record). */
export type RecordFactors = Pick<Factors, 'region' | 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif' | 'source'>;

/** The CO2e and water of one request (impacts' conversion), plus the optional embodied share. */
export type Impacts = ImpactsOfEnergy & { embodiedCo2eGrams?: number };

/**
 * A finished request as the API and the JSONL file show it (DESIGN §4): the ledger's fields less its
 * monotonic times, plus impacts and the factors they came from. Never holds prompts or completions.
 * Beyond the contract, for researchers: the upstream `pool`, the `api` family, `energyByDeviceJ`.
 */
export type RequestRecord = Omit<AttributedRequest, 'startMs' | 'endMs'> & Impacts & { factors: RecordFactors };

export function toRecord(a: AttributedRequest, impacts: Impacts, factors: RecordFactors): RequestRecord {
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
  // last, as before; assigned rather than spread from a temporary object (one per record)
  if (impacts.embodiedCo2eGrams !== undefined) rec.embodiedCo2eGrams = impacts.embodiedCo2eGrams;
  return rec;
}

/**
 * Finished requests → records with their impacts (the agent's per-request path). The record's `factors`
 * object is made once per factor set in use (static, or each live value) and shared, frozen, by the
 * records converted with it, instead of a copy per record held 10,000 times over by the store's ring.
 */
export function createRecordBuilder(): (a: AttributedRequest, f: Factors) => RequestRecord {
  let lastFactors: Factors | undefined;
  let recordFactors: RecordFactors | undefined;
  return (a, f) => {
    if (f !== lastFactors || recordFactors === undefined) {
      lastFactors = f;
      recordFactors = Object.freeze(toRecordFactors(f));
    }
    return toRecord(a, computeImpacts(a.energyJ.total, f), recordFactors);
  };
}
