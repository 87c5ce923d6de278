import { Counter, Gauge, Registry, type RegistryContentType } from 'prom-client';
import type { LedgerStats } from '../attribution/types.js';
import { type Clock, toWallMs } from '../core/clock.js';
import { OUTCOMES } from '../attribution/types.js';
import { UPSTREAM_ERROR_REASONS, type UpstreamErrorReason } from '../proxy/forward.js';
import type { DeviceSnapshot } from '../energy/types.js';
import type { Factors, FactorsInForce } from '../impacts/types.js';
import type { SensorHealth, SensorName } from '../sensors/types.js';
import { SENSOR_ERROR_REASONS } from '../sensors/types.js';
import { admitsLabels, UNKNOWN_LABEL, type LabelBounder } from './label-bounder.js';
import type { RequestRecord } from './record.js';
import { createRequestSeries } from './request-series.js';
import { registerSeriesHistogram } from './series-histogram.js';
import { registerSelfMetrics, type ProxySelfStats } from './self-metrics.js';
import { registerTokenCostMetrics } from './token-cost-metrics.js';
import type { PoolCostReport } from '../attribution/learn/pool-learner.js';

/**
 * The metric catalogue (docs/design.md, the external contract), in one place, on our own registry. Device and sensor metrics are
 * read from snapshots at scrape time (a scrape never reads a sensor); request metrics are updated
 * when a record is final, into plain numbers (request-series.ts) that the collectors read at scrape time.
 * Base units; liters are said in HELP.
 *
 * Labels of the per-request counters: `model` and `tenant` (issue 3 item 4),
 * both bounded (label-bounder.ts), and `pool` (the upstream's name, one of the configured upstreams, so
 * bounded by the configuration; `inferwatt report --by pool` needs it). The per-request histograms stay by `model` only: each (model,
 * tenant) pair would cost 60 series (20 + 18 + 16 buckets with +Inf, a sum and a count each), 60,000
 * at 50 models × 20 tenants, while the counters cost at most 8 series a pair. Per-tenant means come
 * from the counters (energy total / requests total); per-tenant distributions from the records.
 */

/** The factors in force, as the catalogue shows them. */
export type ActiveFactors = FactorsInForce;

/** The factors in force as the catalogue shows them. */
export function toActiveFactors(f: Factors): ActiveFactors {
  return { region: f.region, source: f.source, year: f.year ?? null, gridGCo2ePerKWh: f.gridGCo2ePerKWh, pue: f.pue, wue: f.wue, ewif: f.ewif };
}

export interface MetricsSources {
  devices(): readonly DeviceSnapshot[];
  sensors(): readonly { name: SensorName; health: SensorHealth }[];
  unattributedJ(): number;
  inFlight(): number;
  factors(): ActiveFactors;
  /** Records that could not be appended to the records file (`--records`); 0 without one. */
  recordsWriteErrors?(): number;
  /** Per GPU, relative disagreement of nvidia-smi integration against the NVML counter (cross-check mode). */
  crossCheck?(): readonly { device: string; nvmlJ: number; nvidiaSmiJ: number }[];
  /** `learned`: each pool's learned token costs (token-cost-metrics.ts). */
  tokenCosts?(): readonly PoolCostReport[];
  /** The ledger's and the proxy's own counts, exported as inferwatt_ledger_* and inferwatt_proxy_* (self-metrics.ts). */
  ledger?(): LedgerStats;
  proxy?(): ProxySelfStats;
  /** Whether each upstream accepted a connection at the last probe (null: not probed yet). */
  upstreams?(): readonly { name: string; reachable: boolean | null }[];
}

/** What `inferwatt_attribution_info` states (the report names the policy its figures came from). */
export interface AttributionSettings { policy: string; idle: string }

export interface MetricsCatalogue {
  readonly registry: Registry<RegistryContentType>;
  observeRecord(rec: RequestRecord): void;
  upstreamError(reason: UpstreamErrorReason): void;
  /** A client connection closed at once because proxy.maxConnections were open. */
  connectionDropped(): void;
  /** Renders the exposition; OpenMetrics (with exemplars) when the scraper's Accept asks for it. */
  render(accept: string | undefined): Promise<{ contentType: string; body: string }>;
}

// Per-query energy spans from ~1 J (a short embedding on a shared GPU) to ~100 kJ (a long reasoning
// answer on 8 GPUs): a log scale of factor ~2.15 (10^(1/3)) from 0.1 J covers it in 19 buckets.
const ENERGY_BUCKETS_J = logBuckets(0.1, 10 ** (1 / 3), 19);
// gCO2e per query: 1 J at 20-800 g/kWh is 6e-6..2e-4 g; 100 kJ at 800 g/kWh is ~22 g.
const CO2E_BUCKETS_G = logBuckets(1e-6, 10 ** (1 / 2), 17);
// Liters per query: ~1e-6 L (1 J, low WUE) to ~0.1 L.
const WATER_BUCKETS_L = logBuckets(1e-7, 10 ** (1 / 2), 15);

/** The bucket bounds of the per-request histograms (exported for the tests' reference model). */
export const REQUEST_HISTOGRAM_BUCKETS = { energyJ: ENERGY_BUCKETS_J, co2eGrams: CO2E_BUCKETS_G, waterLiters: WATER_BUCKETS_L } as const;

function logBuckets(start: number, factor: number, count: number): number[] {
  const out: number[] = [];
  for (let i = 0, v = start; i < count; i++, v *= factor) out.push(Number(v.toPrecision(3)));
  return out;
}

export function createMetricsCatalogue(opts: {
  sources: MetricsSources; models: LabelBounder; tenants: LabelBounder; clock: Clock;
  /** The pools (upstream names) of this agent; default one pool, `default`. */
  pools?: readonly string[];
  attribution?: AttributionSettings;
}): MetricsCatalogue {
  const { sources, models, tenants, clock } = opts;
  const pools = opts.pools?.length ? opts.pools : ['default'];
  // (pool, model, tenant) triples and models, bounded by the configuration and the two bounders; a
  // record's values go there.
  const series = createRequestSeries(REQUEST_HISTOGRAM_BUCKETS);
  // Monotonic → Unix time with one offset taken at start, so a sample's timestamp never moves between
  // scrapes (recomputing it each time would jitter by the clocks' drift).
  const wallOffsetMs = toWallMs(clock, 0);
  // Created as OpenMetrics so histograms may hold exemplars; render() picks the format per scrape.
  const registry = new Registry<RegistryContentType>();
  registry.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);

  new Gauge({
    name: 'inferwatt_device_power_watts', help: 'Power of each measured device, watts (latest sample interval).',
    labelNames: ['device', 'kind', 'method'], registers: [registry],
    collect() {
      this.reset();
      for (const d of sources.devices()) {
        if (d.powerW !== undefined) this.set({ device: d.device.id, kind: d.device.kind, method: d.device.method }, d.powerW);
      }
    },
  });
  new Counter({
    name: 'inferwatt_device_energy_joules_total', help: 'Energy used by each measured device since the agent started, joules.',
    labelNames: ['device', 'kind', 'method'], registers: [registry],
    collect() {
      this.reset();
      for (const d of sources.devices()) this.inc({ device: d.device.id, kind: d.device.kind, method: d.device.method }, d.energyJ);
    },
  });
  new Gauge({
    name: 'inferwatt_device_info', help: 'Inventory of measured devices (value 1).',
    labelNames: ['device', 'kind', 'name', 'uuid', 'driver'], registers: [registry],
    collect() {
      this.reset();
      for (const d of sources.devices()) {
        this.set({ device: d.device.id, kind: d.device.kind, name: d.device.name, uuid: d.device.uuid ?? '', driver: d.device.driver ?? '' }, 1);
      }
    },
  });

  // The per-request series, copied from `series` at each scrape (reset, then every series in creation order).
  new Counter({
    name: 'inferwatt_requests_total', help: 'Requests that went through the proxy, by model, tenant, pool and outcome.', labelNames: ['model', 'tenant', 'pool', 'outcome'], registers: [registry],
    collect() { this.reset(); for (const t of series.triples()) for (const o of OUTCOMES) this.inc(t.outcomeLabels[o], t.requests[o]); },
  });
  registerSeriesHistogram(registry, {
    name: 'inferwatt_request_energy_joules', help: 'Energy attributed to each request, joules.', buckets: ENERGY_BUCKETS_J,
    series: () => [...series.models()].map((m) => ({ labels: m.labels, histogram: m.energyJ })),
  });
  registerSeriesHistogram(registry, {
    name: 'inferwatt_request_co2e_grams', help: 'Operational CO2e of each request, grams (location-based).', buckets: CO2E_BUCKETS_G,
    series: () => [...series.models()].map((m) => ({ labels: m.labels, histogram: m.co2eGrams })),
  });
  registerSeriesHistogram(registry, {
    name: 'inferwatt_request_water_liters', help: 'Water of each request (on-site plus off-site), liters.', buckets: WATER_BUCKETS_L,
    series: () => [...series.models()].map((m) => ({ labels: m.labels, histogram: m.waterLiters })),
  });
  new Counter({
    name: 'inferwatt_tokens_total', help: 'Tokens reported by the inference server, by model, tenant, pool and type (prompt, completion).', labelNames: ['model', 'tenant', 'pool', 'type'], registers: [registry],
    collect() {
      this.reset();
      for (const t of series.triples()) {
        if (t.promptSeen) this.inc({ model: t.model, tenant: t.tenant, pool: t.pool, type: 'prompt' }, t.promptTokens);
        if (t.completionSeen) this.inc({ model: t.model, tenant: t.tenant, pool: t.pool, type: 'completion' }, t.completionTokens);
      }
    },
  });
  new Counter({
    name: 'inferwatt_attributed_energy_joules_total', help: 'Energy attributed to finished requests, joules.', labelNames: ['model', 'tenant', 'pool'], registers: [registry],
    collect() { this.reset(); for (const t of series.triples()) if (t.recorded) this.inc(t.labels, t.energyJ); },
  });
  new Counter({
    name: 'inferwatt_unattributed_energy_joules_total', help: 'Measured energy not attributed to any request (idle), joules.', registers: [registry],
    collect() {
      this.reset();
      // Never negative by the ledger's books; a counter that went down would fail the whole scrape.
      const j = sources.unattributedJ();
      this.inc(Number.isFinite(j) && j > 0 ? j : 0);
    },
  });
  new Counter({
    name: 'inferwatt_co2e_grams_total', help: 'Operational CO2e of finished requests, grams.', labelNames: ['model', 'tenant', 'pool'], registers: [registry],
    collect() { this.reset(); for (const t of series.triples()) if (t.recorded) this.inc(t.labels, t.co2eGrams); },
  });
  new Counter({
    name: 'inferwatt_water_liters_total', help: 'Water of finished requests (on-site plus off-site), liters.', labelNames: ['model', 'tenant', 'pool'], registers: [registry],
    collect() { this.reset(); for (const t of series.triples()) if (t.recorded) this.inc(t.labels, t.waterLiters); },
  });
  new Gauge({
    name: 'inferwatt_in_flight_requests', help: 'Requests currently in flight through the proxy.', registers: [registry],
    collect() { this.set(sources.inFlight()); },
  });
  new Gauge({
    name: 'inferwatt_grid_intensity_grams_per_kwh', help: 'Grid carbon intensity in use, gCO2e per kWh.', labelNames: ['region', 'source'], registers: [registry],
    collect() { this.reset(); const f = sources.factors(); this.set({ region: f.region, source: f.source }, f.gridGCo2ePerKWh); },
  });
  new Gauge({
    name: 'inferwatt_factor_info', help: 'Impact factors in use (value 1): PUE, on-site WUE (liters per IT kWh), off-site EWIF (liters per facility kWh).',
    labelNames: ['region', 'source', 'year', 'pue', 'wue', 'ewif'], registers: [registry],
    collect() {
      this.reset();
      const f = sources.factors();
      this.set({ region: f.region, source: f.source, year: f.year === null ? '' : String(f.year), pue: String(f.pue), wue: String(f.wue), ewif: String(f.ewif) }, 1);
    },
  });
  new Gauge({
    name: 'inferwatt_sensor_up', help: 'Whether each active sensor is delivering readings (1) or not (0).', labelNames: ['sensor'], registers: [registry],
    collect() { this.reset(); for (const s of sources.sensors()) this.set({ sensor: s.name }, s.health.up ? 1 : 0); },
  });
  new Counter({
    name: 'inferwatt_sensor_errors_total', help: 'Sensor errors by sensor and reason.', labelNames: ['sensor', 'reason'], registers: [registry],
    collect() {
      this.reset();
      for (const s of sources.sensors()) {
        for (const reason of SENSOR_ERROR_REASONS) this.inc({ sensor: s.name, reason }, s.health.errors[reason] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'inferwatt_sensor_last_sample_timestamp_seconds', help: 'Unix time of each sensor\'s last good reading, seconds.', labelNames: ['sensor'], registers: [registry],
    collect() {
      this.reset();
      for (const s of sources.sensors()) {
        if (s.health.lastSampleMs !== undefined) this.set({ sensor: s.name }, (wallOffsetMs + s.health.lastSampleMs) / 1000);
      }
    },
  });
  new Counter({
    name: 'inferwatt_records_write_errors_total', help: 'Records that could not be appended to the records file (--records); /readyz fails after the first.', registers: [registry],
    collect() {
      this.reset();
      this.inc(sources.recordsWriteErrors?.() ?? 0);
    },
  });
  // When this agent's counters started from zero: a report tells a restart (a counter reset) from the
  // change of this value even where the restarted counter has already passed its old value.
  const startTimeS = clock.wallMs() / 1000;
  new Gauge({
    name: 'inferwatt_start_time_seconds', help: 'Unix time at which this agent\'s counters started from zero, seconds.', registers: [registry],
    collect() { this.set(startTimeS); },
  });
  const attribution = opts.attribution;
  if (attribution) {
    new Gauge({
      name: 'inferwatt_attribution_info', help: 'Attribution settings in use (value 1): policy (time, tokens) and idle (unattributed, amortize).',
      labelNames: ['policy', 'idle'], registers: [registry],
      collect() { this.reset(); this.set({ policy: attribution.policy, idle: attribution.idle }, 1); },
    });
  }
  const upstreamErrors = new Counter({ name: 'inferwatt_upstream_errors_total', help: 'Requests the proxy could not complete because of the upstream, by reason.', labelNames: ['reason'], registers: [registry] });
  new Gauge({
    name: 'inferwatt_upstream_up', help: 'Whether each upstream accepted a TCP connection at the last probe (1) or not (0); not part of the agent\'s readiness.',
    labelNames: ['upstream'], registers: [registry],
    collect() {
      this.reset();
      for (const u of sources.upstreams?.() ?? []) if (u.reachable !== null) this.set({ upstream: u.name }, u.reachable ? 1 : 0);
    },
  });
  const dropped = new Counter({ name: 'inferwatt_proxy_connections_dropped_total', help: 'Client connections the proxy closed at once because proxy.maxConnections were open.', registers: [registry] });
  if (sources.crossCheck) {
    const cc = sources.crossCheck.bind(sources);
    new Gauge({
      name: 'inferwatt_gpu_cross_check_energy_joules', help: 'Cross-check mode: GPU energy over the span both sensors cover, by method (counter = NVML, integrated = nvidia-smi), joules.',
      labelNames: ['device', 'method'], registers: [registry],
      collect() {
        this.reset();
        for (const c of cc()) { this.set({ device: c.device, method: 'counter' }, c.nvmlJ); this.set({ device: c.device, method: 'integrated' }, c.nvidiaSmiJ); }
      },
    });
  }

  if (sources.tokenCosts) registerTokenCostMetrics(registry, sources.tokenCosts.bind(sources));
  if (sources.ledger && sources.proxy) registerSelfMetrics(registry, sources.ledger.bind(sources), sources.proxy.bind(sources));

  registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);

  // Known label values exist from start-up at zero, so dashboards and alerts see them before the first event.
  for (const reason of UPSTREAM_ERROR_REASONS) upstreamErrors.inc({ reason }, 0);
  // With a model allow-list the model values are known too: their outcome series exist from start-up,
  // for each allow-listed tenant, or else for `unknown` (no tenant header: the tenant of every request
  // where no tenants are configured). Other pairs get theirs at their first record.
  const startTenants = tenants.allowList().length ? tenants.allowList() : [UNKNOWN_LABEL];
  for (const pool of pools) for (const model of models.allowList()) for (const tenant of startTenants) series.triple(pool, model, tenant);

  // In OpenMetrics mode prom-client strips `_total` from counter names in place; we restore them after.
  const counterNames = new Map(registry.getMetricsAsArray().map((m) => [m, (m as unknown as { name: string }).name]));
  let chain: Promise<unknown> = Promise.resolve();

  return {
    registry,
    observeRecord(rec) {
      // A model or tenant takes a label slot only once the upstream has served it (label-bounder.ts).
      if (admitsLabels(rec)) {
        models.admit(rec.model);
        tenants.admit(rec.tenant);
      }
      // The histograms' exemplars carry the request id (never a label): Grafana links a bucket to
      // /api/requests/:id. Each bucket keeps its latest one, stamped now.
      series.observe(rec.pool, models.label(rec.model), tenants.label(rec.tenant), rec, wallOffsetMs + clock.nowMs());
    },
    upstreamError(reason) { upstreamErrors.inc({ reason }); },
    connectionDropped() { dropped.inc(); },
    render(accept) {
      const open = typeof accept === 'string' && accept.includes('application/openmetrics-text');
      const run = async () => {
        registry.setContentType(open ? Registry.OPENMETRICS_CONTENT_TYPE : Registry.PROMETHEUS_CONTENT_TYPE);
        try {
          const body = await registry.metrics();
          return { contentType: registry.contentType, body };
        } finally {
          for (const [m, name] of counterNames) (m as unknown as { name: string }).name = name;
          registry.setContentType(Registry.PROMETHEUS_CONTENT_TYPE);
        }
      };
      const p = chain.then(run, run);
      chain = p.catch(() => undefined);
      return p;
    },
  };
}


