import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { main } from '../../src/cli.js';
import { createReport, type ReportOptions } from '../../src/report/create-report.js';
import type { Figures, GroupKey, Report } from '../../src/report/types.js';
import { freePort, requireBinary, startPrometheus, waitFor, type PrometheusHandle } from '../helpers/prometheus.js';
import {
  addSums, scrapeMetrics, sendTraffic, startChatUpstream, startMetricsFront, startSimulatedAgent, sumBy, waitSettled, type MetricSample,
} from '../helpers/report-rig.js';

/**
 * Scenario: `inferwatt report` against a real Prometheus (Debian's, scraping every second) that scrapes
 * a real agent on simulated sensors, through an HTTP front so that the scrape target stays the same
 * when the agent restarts. The agent serves three models for three tenants (and requests without a
 * tenant), then restarts while Prometheus cannot reach it, and after the restart serves more than
 * before, so that its counters are above their old values by the first scrape: only the agent's start
 * time tells that restart from growth. The period starts a minute before the agent existed. Both
 * agents append to one records file.
 */
const PLAN_1 = [
  { model: 'chat-large', tenant: 'team-a', n: 6 },
  { model: 'chat-small', tenant: 'team-b', n: 4 },
  { model: 'chat-large', n: 3 },
];
const PLAN_2 = [
  { model: 'chat-large', tenant: 'team-a', n: 14 },
  { model: 'chat-small', tenant: 'team-b', n: 6 },
  { model: 'embed-base', tenant: 'team-c', n: 5 },
];
const count = (plan: typeof PLAN_1) => plan.reduce((s, p) => s + p.n, 0);

let upstream: Awaited<ReturnType<typeof startChatUpstream>>;
let front: Awaited<ReturnType<typeof startMetricsFront>>;
let prom: PrometheusHandle;
let agent1: Agent;
let agent2: Agent;
let records: string;
let fromMs: number;
let midMs: number;
let toMs: number;
let c1: MetricSample[];
let c2: MetricSample[];
let c2BeforeResume: MetricSample[];

const PER_REQUEST = /^inferwatt_(requests|tokens|attributed_energy_joules|co2e_grams)_total$/;

/** Until Prometheus's latest sample of every per-request counter series of the agent equals the agent's value now. */
async function waitScraped(agent: Agent): Promise<MetricSample[]> {
  return waitFor('Prometheus to hold the agent\'s final counters', async () => {
    const all = await scrapeMetrics(agent.metricsUrl);
    const mine = all.filter((s) => PER_REQUEST.test(s.name));
    const got = await prom.query('{__name__=~"inferwatt_(requests|tokens|attributed_energy_joules|co2e_grams)_total"}');
    const key = (name: string, l: Record<string, string>) => JSON.stringify([name, ...Object.entries(l).filter(([k]) => !['__name__', 'job', 'instance'].includes(k)).sort()]);
    const seen = new Map(got.map((s) => [key(s.metric.__name__!, s.metric), Number(s.value![1])]));
    return mine.every((s) => seen.get(key(s.name, s.labels)) === s.value) ? all : undefined;
  }, 20_000, 200);
}

const options = (over: Partial<ReportOptions> = {}): ReportOptions => ({
  source: { kind: 'prometheus', url: prom.url, match: null },
  period: { fromMs, toMs }, by: ['model', 'tenant'], market: [],
  embodied: { hostKgCo2e: null, lifetimeYears: null, source: null, year: null },
  version: 'test', nowMs: toMs, ...over,
});
const group = (r: Report, keys: Partial<Record<GroupKey, string>>) => r.groups.find((g) => Object.entries(keys).every(([k, v]) => g[k as GroupKey] === v));
const rel = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

beforeAll(async () => {
  requireBinary('prometheus');
  upstream = await startChatUpstream();
  front = await startMetricsFront();
  records = join(mkdtempSync(join(tmpdir(), 'inferwatt-report-')), 'records.jsonl');
  fromMs = Date.now() - 60_000;
  prom = await startPrometheus({ targets: [front.hostPort] });

  agent1 = await startSimulatedAgent({ upstream: upstream.url, records });
  front.target(agent1.metricsUrl);
  expect(await sendTraffic(agent1.proxyUrl!, PLAN_1)).toBe(count(PLAN_1));
  await waitSettled(agent1, count(PLAN_1));
  c1 = await waitScraped(agent1);
  midMs = Date.now();
  // A few scrapes of each agent, so that the typical interval (and so a gap) is known.
  const samplesSoFar = async () => Number((await prom.query('count_over_time(inferwatt_unattributed_energy_joules_total[5m])'))[0]?.value?.[1] ?? 0);
  await waitFor('four scrapes of the first agent', async () => ((await samplesSoFar()) >= 4 ? true : undefined), 20_000, 250);
  const firstAgentSamples = await samplesSoFar();

  // Restart out of Prometheus's sight: three failed scrapes at least, so the gap is plain.
  front.target(undefined);
  await agent1.stop();
  agent2 = await startSimulatedAgent({ upstream: upstream.url, records });
  expect(await sendTraffic(agent2.proxyUrl!, PLAN_2)).toBe(count(PLAN_2));
  await waitSettled(agent2, count(PLAN_2));
  c2BeforeResume = await scrapeMetrics(agent2.metricsUrl);
  await waitFor('three failed scrapes', async () => {
    const r = await prom.query('count_over_time((up{job="inferwatt"} == 0)[1m:])');
    return Number(r[0]?.value?.[1] ?? 0) >= 3 ? true : undefined;
  }, 20_000, 250);
  front.target(agent2.metricsUrl);
  c2 = await waitScraped(agent2);
  await waitFor('four scrapes of the second agent', async () => ((await samplesSoFar()) >= firstAgentSamples + 4 ? true : undefined), 20_000, 250);
  toMs = Date.now();
}, 120_000);

afterAll(async () => {
  await prom?.stop();
  await agent2?.stop();
  await agent1?.stop();
  await front?.close();
  await upstream?.close();
}, 60_000);

describe('inferwatt report from a real Prometheus scraping a real agent', () => {
  it('counts requests and tokens exactly and energy and CO2e to float error, per model and tenant, across the restart', async () => {
    const r = await createReport(options());
    const keys = ['model', 'tenant'];
    const requests = addSums(sumBy(c1, 'inferwatt_requests_total', keys), sumBy(c2, 'inferwatt_requests_total', keys));
    const prompt = addSums(sumBy(c1, 'inferwatt_tokens_total', keys, (l) => l.type === 'prompt'), sumBy(c2, 'inferwatt_tokens_total', keys, (l) => l.type === 'prompt'));
    const completion = addSums(sumBy(c1, 'inferwatt_tokens_total', keys, (l) => l.type === 'completion'), sumBy(c2, 'inferwatt_tokens_total', keys, (l) => l.type === 'completion'));
    const energy = addSums(sumBy(c1, 'inferwatt_attributed_energy_joules_total', keys), sumBy(c2, 'inferwatt_attributed_energy_joules_total', keys));
    const expected = [...requests.entries()].filter(([, n]) => n > 0).map(([k]) => k).sort();
    expect(r.groups.map((g) => `${g.model}|${g.tenant}`).sort()).toEqual(expected);
    expect(expected).toEqual(['chat-large|team-a', 'chat-large|unknown', 'chat-small|team-b', 'embed-base|team-c']);
    for (const g of r.groups) {
      const k = `${g.model}|${g.tenant}`;
      expect(g.requests, k).toBe(requests.get(k));
      expect(g.promptTokens, k).toBe(prompt.get(k));
      expect(g.completionTokens, k).toBe(completion.get(k) ?? 0);
      expect(rel(g.energyJ.attributed, energy.get(k)!), k).toBeLessThan(1e-12);
    }
    // 6 + 14 requests of chat-large for team-a: the restarted counter's 14 is not taken for an increase of 8.
    expect(group(r, { model: 'chat-large', tenant: 'team-a' })!.requests).toBe(20);
    expect(r.totals.requests).toBe(count(PLAN_1) + count(PLAN_2));
    expect(r.totals.promptTokens).toBe(6 * 40 + 4 * 20 + 3 * 40 + 14 * 40 + 6 * 20 + 5 * 64);
    expect(r.totals.completionTokens).toBe(6 * 90 + 4 * 15 + 3 * 90 + 14 * 90 + 6 * 15);
  });

  it('only the agent\'s start time told the restart: its counters had passed their old values by the first scrape after it', async () => {
    const before = sumBy(c1, 'inferwatt_requests_total', ['model', 'tenant']).get('chat-large|team-a')!;
    const after = sumBy(c2BeforeResume, 'inferwatt_requests_total', ['model', 'tenant']).get('chat-large|team-a')!;
    expect(after).toBeGreaterThan(before);
    const r = await createReport(options({ by: [] }));
    const [cov] = r.coverage.instances;
    expect(r.coverage.instances).toHaveLength(1);
    expect(cov!.instance).toBe(front.hostPort);
    expect(cov!.restarts).toHaveLength(1);
    expect(cov!.gaps.some((g) => /restarted in this gap/.test(g.why) && g.seconds >= 2)).toBe(true);
    expect(cov!.agentStartedAt).toBe(new Date(Number((c2.find((s) => s.name === 'inferwatt_start_time_seconds') ?? { value: NaN }).value) * 1000).toISOString());
  });

  it('a period that starts before the agent existed counts its counters from zero and says when it started', async () => {
    const r = await createReport(options({ by: [] }));
    const startGap = r.coverage.instances[0]!.gaps[0]!;
    expect(startGap.from).toBe(new Date(fromMs).toISOString());
    expect(startGap.why).toMatch(/had not started yet/);
    expect(r.totals.requests).toBe(count(PLAN_1) + count(PLAN_2));
  });

  it('a period that starts after the first agent\'s traffic counts only what came after: its value at the start is subtracted', async () => {
    const r = await createReport(options({ period: { fromMs: midMs, toMs } }));
    const requests = sumBy(c2, 'inferwatt_requests_total', ['model', 'tenant']);
    expect(r.groups.map((g) => [`${g.model}|${g.tenant}`, g.requests]).sort()).toEqual([...requests.entries()].filter(([, n]) => n > 0).sort());
    expect(r.totals.requests).toBe(count(PLAN_2));
    const energy = [...sumBy(c2, 'inferwatt_attributed_energy_joules_total', []).values()][0]!;
    expect(rel(r.totals.energyJ.attributed, energy)).toBeLessThan(1e-12);
  });

  it('idle energy is the idle counter\'s own increase: the first agent\'s last scraped value plus the second\'s at the end', async () => {
    const r = await createReport(options({ by: [] }));
    // Independent of the report's code: PromQL over the same samples, each run on its own.
    const first = Number((await prom.query(`max_over_time(inferwatt_unattributed_energy_joules_total[5m] @ ${(midMs / 1000).toFixed(3)})`))[0]!.value![1]);
    const series = await prom.query(`inferwatt_unattributed_energy_joules_total[2m] @ ${(toMs / 1000).toFixed(3)}`);
    const start2 = Number(c2.find((s) => s.name === 'inferwatt_start_time_seconds')!.value) * 1000;
    const lastOfFirst = Math.max(...series[0]!.values!.filter(([t]) => t * 1000 < start2).map(([, v]) => Number(v)));
    const endOfSecond = Number(series[0]!.values!.at(-1)![1]);
    expect(lastOfFirst).toBeGreaterThanOrEqual(first);
    expect(rel(r.totals.energyJ.idle, lastOfFirst + endOfSecond)).toBeLessThan(1e-12);
    expect(r.totals.energyJ.idle).toBeGreaterThan(0);
  });

  it('facility energy, CO2e, water and SCI follow from the counters and the agent\'s factors (hand computation)', async () => {
    const r = await createReport(options({ by: [] }));
    const f = agent2.factors();
    const attributed = [...addSums(sumBy(c1, 'inferwatt_attributed_energy_joules_total', []), sumBy(c2, 'inferwatt_attributed_energy_joules_total', [])).values()][0]!;
    const co2e = [...addSums(sumBy(c1, 'inferwatt_co2e_grams_total', []), sumBy(c2, 'inferwatt_co2e_grams_total', [])).values()][0]!;
    const t: Figures = r.totals;
    const idle = t.energyJ.idle;
    const kWh = (j: number) => j / 3.6e6;
    expect(rel(t.energyJ.facility, (attributed + idle) * f.pue)).toBeLessThan(1e-12);
    expect(rel(t.co2eGrams.location, co2e + kWh(idle) * f.pue * f.gridGCo2ePerKWh)).toBeLessThan(1e-12);
    expect(rel(t.waterLiters.onsite, kWh(attributed + idle) * f.wue)).toBeLessThan(1e-12);
    expect(rel(t.waterLiters.offsite, kWh(attributed + idle) * f.pue * f.ewif)).toBeLessThan(1e-12);
    expect(rel(t.sci.gPerQuery!, t.co2eGrams.location / (count(PLAN_1) + count(PLAN_2)))).toBeLessThan(1e-12);
    expect(rel(t.sci.gPer1kTokens!, (t.co2eGrams.location * 1000) / (t.promptTokens + t.completionTokens))).toBeLessThan(1e-12);
    // Not configured: no market-based or embodied figure, null rather than 0.
    expect(t.co2eGrams.market).toBeNull();
    expect(t.co2eGrams.embodied).toBeNull();
    expect(r.groups.every((g) => g.co2eGrams.market === null)).toBe(true);
    expect(r.factors.find((x) => x.factor === 'gridGCo2ePerKWh')).toMatchObject({ region: 'FR', value: f.gridGCo2ePerKWh, source: f.source, year: f.year, citation: expect.stringMatching(/Ember/) });
    expect(r.attribution.policy).toEqual(['time']);
    expect(r.attribution.idle).toEqual(['unattributed']);
  });

  it('the records file gives the same requests, tokens, attributed energy and CO2e as Prometheus', async () => {
    const fromProm = await createReport(options({ by: ['model', 'tenant', 'pool'] }));
    const fromRecords = await createReport(options({ source: { kind: 'records', files: [records] }, by: ['model', 'tenant', 'pool'] }));
    const co2e = addSums(sumBy(c1, 'inferwatt_co2e_grams_total', ['model', 'tenant']), sumBy(c2, 'inferwatt_co2e_grams_total', ['model', 'tenant']));
    expect(fromRecords.groups.map((g) => `${g.model}|${g.tenant}|${g.pool}`).sort()).toEqual(fromProm.groups.map((g) => `${g.model}|${g.tenant}|${g.pool}`).sort());
    for (const g of fromRecords.groups) {
      const p = group(fromProm, { model: g.model!, tenant: g.tenant!, pool: g.pool! })!;
      expect([g.requests, g.promptTokens, g.completionTokens]).toEqual([p.requests, p.promptTokens, p.completionTokens]);
      expect(rel(g.energyJ.attributed, p.energyJ.attributed)).toBeLessThan(1e-12);
      // Records hold no idle energy (unattributed policy): their location CO2e is the agents' CO2e counter.
      expect(g.energyJ.idle).toBe(0);
      expect(rel(g.co2eGrams.location, co2e.get(`${g.model}|${g.tenant}`)!)).toBeLessThan(1e-12);
    }
    expect(fromRecords.boundary.idle).toMatch(/not included/);
  });

  it('reading the period in small chunks gives the same report as in one', async () => {
    const one = await createReport(options({ lookbackMs: 60_000 }));
    const chunked = await createReport(options({ lookbackMs: 60_000, chunkMs: 1700 }));
    expect(chunked.groups).toEqual(one.groups.map((g) => expect.objectContaining({ model: g.model, tenant: g.tenant, requests: g.requests, promptTokens: g.promptTokens })));
    expect(chunked.totals.requests).toBe(one.totals.requests);
    expect(rel(chunked.totals.energyJ.idle, one.totals.energyJ.idle)).toBeLessThan(1e-12);
    expect(rel(chunked.totals.co2eGrams.location, one.totals.co2eGrams.location)).toBeLessThan(1e-12);
    expect(chunked.coverage.instances[0]!.restarts).toEqual(one.coverage.instances[0]!.restarts);
  });

  it('groups by pool and instance: the one pool of the agent and the scrape target', async () => {
    const r = await createReport(options({ by: ['pool', 'instance'] }));
    expect(r.groups.map((g) => [g.pool, g.instance, g.requests])).toEqual([['default', front.hostPort, count(PLAN_1) + count(PLAN_2)]]);
    // The host's whole idle energy is in its one group.
    expect(rel(r.groups[0]!.energyJ.idle, r.totals.energyJ.idle)).toBeLessThan(1e-12);
  });

  it('market-based CO2e from contractual factors in --config: facility kWh × factor; the CLI prints the same JSON', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-report-cfg-'));
    const config = join(dir, 'market.yaml');
    writeFileSync(config, [
      'impacts:',
      '  market:',
      '    - { region: FR, from: "2020-01-01", to: null, gCo2ePerKWh: 12.5, kind: supplier-specific, source: "test supplier disclosure", year: 2025 }',
    ].join('\n'));
    let out = '';
    let err = '';
    const rc = await main(['report', '--prometheus', prom.url, '--from', new Date(fromMs).toISOString(), '--to', new Date(toMs).toISOString(), '--by', 'model,tenant', '--format', 'json', '--config', config],
      { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
    expect(err).toBe('');
    expect(rc).toBe(0);
    const r = JSON.parse(out) as Report;
    expect(rel(r.totals.co2eGrams.market!, (r.totals.energyJ.facility / 3.6e6) * 12.5)).toBeLessThan(1e-12);
    for (const g of r.groups) expect(rel(g.co2eGrams.market!, (g.energyJ.facility / 3.6e6) * 12.5)).toBeLessThan(1e-12);
    expect(r.factors.find((f) => f.factor === 'market')).toMatchObject({ region: 'FR', value: 12.5, method: 'supplier-specific', source: 'test supplier disclosure', year: 2025 });
    const lib = await createReport(options());
    expect(r.groups.map((g) => [g.model, g.tenant, g.requests, g.energyJ])).toEqual(lib.groups.map((g) => [g.model, g.tenant, g.requests, g.energyJ]));
  });

  it('the CLI says what is wrong: no data in range (1), a --match Prometheus refuses (2), an unreachable Prometheus (1)', async () => {
    const run = async (args: string[]) => {
      let err = '';
      const rc = await main(['report', ...args], { stdout: () => {}, stderr: (s) => { err += s; }, env: {} });
      return { rc, err };
    };
    const early = await run(['--prometheus', prom.url, '--from', new Date(fromMs - 3_600_000).toISOString(), '--to', new Date(fromMs - 1_800_000).toISOString()]);
    expect(early).toEqual({ rc: 1, err: expect.stringMatching(/no data in range: Prometheus at .* has no inferwatt_unattributed_energy_joules_total samples/) });
    const badMatch = await run(['--prometheus', prom.url, '--match', 'instance=~"("']);
    expect(badMatch).toEqual({ rc: 2, err: expect.stringMatching(/--match "instance=~"\("" is not a label matcher Prometheus accepts/) });
    const noAgent = await run(['--prometheus', prom.url, '--match', 'instance="nowhere:1"', '--from', new Date(fromMs).toISOString()]);
    expect(noAgent).toEqual({ rc: 1, err: expect.stringMatching(/no data in range: .* matching \{instance="nowhere:1"\}/) });
    const down = await run(['--prometheus', `http://127.0.0.1:${await freePort()}`]);
    expect(down).toEqual({ rc: 1, err: expect.stringMatching(/Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable/) });
  });
});
