import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Agent } from '../../src/agent.js';
import { createReport } from '../../src/report/create-report.js';
import { requireBinary, startPrometheus, waitFor, type PrometheusHandle } from '../helpers/prometheus.js';
import { scrapeMetrics, sendTraffic, startChatUpstream, startSimulatedAgent, sumBy, waitSettled } from '../helpers/report-rig.js';

/**
 * Scenario: an agent that served requests before the period and before any Prometheus scraped it
 * (Prometheus installed later, or the period starts after a long outage). Its first scrape holds what
 * it counted before the period, which no sample can split: the report starts counting at that sample
 * and says so, instead of putting earlier requests in the period. A model first served after that
 * scrape is counted whole (its counter was at zero at the scrape before it).
 */
let upstream: Awaited<ReturnType<typeof startChatUpstream>>;
let agent: Agent;
let prom: PrometheusHandle;
let fromMs: number;
let toMs: number;

beforeAll(async () => {
  requireBinary('prometheus');
  upstream = await startChatUpstream();
  agent = await startSimulatedAgent({ upstream: upstream.url });
  expect(await sendTraffic(agent.proxyUrl!, [{ model: 'chat-small', tenant: 'early', n: 4 }])).toBe(4);
  await waitSettled(agent, 4);
  fromMs = Date.now();
  prom = await startPrometheus({ targets: [new URL(agent.metricsUrl).host] });
  await waitFor('two scrapes', async () => (Number((await prom.query('count_over_time(inferwatt_unattributed_energy_joules_total[1m])'))[0]?.value?.[1] ?? 0) >= 2 ? true : undefined), 20_000, 200);
  expect(await sendTraffic(agent.proxyUrl!, [{ model: 'chat-small', tenant: 'early', n: 3 }, { model: 'embed-base', tenant: 'late', n: 2 }])).toBe(5);
  await waitSettled(agent, 9);
  const final = await scrapeMetrics(agent.metricsUrl);
  const want = sumBy(final, 'inferwatt_requests_total', []).get('')!;
  await waitFor('Prometheus to hold the final counts', async () => (Number((await prom.query('sum(inferwatt_requests_total)'))[0]?.value?.[1]) === want ? true : undefined), 20_000, 200);
  toMs = Date.now();
}, 90_000);

afterAll(async () => {
  await prom?.stop();
  await agent?.stop();
  await upstream?.close();
}, 30_000);

describe('a report over a period whose first scrape came after the agent had counted', () => {
  it('counts from the first scrape: the 3 + 2 requests after it, not the 4 before; and says so', async () => {
    const r = await createReport({
      source: { kind: 'prometheus', url: prom.url, match: null }, period: { fromMs, toMs }, by: ['model', 'tenant'], market: [],
      embodied: { hostKgCo2e: null, lifetimeYears: null, source: null, year: null }, version: 'test', nowMs: toMs,
    });
    expect(r.groups.map((g) => [g.model, g.tenant, g.requests]).sort()).toEqual([['chat-small', 'early', 3], ['embed-base', 'late', 2]]);
    expect(r.coverage.notes.join('\n')).toMatch(/not sampled at the start of the period although its agent was already running/);
    expect(r.coverage.instances[0]!.gaps[0]!.why).toMatch(/no samples yet/);
  });
});
