import { readFileSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import type { Agent } from '../../src/agent.js';
import { createReport, type ReportOptions } from '../../src/report/create-report.js';
import { requireBinary, startPrometheus, waitFor, type PrometheusHandle } from '../helpers/prometheus.js';
import { addSums, scrapeMetrics, sendTraffic, startChatUpstream, startSimulatedAgent, sumBy, waitSettled, type MetricSample, type TrafficItem } from '../helpers/report-rig.js';
import { dashboardQueries, dashboardVariableQueries } from './dashboard-queries.js';
import { FLEET_DASHBOARD, FLEET_RULES_FILE, REPO_ROOT, loadRules } from './promql-names.js';

/**
 * Scenario: the fleet as docs/fleet.md lays it out, all real. Three agents (simulated sensors) in two
 * clusters; each cluster's Prometheus scrapes its agents and adds its `cluster` external label; a
 * global Prometheus federates both, asking /federate for exactly the `match[]` of docs/fleet.md, and
 * runs the fleet rules (config/prometheus/rules/fleet.yml; their 1m group interval shortened to the
 * tests' 1s so the first evaluation comes within seconds). `inferwatt report --by cluster,model` from
 * the global Prometheus equals the sum of the three agents' own counters, exactly; the fleet
 * dashboard's queries all return data there.
 */
const AGENTS: { cluster: string; plan: TrafficItem[] }[] = [
  { cluster: 'eu', plan: [{ model: 'chat-large', tenant: 'team-a', n: 5 }, { model: 'chat-small', tenant: 'team-b', n: 3 }] },
  { cluster: 'eu', plan: [{ model: 'chat-large', tenant: 'team-a', n: 4 }, { model: 'embed-base', tenant: 'team-c', n: 6 }] },
  { cluster: 'us', plan: [{ model: 'chat-large', n: 7 }, { model: 'chat-small', tenant: 'team-b', n: 2 }] },
];
const REGIONS: Record<string, string> = { eu: 'FR', us: 'aws:us-east-1' };

let upstream: Awaited<ReturnType<typeof startChatUpstream>>;
const agents: Agent[] = [];
const clusters: PrometheusHandle[] = [];
let global: PrometheusHandle;
let fromMs: number;
let toMs: number;
let finals: MetricSample[][] = [];

/** The global Prometheus's federation job, with the `match[]` that docs/fleet.md tells users to use. */
function documentedFederationMatch(): string[] {
  const doc = readFileSync(join(REPO_ROOT, 'docs', 'fleet.md'), 'utf8');
  const block = /## Federation[\s\S]*?```yaml\n([\s\S]*?)```/.exec(doc)?.[1];
  if (!block) throw new Error('docs/fleet.md: no yaml block under "## Federation"');
  const cfg = parse(block) as { scrape_configs: { metrics_path: string; params: Record<string, string[]> }[] };
  const job = cfg.scrape_configs.find((j) => j.metrics_path === '/federate');
  if (!job) throw new Error('docs/fleet.md: no /federate job');
  return job.params['match[]']!;
}

async function fastFleetRules(): Promise<string> {
  const rules = loadRules(FLEET_RULES_FILE);
  for (const g of rules.groups) g.interval = '1s';
  const file = join(await mkdtemp(join(tmpdir(), 'inferwatt-fleet-')), 'fleet.yml');
  await writeFile(file, stringify(rules));
  return file;
}

const PER_REQUEST = /^inferwatt_(requests|tokens|attributed_energy_joules|co2e_grams)_total$/;

/** Until the global layer holds every agent's per-request counters as they are now, federated from its cluster. */
async function waitFederated(): Promise<void> {
  await waitFor('the global Prometheus to hold every agent\'s counters', async () => {
    const got = await global.query('{__name__=~"inferwatt_(requests|tokens|attributed_energy_joules|co2e_grams)_total"}');
    const key = (instance: string, name: string, l: Record<string, string>) => JSON.stringify([instance, name, ...Object.entries(l).filter(([k]) => !['__name__', 'job', 'instance', 'cluster'].includes(k)).sort()]);
    const seen = new Map(got.map((s) => [key(s.metric.instance!, s.metric.__name__!, s.metric), Number(s.value![1])]));
    return finals.every((samples, i) => samples.filter((s) => PER_REQUEST.test(s.name)).every((s) => seen.get(key(new URL(agents[i]!.metricsUrl).host, s.name, s.labels)) === s.value)) ? true : undefined;
  }, 30_000, 250);
}

beforeAll(async () => {
  requireBinary('prometheus');
  fromMs = Date.now() - 30_000;
  upstream = await startChatUpstream();
  for (const a of AGENTS) agents.push(await startSimulatedAgent({ upstream: upstream.url, region: REGIONS[a.cluster]! }));
  for (const cluster of ['eu', 'us']) {
    const targets = AGENTS.flatMap((a, i) => (a.cluster === cluster ? [new URL(agents[i]!.metricsUrl).host] : []));
    clusters.push(await startPrometheus({ targets, externalLabels: { cluster } }));
  }
  global = await startPrometheus({
    targets: [],
    ruleFiles: [await fastFleetRules()],
    extraScrapeConfigs: [{
      job_name: 'federate-inferwatt', metrics_path: '/federate', honor_labels: true,
      params: { 'match[]': documentedFederationMatch() },
      static_configs: [{ targets: clusters.map((c) => new URL(c.url).host) }],
    }],
  });
  // In two halves, the second after the global layer has the first: rate() over the fleet rules' hour
  // needs two different samples of a counter (a series first seen at its final value has no rate).
  const half = (a: (typeof AGENTS)[number], second: boolean) => a.plan.map((p) => ({ ...p, n: second ? p.n - Math.ceil(p.n / 2) : Math.ceil(p.n / 2) }));
  for (const second of [false, true]) {
    await Promise.all(AGENTS.map(async (a, i) => {
      const plan = half(a, second);
      expect(await sendTraffic(agents[i]!.proxyUrl!, plan)).toBe(plan.reduce((s, p) => s + p.n, 0));
      await waitSettled(agents[i]!, (second ? a.plan : plan).reduce((s, p) => s + p.n, 0));
    }));
    finals = await Promise.all(agents.map((a) => scrapeMetrics(a.metricsUrl)));
    await waitFederated();
  }
  toMs = Date.now();
}, 120_000);

afterAll(async () => {
  await global?.stop();
  await Promise.all(clusters.map((c) => c.stop()));
  await Promise.all(agents.map((a) => a.stop()));
  await upstream?.close();
}, 60_000);

const options = (over: Partial<ReportOptions> = {}): ReportOptions => ({
  source: { kind: 'prometheus', url: global.url, match: null },
  period: { fromMs, toMs }, by: ['cluster', 'model'], market: [],
  embodied: { hostKgCo2e: null, lifetimeYears: null, source: null, year: null },
  version: 'test', nowMs: toMs, ...over,
});
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

/** Σ over the agents of a counter by model, each agent's sums keyed by its cluster. */
function fleetSums(name: string, filter?: (l: Record<string, string>) => boolean): Map<string, number> {
  return addSums(...finals.map((samples, i) => new Map([...sumBy(samples, name, ['model'], filter)].map(([m, v]) => [`${AGENTS[i]!.cluster}|${m}`, v]))));
}

describe('inferwatt report from a global Prometheus federating two cluster Prometheus servers', () => {
  it('--by cluster,model equals the sum of the three agents\' counters, exactly for counts', async () => {
    const r = await createReport(options());
    const requests = fleetSums('inferwatt_requests_total');
    const prompt = fleetSums('inferwatt_tokens_total', (l) => l.type === 'prompt');
    const completion = fleetSums('inferwatt_tokens_total', (l) => l.type === 'completion');
    const energy = fleetSums('inferwatt_attributed_energy_joules_total');
    const co2e = fleetSums('inferwatt_co2e_grams_total');
    expect(r.groups.map((g) => `${g.cluster}|${g.model}`).sort()).toEqual(['eu|chat-large', 'eu|chat-small', 'eu|embed-base', 'us|chat-large', 'us|chat-small']);
    for (const g of r.groups) {
      const k = `${g.cluster}|${g.model}`;
      expect([g.requests, g.promptTokens, g.completionTokens], k).toEqual([requests.get(k), prompt.get(k), completion.get(k) ?? 0]);
      expect(rel(g.energyJ.attributed, energy.get(k)!), k).toBeLessThan(1e-12);
      // Location-based CO2e is the agents' CO2e plus the idle share at each cluster's own intensity: at least the counters.
      expect(g.co2eGrams.location, k).toBeGreaterThanOrEqual(co2e.get(k)! * (1 - 1e-12));
    }
    expect(r.totals.requests).toBe(AGENTS.reduce((s, a) => s + a.plan.reduce((x, p) => x + p.n, 0), 0));
    expect(r.coverage.instances.map((c) => c.cluster).sort()).toEqual(['eu', 'eu', 'us']);
    expect(r.boundary.hosts).toBe(3);
  });

  it('each cluster\'s CO2e uses its own factors: the two regions appear with their intensities', async () => {
    const r = await createReport(options());
    const grids = r.factors.filter((f) => f.factor === 'gridGCo2ePerKWh').map((f) => [f.region, f.value]).sort();
    expect(grids).toEqual([['FR', agents[0]!.factors().gridGCo2ePerKWh], ['aws:us-east-1', agents[2]!.factors().gridGCo2ePerKWh]].sort());
    const us = await createReport(options({ source: { kind: 'prometheus', url: global.url, match: 'cluster="us"' }, by: ['model'] }));
    expect(us.totals.requests).toBe(9);
    expect(us.coverage.instances.map((c) => c.instance)).toEqual([new URL(agents[2]!.metricsUrl).host]);
  });

  it('every query and variable of the fleet dashboard returns data from the global Prometheus', { timeout: 40_000 }, async () => {
    const queries = dashboardQueries().filter((q) => q.where.startsWith(FLEET_DASHBOARD));
    const variables = dashboardVariableQueries().filter((v) => v.where.startsWith(FLEET_DASHBOARD));
    expect(queries.length).toBeGreaterThanOrEqual(10);
    const emptyNow = async () => {
      const missing: string[] = [];
      for (const q of queries) if (!(await global.query(q.expr)).length) missing.push(`${q.where}: ${q.expr}`);
      for (const v of variables) if (!(await global.query(v.selector)).some((s) => s.metric[v.label])) missing.push(`${v.where}: no ${v.label} values`);
      return missing;
    };
    const clustersNow = async () => (await global.query('sum by (cluster) (cluster_model:inferwatt_requests:rate1h)')).map((s) => s.metric.cluster).sort();
    // The records are evaluated every second from what the last federation scrapes brought (a scrape of
    // one cluster can come a round later than the other's, or miss one on a loaded host): poll until no
    // query is empty and both clusters are in the fleet rules, then state what is (or is not).
    await waitFor('every fleet dashboard query to return data, for both clusters', async () =>
      ((await emptyNow()).length === 0 && (await clustersNow()).join() === 'eu,us' ? true : undefined), 30_000, 500).catch(() => undefined);
    const empty = await emptyNow();
    expect(empty).toEqual([]);
    expect(await clustersNow()).toEqual(['eu', 'us']);
  });
});
