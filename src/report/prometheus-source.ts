/**
 * A report from the counters a real Prometheus kept (`--prometheus URL`, one agent or a whole fleet;
 * `--match` narrows it). Totals are exact: the raw samples of every counter series are read (never
 * `increase()`, which extrapolates) and each series' increase over the period is its value at the end
 * minus its value at the start, across restarts (counter-increase.ts). Energy is converted with the
 * factors each agent had in force at each sample (inferwatt_factor_info, the grid intensity).
 *
 * The period is read in chunks (6 h by default) so that memory stays bounded on long periods: per
 * series only its last sample is carried from one chunk to the next, per agent only the factors and
 * start time in force.
 *
 * A host is one agent: the labels its series share (job, instance, cluster and any target labels).
 */
import type { FactorsInForce, ReportAccumulator, SeriesLabels } from './accumulator.js';
import { createCounterIncrease, type CounterIncrease } from './counter-increase.js';
import { createCoverageTracker, type CoverageTracker } from './coverage.js';
import type { Period } from './period.js';
import { PromQueryError, type PrometheusClient, type PromSeries } from './prometheus-client.js';
import { ReportError, ReportUsageError, type SourceFacts } from './source.js';
import { createStepSeries, type StepSeries } from './step-series.js';
import { ABSENT_LABEL, type InstanceCoverage } from './types.js';

const IDLE = 'inferwatt_unattributed_energy_joules_total';
const COUNTERS = {
  inferwatt_requests_total: 'requests',
  inferwatt_tokens_total: 'tokens',
  inferwatt_attributed_energy_joules_total: 'attributed',
  inferwatt_co2e_grams_total: 'co2e',
} as const;
type CounterKind = (typeof COUNTERS)[keyof typeof COUNTERS];

/** Labels that say what a series measures, not which agent it comes from. */
const DATA_LABELS = new Set(['__name__', 'model', 'tenant', 'pool', 'outcome', 'type', 'region', 'source', 'year', 'pue', 'wue', 'ewif', 'policy', 'idle', 'device', 'kind', 'method']);

export const DEFAULT_CHUNK_MS = 6 * 3_600_000;
/** How far before the period to look for each series' value at its start (several scrape or federation intervals). */
export const DEFAULT_LOOKBACK_MS = 10 * 60_000;

export interface PrometheusSourceOptions {
  client: PrometheusClient;
  /** Label matchers without braces (`cluster="eu",instance=~"gpu-.*"`), or null for every agent. */
  match: string | null;
  period: Period;
  acc: ReportAccumulator;
  chunkMs?: number;
  lookbackMs?: number;
}

interface Host {
  key: string;
  labels: Record<string, string>;
  start: StepSeries<number>;
  info: StepSeries<Omit<FactorsInForce, 'gridGCo2ePerKWh'>>;
  intensity: StepSeries<number>;
  coverage: CoverageTracker;
  attribution: Set<string>;
  devices: Set<string>;
  uncountedFirst: number;
  lastStartS: number | undefined;
}

/** `{a="b"}` or `a="b"` → `a="b"`; empty → null. */
export function normalizeMatch(match: string | undefined): string | null {
  if (match === undefined) return null;
  const m = match.trim().replace(/^\{/, '').replace(/\}$/, '').trim();
  return m === '' ? null : m;
}

export async function readPrometheus(opts: PrometheusSourceOptions): Promise<SourceFacts> {
  const { client, period, acc } = opts;
  const chunkMs = opts.chunkMs ?? DEFAULT_CHUNK_MS;
  const lookbackMs = opts.lookbackMs ?? DEFAULT_LOOKBACK_MS;
  const sel = (name: string) => `${name}{${opts.match ?? ''}}`;
  const hosts = new Map<string, Host>();
  const series = new Map<string, CounterIncrease>();
  let anyData = false;

  // A matcher Prometheus refuses is a usage error, found before anything is read.
  try {
    await client.query(`count(${sel(IDLE)})`, period.toMs);
  } catch (err) {
    if (err instanceof PromQueryError) throw new ReportUsageError(`--match "${opts.match}" is not a label matcher Prometheus accepts: ${err.promMessage}`);
    throw err;
  }

  const hostOf = (metric: Record<string, string>): Host => {
    const own = Object.entries(metric).filter(([k]) => !DATA_LABELS.has(k)).sort(([a], [b]) => a.localeCompare(b));
    const key = JSON.stringify(own);
    let h = hosts.get(key);
    if (!h) {
      h = {
        key, labels: Object.fromEntries(own), start: createStepSeries(), info: createStepSeries(), intensity: createStepSeries(),
        coverage: createCoverageTracker(period.fromMs, period.toMs), attribution: new Set(), devices: new Set(), uncountedFirst: 0, lastStartS: undefined,
      };
      hosts.set(key, h);
    }
    return h;
  };
  const labelsOf = (m: Record<string, string>): SeriesLabels => ({
    model: m.model ?? ABSENT_LABEL, tenant: m.tenant ?? ABSENT_LABEL, pool: m.pool ?? ABSENT_LABEL,
    instance: m.instance ?? ABSENT_LABEL, cluster: m.cluster ?? ABSENT_LABEL,
  });
  const factorsAt = (h: Host, tMs: number): FactorsInForce => {
    const info = h.info.at(tMs);
    const g = h.intensity.at(tMs);
    if (!info || g === undefined) {
      throw new ReportError('FACTORS_MISSING', `no ${info ? 'inferwatt_grid_intensity_grams_per_kwh' : 'inferwatt_factor_info'} for ${describeHost(h)} in Prometheus at ${client.url}: the report converts energy with each agent's factors; federate them too (docs/fleet.md, match[])`);
    }
    return { ...info, gridGCo2ePerKWh: g };
  };
  const samples = (s: PromSeries): [number, number][] =>
    (s.values ?? []).map(([t, v]) => [Math.round(t * 1000), Number(v)] as [number, number]).filter(([, v]) => Number.isFinite(v));

  /** The increase of one sample of a counter series, with its first value counted only where the counter was at zero at the period's start. */
  const increment = (h: Host, key: string, tMs: number, v: number): { delta: number; reset: boolean; prevMs: number | undefined } | undefined => {
    let tracker = series.get(key);
    if (!tracker) series.set(key, (tracker = createCounterIncrease(period.fromMs, period.toMs)));
    const prevMs = tracker.lastMs();
    const startS = h.start.atOrBefore(tMs);
    const inc = tracker.push(tMs, v, startS);
    if (!inc) return undefined;
    if (inc.first) {
      // No sample of this series at or before the start. Its first value counts whole where the counter
      // was at zero then: the agent started inside the period, or the agent was sampled before this
      // series appeared (at the start, or at an earlier scrape: a new model or tenant). Otherwise (the
      // agent ran before the period and this is its first scrape in it) the value includes what the
      // agent counted before the period, unknown: counting starts at this sample, and it is said.
      const startedInside = startS !== undefined && startS * 1000 >= period.fromMs;
      const seenBefore = h.coverage.hasBaseline() || (h.coverage.firstMs() ?? Infinity) < tMs;
      if (!startedInside && !seenBefore && startS !== undefined) {
        h.uncountedFirst++;
        return { delta: 0, reset: false, prevMs };
      }
    }
    return { delta: inc.delta, reset: inc.reset, prevMs };
  };

  const t0 = period.fromMs - lookbackMs;
  for (let c0 = t0; c0 < period.toMs; c0 = Math.min(period.toMs, c0 + chunkMs)) {
    const c1 = Math.min(period.toMs, c0 + chunkMs);
    const range = `[${Math.max(1, Math.round(c1 - c0))}ms]`;
    const raw = (name: string) => client.query(`${sel(name)}${range}`, c1);
    const last = (name: string) => client.query(`last_over_time(${sel(name)}${range})`, c1);
    const [starts, infos, intensities, attributions, devices, idle, ...counters] = await Promise.all([
      raw('inferwatt_start_time_seconds'), raw('inferwatt_factor_info'), raw('inferwatt_grid_intensity_grams_per_kwh'),
      last('inferwatt_attribution_info'), last('inferwatt_device_power_watts'), raw(IDLE),
      ...Object.keys(COUNTERS).map((n) => raw(n)),
    ]);

    for (const s of starts) { const h = hostOf(s.metric); for (const [t, v] of samples(s)) { h.start.push(t, v); if (t <= period.toMs) h.lastStartS = v; } }
    for (const s of infos) {
      const h = hostOf(s.metric);
      const m = s.metric;
      const year = m.year ? Number(m.year) : NaN;
      const f = { region: m.region ?? 'world', source: m.source ?? '', year: Number.isFinite(year) ? year : null, pue: Number(m.pue), wue: Number(m.wue), ewif: Number(m.ewif) };
      for (const [t] of samples(s)) h.info.push(t, f);
    }
    for (const s of intensities) { const h = hostOf(s.metric); for (const [t, v] of samples(s)) h.intensity.push(t, v); }
    for (const s of attributions) hostOf(s.metric).attribution.add(JSON.stringify([s.metric.policy ?? '', s.metric.idle ?? '']));
    for (const s of devices) hostOf(s.metric).devices.add(JSON.stringify([s.metric.device ?? '', s.metric.kind ?? '', s.metric.method ?? '']));

    // The idle counter first: it is the agent's heartbeat (one series per agent, every scrape), and
    // the other counters' first values depend on whether the agent was sampled at the period's start.
    for (const s of idle) {
      const h = hostOf(s.metric);
      const key = JSON.stringify(['idle', h.key]);
      for (const [t, v] of samples(s)) {
        h.coverage.push(t);
        const inc = increment(h, key, t, v);
        if (!inc) continue;
        if (inc.reset) h.coverage.restart(inc.prevMs, t);
        if (inc.delta > 0) { anyData = true; acc.idle(t, h.key, inc.delta, factorsAt(h, t)); }
      }
    }
    Object.values(COUNTERS).forEach((kind: CounterKind, i) => {
      for (const s of counters[i]!) {
        const h = hostOf(s.metric);
        const labels = labelsOf(s.metric);
        const key = JSON.stringify([kind, s.metric]);
        for (const [t, v] of samples(s)) {
          const inc = increment(h, key, t, v);
          if (!inc || !(inc.delta > 0)) continue;
          anyData = true;
          if (kind === 'requests') acc.requests(t, labels, h.key, inc.delta);
          else if (kind === 'tokens') acc.tokens(t, labels, h.key, s.metric.type === 'prompt' ? 'prompt' : 'completion', inc.delta);
          else if (kind === 'attributed') acc.attributed(t, labels, h.key, inc.delta, factorsAt(h, t));
          else acc.co2e(t, labels, h.key, inc.delta);
        }
      }
    });
    for (const h of hosts.values()) { h.start.trim(c1); h.info.trim(c1); h.intensity.trim(c1); }
  }

  const sampled = [...hosts.values()].filter((h) => h.coverage.sampled());
  if (!sampled.length) {
    throw new ReportError('NO_DATA', `no data in range: Prometheus at ${client.url} has no ${IDLE} samples${opts.match ? ` matching {${opts.match}}` : ''} between ${new Date(period.fromMs).toISOString()} and ${new Date(period.toMs).toISOString()} (is an agent scraped there, and is the period right?)`);
  }

  const notes: string[] = [];
  const coverage: InstanceCoverage[] = [];
  const hostSpanMs = new Map<string, number>();
  const deviceCount = new Map<string, number>();
  const policies = new Set<string>();
  const idles = new Set<string>();
  for (const h of sampled.sort((a, b) => describeHost(a).localeCompare(describeHost(b)))) {
    const done = h.coverage.finish(h.lastStartS);
    coverage.push({ instance: h.labels.instance ?? ABSENT_LABEL, cluster: h.labels.cluster ?? ABSENT_LABEL, job: h.labels.job ?? ABSENT_LABEL, ...done.coverage });
    hostSpanMs.set(h.key, done.spanMs);
    if (h.uncountedFirst) notes.push(`${describeHost(h)}: not sampled at the start of the period although its agent was already running, so its counting starts at its first sample (${done.coverage.firstSample}); what it counted before that is not in the report`);
    if (h.lastStartS === undefined) notes.push(`${describeHost(h)}: its agent does not export inferwatt_start_time_seconds (an older version, or not federated): restarts are told only by counters going down`);
    for (const d of h.devices) {
      const [, kind, method] = JSON.parse(d) as [string, string, string];
      const k = JSON.stringify([kind, method]);
      deviceCount.set(k, (deviceCount.get(k) ?? 0) + 1);
    }
    for (const a of h.attribution) {
      const [policy, idle] = JSON.parse(a) as [string, string];
      policies.add(policy);
      idles.add(idle);
    }
  }
  if (!policies.size) notes.push('the agents do not export inferwatt_attribution_info (older versions, or not federated): the attribution policy is unknown');
  return {
    hostSpanMs, coverage, notes,
    devices: [...deviceCount.entries()].map(([k, count]) => { const [kind, method] = JSON.parse(k) as [string, string]; return { kind, method, count }; })
      .sort((a, b) => a.kind.localeCompare(b.kind) || a.method.localeCompare(b.method)),
    hosts: sampled.length,
    attribution: { policy: [...policies].sort(), idle: [...idles].sort() },
    idle: 'included: each agent\'s unattributed energy (measured while none of its requests ran), shared over the groups of that agent in proportion to their attributed energy',
    anyData,
  };
}

function describeHost(h: Host): string {
  const l = h.labels;
  const parts = [l.cluster ? `cluster ${l.cluster}` : undefined, l.job ? `job ${l.job}` : undefined, l.instance ? `instance ${l.instance}` : undefined].filter(Boolean);
  return parts.length ? parts.join(', ') : h.key;
}
