import { spawnSync } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import type { DeviceSnapshot } from '../../src/energy/types.js';
import { createLabelBounder } from '../../src/exporter/label-bounder.js';
import { createMetricsCatalogue, type MetricsCatalogue } from '../../src/exporter/metrics.js';
import type { RequestRecord } from '../../src/exporter/record.js';
import type { DeviceInfo } from '../../src/sensors/types.js';
import { requireBinary, startPrometheus, waitFor, type PrometheusHandle } from '../helpers/prometheus.js';
import { dashboardQueries, emptyDashboardQueries, emptyRecordingRules, testRuleFiles } from './dashboard-queries.js';

/**
 * Scenario: a real Prometheus scrapes the real metric catalogue (src/exporter/metrics.ts) fed by a
 * steady synthetic host: a 300 W GPU (in cross-check mode, nvidia-smi reading it 3 % lower than the
 * NVML counter) and a 60 W CPU package, two models answering a request each per
 * scrape. Every dashboard query and every recording rule must return data, the exposition must pass
 * `promtool check metrics`, exemplars must arrive with the request id, and the per-query CO2e alert
 * must fire once its threshold is set below the traffic's emissions, and nothing else.
 *
 * The fleet rules (fleet.yml) are loaded too and the target carries a `cluster` label, so that the
 * fleet dashboard's queries run as on the global layer, and the fleet figures are checked against the
 * synthetic host's known traffic.
 *
 * This proves the PromQL against real data shaped by the real exporter; integration.test.ts does the
 * same against the whole agent.
 */
const clock = createSystemClock();
const t0 = clock.nowMs();
const elapsedS = () => (clock.nowMs() - t0) / 1000;
const gpu: DeviceInfo = { id: 'gpu0', kind: 'gpu', method: 'counter', sensor: 'nvidia-smi', name: 'NVIDIA H100 80GB HBM3', uuid: 'GPU-test', driver: '550.54.15' };
const cpu: DeviceInfo = { id: 'package-0', kind: 'cpu', method: 'counter', sensor: 'rapl', name: 'package-0' };

const CLUSTER = 'eu-test';
let served = 0;
function record(model: string, energyJ: number, tenant: string | null): RequestRecord {
  served++;
  // FR-like factors: 50 gCO2e/kWh, PUE 1.2; 1 kWh = 3.6e6 J.
  const co2eGrams = (energyJ * 1.2 / 3.6e6) * 50;
  const waterL = (energyJ / 3.6e6) * 0.5 + (energyJ * 1.2 / 3.6e6) * 2;
  return {
    id: `req-${model}-${served}`, model, tenant, startedAt: new Date().toISOString(), durationMs: 800, ttfbMs: 120,
    outcome: 'ok', status: 200, promptTokens: 40, completionTokens: 120,
    energyJ: { gpu: energyJ * 0.9, cpu: energyJ * 0.1, dram: 0, total: energyJ }, idleShareJ: 0,
    co2eGrams, waterLiters: { onsite: (energyJ / 3.6e6) * 0.5, offsite: (energyJ * 1.2 / 3.6e6) * 2, total: waterL },
    factors: { region: 'FR', gridGCo2ePerKWh: 50, pue: 1.2, wue: 0.5, ewif: 2, source: 'test' },
    attribution: 'time', complete: true, pool: 'default', api: 'openai-chat', energyByDeviceJ: { gpu0: energyJ * 0.9, 'package-0': energyJ * 0.1 },
  };
}

let catalogue: MetricsCatalogue;
let server: Server;
let prom: PrometheusHandle;
let target = '';

beforeAll(async () => {
  requireBinary('prometheus');
  catalogue = createMetricsCatalogue({
    clock, models: createLabelBounder({ max: 10 }), tenants: createLabelBounder({ max: 10 }),
    sources: {
      devices: (): DeviceSnapshot[] => [
        { device: gpu, powerW: 300, energyJ: 300 * elapsedS(), lastSampleMs: clock.nowMs() },
        { device: cpu, powerW: 60, energyJ: 60 * elapsedS(), lastSampleMs: clock.nowMs() },
      ],
      sensors: () => [
        { name: 'nvidia-smi', health: { up: true, lastSampleMs: clock.nowMs(), errors: {} } },
        { name: 'rapl', health: { up: true, lastSampleMs: clock.nowMs(), errors: {} } },
      ],
      // A quarter of the pool's energy is idle: well under the 80% alert threshold.
      unattributedJ: () => 90 * elapsedS(),
      inFlight: () => 1,
      factors: () => ({ region: 'FR', source: 'test', year: 2024, gridGCo2ePerKWh: 50, pue: 1.2, wue: 0.5, ewif: 2 }),
      // The upstream accepts the agent's probe: well away from InferwattUpstreamDown.
      upstreams: () => [{ name: 'default', reachable: true }],
      // Cross-check mode (--gpu-cross-check): the GPU's 300 W by the counter, and nvidia-smi's
      // integration 3 % lower (291 W), under the 10 % alert threshold.
      crossCheck: () => { const s = elapsedS(); return [{ device: 'gpu0', nvmlJ: 300 * s, nvidiaSmiJ: 291 * s }]; },
      // The ledger's own counts: a record in a hundred finalised by the lag bound, a forced split every
      // other request, a few late events; no failures. Under both alert thresholds.
      ledger: () => ({
        lateEvents: Math.floor(served / 50), forcedSplits: Math.floor(served / 2), lagFinalised: Math.floor(served / 200),
        uncoveredPieces: 0, unknownPool: 0, ignoredCalls: 0, heldSegments: 3, pendingWindows: 2,
      }),
      proxy: () => ({ tapFailures: 0, trackerFailures: 0 }),
      // The learned policy's costs for both models (ready), as a pool learner reports them.
      tokenCosts: () => [{
        pool: 'default', baselineW: 95, baselineSe: 3, rows: 250, r2: 0.97, skipped: 0,
        models: [
          { model: 'chat-model', promptJ: 0.05, promptSe: 0.004, completionJ: 0.6, completionSe: 0.02, cachedJ: 0, cachedSe: null, samples: 240, ready: true, source: 'fit' },
          { model: 'embed-model', promptJ: 0.01, promptSe: 0.001, completionJ: 0.02, completionSe: 0.01, cachedJ: 0, cachedSe: null, samples: 120, ready: false, source: 'none' },
        ],
      }],
    },
  });
  server = createServer((req, res) => {
    if (req.url !== '/metrics') { res.writeHead(404).end(); return; }
    // Traffic: one chat request (~800 J) and one embedding (~20 J) per scrape.
    // The chat requests carry a tenant; the embeddings come without the tenant header.
    catalogue.observeRecord(record('chat-model', 800, 'team-chat'));
    catalogue.observeRecord(record('embed-model', 20, null));
    void catalogue.render(req.headers.accept).then(({ contentType, body }) => {
      res.writeHead(200, { 'content-type': contentType }).end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  target = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  // 800 J at 50 g/kWh and PUE 1.2 is ~0.013 g per chat query: a 0.001 g threshold is crossed.
  // `cluster` as a fleet's cluster Prometheus would add it (external label), for the fleet rules and dashboard.
  prom = await startPrometheus({ targets: [target], targetLabels: { cluster: CLUSTER }, ruleFiles: await testRuleFiles(0.001) });
  await waitFor('ten scrapes of the synthetic exporter', async () => {
    const r = await prom.query('count_over_time(up{job="inferwatt"}[1m])');
    return Number(r[0]?.value?.[1] ?? 0) >= 10 ? true : undefined;
  }, 60_000);
}, 120_000);

afterAll(async () => {
  await prom?.stop();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

describe('dashboards and rules against a real Prometheus scraping the metric catalogue', () => {
  it('the scrape is healthy', async () => {
    const targets = await prom.targets();
    expect(targets).toEqual([expect.objectContaining({ health: 'up', lastError: '' })]);
  });

  it('every dashboard panel query and variable returns data', async () => {
    expect(dashboardQueries().length).toBeGreaterThanOrEqual(40);
    expect(await emptyDashboardQueries(prom)).toEqual([]);
  });

  it('every recording rule has evaluated without error and returns data', async () => {
    const groups = await prom.rules();
    const bad = groups.flatMap((g) => g.rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.health} ${r.lastError ?? ''}`));
    expect(bad).toEqual([]);
    expect(await emptyRecordingRules(prom)).toEqual([]);
  });

  it('recorded values match the synthetic host (fleet power, idle share, J per completion token)', async () => {
    const one = async (expr: string) => Number((await prom.query(expr))[0]?.value?.[1]);
    expect(await one('job:inferwatt_device_power_watts:sum')).toBe(360);
    // Idle 90 J/s against attributed (820 J per scrape ≈ 820 J/s at 1 s scrapes): a share well under 1.
    const idle = await one('instance:inferwatt_unattributed_energy:ratio_rate5m');
    expect(idle).toBeGreaterThan(0);
    expect(idle).toBeLessThan(0.5);
    // 800 J over 120 completion tokens.
    expect(await one('job_model:inferwatt_energy_per_completion_token_joules:ratio_rate5m{model="chat-model"}')).toBeCloseTo(800 / 120, 6);
    // Cross-check: 291 W against the 300 W counter over the same span, whatever its length.
    expect(await one('instance_device:inferwatt_gpu_cross_check_energy:relative_difference{device="gpu0"}')).toBeCloseTo(-0.03, 9);
  });

  it('the GPU energy cross-check row shows the synthetic GPU: -3 % relative difference, ratio 0.97', async () => {
    const panels = dashboardQueries().filter((q) => q.expr.includes('inferwatt_gpu_cross_check_energy_joules'));
    expect(panels.length).toBe(4);
    for (const q of panels) {
      const r = await prom.query(q.expr);
      expect(r.map((x) => x.metric.device), q.where).toEqual(['gpu0']);
      const v = Number(r[0]!.value![1]);
      if (/relative difference|nvidia-smi against/i.test(q.where)) expect(v, q.where).toBeCloseTo(-0.03, 9);
      else if (/ C$/.test(q.where)) expect(v, q.where).toBeCloseTo(0.97, 9);
      else expect(v, q.where).toBeGreaterThan(0);
    }
  });

  it('the per-request counters carry the tenant (`unknown` without the header); the histograms do not', async () => {
    const byTenant = await prom.query('sum by (tenant, model) (inferwatt_requests_total)');
    expect(byTenant.map((s) => `${s.metric.tenant} ${s.metric.model}`).sort()).toEqual(['team-chat chat-model', 'unknown embed-model']);
    const energy = await prom.query('sum by (tenant) (rate(inferwatt_attributed_energy_joules_total[30s]))');
    const w = Object.fromEntries(energy.map((s) => [s.metric.tenant, Number(s.value![1])]));
    // 800 J and 20 J per 1 s scrape: the chat tenant's rate is 40 times the untagged one's.
    expect(w['team-chat']! / w.unknown!).toBeCloseTo(40, 6);
    expect(await prom.query('inferwatt_request_energy_joules_count{tenant!=""}')).toEqual([]);
  });

  it('fleet records match the synthetic host: J per query per model and all in, tCO2e, MWh and queries per day', async () => {
    const one = async (expr: string) => {
      const r = await prom.query(expr);
      expect(r, expr).toHaveLength(1);
      return Number(r[0]!.value![1]);
    };
    // Ratios of two counters that grow at the same scrapes: exact.
    expect(await one('fleet_model:inferwatt_energy_per_request_joules:ratio_rate1h{model="chat-model"}')).toBeCloseTo(800, 6);
    expect(await one('fleet_model:inferwatt_energy_per_request_joules:ratio_rate1h{model="embed-model"}')).toBeCloseTo(20, 6);
    expect(await one(`cluster_model:inferwatt_energy_per_request_joules:ratio_rate1h{cluster="${CLUSTER}", model="chat-model"}`)).toBeCloseTo(800, 6);
    // rate() over 1h divides by the hour, so the per-day figures of series younger than an hour
    // (these are seconds old) are still ramping up: not more than the steady pace of 2 queries per 1 s
    // scrape, and above 0. Their ratios, recorded in the same evaluation, are already exact: MWh and
    // tCO2e per query, from per-day figures, must give the host's known per-query values.
    const near = (got: number, want: number) => { expect(got).toBeGreaterThan(want * 0.9); expect(got).toBeLessThan(want * 1.1); };
    const perDay = await one('fleet:inferwatt_requests_per_day:rate1h');
    expect(perDay).toBeGreaterThan(0);
    expect(perDay).toBeLessThan(2 * 86_400 * 1.1);
    // 820 J attributed per scrape and 90 J/s idle, over 2 queries per scrape (1 s).
    near(await one('fleet:inferwatt_energy_per_request_all_in_joules:ratio_rate1h'), (820 + 90) / 2);
    near(await one('fleet:inferwatt_energy_megawatt_hours_per_day:rate1h * 3.6e9 / fleet:inferwatt_requests_per_day:rate1h'), (820 + 90) / 2);
    // 820 J at PUE 1.2 and 50 g/kWh per scrape, over 2 queries: grams per query.
    near(await one('fleet:inferwatt_co2e_tonnes_per_day:rate1h * 1e6 / fleet:inferwatt_requests_per_day:rate1h'), (820 * 1.2 / 3.6e6) * 50 / 2);
    // One cluster: the cluster level equals the fleet level, and it carries the cluster's name.
    const [c] = await prom.query('cluster:inferwatt_energy_per_request_all_in_joules:ratio_rate1h');
    expect(c!.metric.cluster).toBe(CLUSTER);
    near(Number(c!.value![1]), (820 + 90) / 2);
  });

  it('the per-query CO2e alert fires for the model above a low threshold, and no other alert is active', { timeout: 60_000 }, async () => {
    const alerts = await waitFor('InferwattRequestCO2eHigh to fire', async () => {
      const a = await prom.alerts();
      return a.some((x) => x.labels.alertname === 'InferwattRequestCO2eHigh' && x.state === 'firing') ? a : undefined;
    }, 30_000);
    const co2e = alerts.filter((a) => a.labels.alertname === 'InferwattRequestCO2eHigh');
    // chat-model's ~0.013 g is above 0.001 g; embed-model's ~0.0003 g is not.
    expect(co2e.map((a) => a.labels.model)).toEqual(['chat-model']);
    expect(co2e[0]!.annotations.runbook_url).toBe('docs/runbooks.md#inferwattrequestco2ehigh');
    expect(alerts.filter((a) => a.labels.alertname !== 'InferwattRequestCO2eHigh').map((a) => a.labels.alertname)).toEqual([]);
  });

  it('exemplars carry the request id of the per-request histograms', { timeout: 40_000 }, async () => {
    const got = await waitFor('exemplars', async () => {
      const r = await prom.exemplars('inferwatt_request_co2e_grams_bucket{model="chat-model"}');
      return r.length ? r : undefined;
    }, 20_000);
    const ids = got.flatMap((s) => s.exemplars.map((e) => e.labels.request_id));
    expect(ids.length).toBeGreaterThan(0);
    for (const id of ids) expect(id).toMatch(/^req-chat-model-\d+$/);
  });

  it('the exposition passes promtool check metrics', async () => {
    const { body } = await catalogue.render(undefined);
    const r = spawnSync(requireBinary('promtool'), ['check', 'metrics'], { input: body, encoding: 'utf8' });
    expect(`${r.stdout}${r.stderr}`).toBe('');
    expect(r.status).toBe(0);
  });
});
