import type { AttributedRequest, AttributionPolicy, EnergyByKind, Outcome } from '../attribution/types.js';
import type { Factors } from '../impacts/types.js';

/** The factors a record was converted with (DESIGN §4 request record). */
export type RecordFactors = Pick<Factors, 'region' | 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif' | 'source'>;

/** A finished request as the API and the JSONL file show it. Never holds prompts or completions. */
export interface RequestRecord {
  id: string;
  model: string | null;
  tenant: string | null;
  startedAt: string;
  durationMs: number;
  ttfbMs: number | null;
  outcome: Outcome;
  status: number | null;
  promptTokens: number | null;
  completionTokens: number | null;
  energyJ: EnergyByKind;
  idleShareJ: number;
  co2eGrams: number;
  waterLiters: { onsite: number; offsite: number; total: number };
  factors: RecordFactors;
  attribution: AttributionPolicy;
  complete: boolean;
  /** Extras beyond the contract, for researchers: the upstream pool, the API family, J per device. */
  pool: string;
  api: string | null;
  energyByDeviceJ: Record<string, number>;
  embodiedCo2eGrams?: number;
}

export interface Impacts {
  co2eGrams: number;
  waterLiters: { onsite: number; offsite: number; total: number };
  embodiedCo2eGrams?: number;
}

export function toRecord(a: AttributedRequest, impacts: Impacts, factors: RecordFactors): RequestRecord {
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
  };
}
