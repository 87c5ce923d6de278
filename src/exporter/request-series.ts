/**
 * The per-request metric values, kept as plain numbers on the record's path and read by the metric
 * collectors at scrape time (metrics.ts).
 *
 * Why not prom-client's `inc`/`observe` per record: each call builds a string key from the label object
 * and looks it up (plus label validation, and for a histogram with exemplars a second key, an
 * `Object.keys`, an `Object.entries` and a `Date.now()`), nine times per record. Here a record costs two
 * Map lookups (model, then tenant) and additions; the label objects are made once per series, when the
 * series is created. prom-client's own `labels()` children hash on every call too, so they would not help.
 *
 *   triples: Map(pool → Map(model → Map(tenant → TripleSeries)))   one per (pool, model, tenant), bounded
 *            TripleSeries { requests[ok, error, aborted],            by the configured pools and the label
 *                           tokens, J, g, L, label objects }         bounders (maxModels × maxTenants)
 *   models: Map(model → ModelSeries)                     one per model label
 *            ModelSeries { energy, co2e, water: HistogramSeries }
 *            HistogramSeries { counts[bucket] (not cumulative; the last one is +Inf), sum, count,
 *                              exemplar per bucket: request id, value, wall ms (overwritten in place) }
 *
 * Invariants: series are only ever added (the collectors list them in creation order, as prom-client
 * lists series in first-use order); a value that is not finite is not added (a counter that became NaN,
 * or went down, would fail the whole scrape), so nothing here throws into the record's path.
 */
import { OUTCOMES, type Outcome } from '../attribution/types.js';

export interface HistogramSeries {
  /** Observations per bucket, `bounds.length + 1` of them (the last: above every bound, +Inf). */
  readonly counts: number[];
  sum: number;
  count: number;
  /** Per bucket, the latest observation's request id (undefined: none yet), value and wall-clock ms. */
  readonly exemplarIds: (string | undefined)[];
  readonly exemplarValues: number[];
  readonly exemplarWallMs: number[];
}

export interface TripleSeries {
  readonly pool: string;
  readonly model: string;
  readonly tenant: string;
  /** `{ model, tenant, pool }` and per outcome `{ model, tenant, pool, outcome }`, made once (key order = label order). */
  readonly labels: Readonly<Record<'model' | 'tenant' | 'pool', string>>;
  readonly outcomeLabels: Readonly<Record<Outcome, Readonly<Record<'model' | 'tenant' | 'pool' | 'outcome', string>>>>;
  readonly requests: Record<Outcome, number>;
  /** A record of this triple has arrived (its energy, CO2e and water series exist from then on). */
  recorded: boolean;
  /** Whether a record with a prompt (completion) token count arrived: its tokens series exists. */
  promptSeen: boolean;
  completionSeen: boolean;
  promptTokens: number;
  completionTokens: number;
  energyJ: number;
  co2eGrams: number;
  waterLiters: number;
}

export interface ModelSeries {
  readonly model: string;
  readonly labels: Readonly<Record<'model', string>>;
  readonly energyJ: HistogramSeries;
  readonly co2eGrams: HistogramSeries;
  readonly waterLiters: HistogramSeries;
}

export interface HistogramBounds {
  energyJ: readonly number[];
  co2eGrams: readonly number[];
  waterLiters: readonly number[];
}

/** What one record adds: the fields of a RequestRecord that the metrics read. */
export interface RecordValues {
  id: string;
  outcome: Outcome;
  promptTokens: number | null;
  completionTokens: number | null;
  energyJ: { total: number };
  co2eGrams: number;
  waterLiters: { total: number };
}

export interface RequestSeries {
  /** The series of a (pool, model, tenant), created (all outcomes at zero) if new. */
  triple(pool: string, model: string, tenant: string): TripleSeries;
  /** Adds one record to its triple's counters and its model's histograms. */
  observe(pool: string, model: string, tenant: string, rec: RecordValues, wallMs: number): void;
  triples(): Iterable<TripleSeries>;
  models(): Iterable<ModelSeries>;
}

const finite = (v: number) => v - v === 0; // false for NaN and ±Infinity

function histogram(bounds: readonly number[]): HistogramSeries {
  const n = bounds.length + 1;
  return { counts: new Array<number>(n).fill(0), sum: 0, count: 0, exemplarIds: new Array<string | undefined>(n).fill(undefined), exemplarValues: new Array<number>(n).fill(0), exemplarWallMs: new Array<number>(n).fill(0) };
}

function observeInto(h: HistogramSeries, bounds: readonly number[], value: number, id: string, wallMs: number): void {
  if (!finite(value)) return;
  // the first bound at or above the value (prom-client's rule); past the last one, the +Inf bucket
  let b = 0;
  while (b < bounds.length && value > bounds[b]!) b++;
  h.counts[b]!++;
  h.sum += value;
  h.count++;
  h.exemplarIds[b] = id;
  h.exemplarValues[b] = value;
  h.exemplarWallMs[b] = wallMs;
}

export function createRequestSeries(bounds: HistogramBounds): RequestSeries {
  const byPool = new Map<string, Map<string, Map<string, TripleSeries>>>();
  const tripleList: TripleSeries[] = [];
  const models = new Map<string, ModelSeries>();

  const triple = (pool: string, model: string, tenant: string): TripleSeries => {
    let byModel = byPool.get(pool);
    if (byModel === undefined) byPool.set(pool, (byModel = new Map<string, Map<string, TripleSeries>>()));
    let tenants = byModel.get(model);
    if (tenants === undefined) byModel.set(model, (tenants = new Map<string, TripleSeries>()));
    let t = tenants.get(tenant);
    if (t === undefined) {
      t = {
        pool, model, tenant,
        labels: { model, tenant, pool },
        outcomeLabels: Object.fromEntries(OUTCOMES.map((outcome) => [outcome, { model, tenant, pool, outcome }])) as TripleSeries['outcomeLabels'],
        requests: Object.fromEntries(OUTCOMES.map((o) => [o, 0])) as TripleSeries['requests'],
        recorded: false, promptSeen: false, completionSeen: false,
        promptTokens: 0, completionTokens: 0, energyJ: 0, co2eGrams: 0, waterLiters: 0,
      };
      tenants.set(tenant, t);
      tripleList.push(t);
    }
    return t;
  };

  const modelSeries = (model: string): ModelSeries => {
    let m = models.get(model);
    if (m === undefined) {
      m = { model, labels: { model }, energyJ: histogram(bounds.energyJ), co2eGrams: histogram(bounds.co2eGrams), waterLiters: histogram(bounds.waterLiters) };
      models.set(model, m);
    }
    return m;
  };

  return {
    triple,
    observe(pool, model, tenant, rec, wallMs) {
      const p = triple(pool, model, tenant);
      p.requests[rec.outcome]++;
      p.recorded = true;
      if (rec.promptTokens !== null && finite(rec.promptTokens) && rec.promptTokens >= 0) {
        p.promptSeen = true;
        p.promptTokens += rec.promptTokens;
      }
      if (rec.completionTokens !== null && finite(rec.completionTokens) && rec.completionTokens >= 0) {
        p.completionSeen = true;
        p.completionTokens += rec.completionTokens;
      }
      const e = rec.energyJ.total;
      const g = rec.co2eGrams;
      const l = rec.waterLiters.total;
      if (finite(e) && e >= 0) p.energyJ += e;
      if (finite(g) && g >= 0) p.co2eGrams += g;
      if (finite(l) && l >= 0) p.waterLiters += l;
      const m = modelSeries(model);
      observeInto(m.energyJ, bounds.energyJ, e, rec.id, wallMs);
      observeInto(m.co2eGrams, bounds.co2eGrams, g, rec.id, wallMs);
      observeInto(m.waterLiters, bounds.waterLiters, l, rec.id, wallMs);
    },
    triples: () => tripleList,
    models: () => models.values(),
  };
}
