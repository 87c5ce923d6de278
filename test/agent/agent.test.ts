import { renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { runProjectCommand } from '../../src/commands/project.js';
import { silentLogger } from '../../src/core/logger.js';
import { DEFAULT_SIM_MODELS, startSimLlmServer, type SimLlmServer } from '../../src/demo/sim-llm-server.js';
import { createPowercapTree, type PowercapTree } from '../helpers/powercap-tree.js';
import { finalRecord } from '../helpers/records.js';

/**
 * The whole agent, wired as `inferwatt run` wires it: a fake nvidia-smi replaying the recorded H100
 * capture under load, a powercap tree whose package counter advances at a known rate, the simulated
 * OpenAI-compatible server upstream, and the official openai client going through the proxy.
 */
const FAKE_SMI = join(__dirname, '..', 'helpers', 'fake-nvidia-smi.mjs');
const H100 = join(__dirname, '..', 'fixtures', 'nvidia-smi', 'extracted', 'linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');
const H100_INSTANT_W = 625.68; // power.draw.instant of load__query-gpu.csv
const PACKAGE_W = 40; // the rate at which this test advances the package counter

let agent: Agent;
let sim: SimLlmServer;
let tree: PowercapTree;
let ticker: NodeJS.Timeout;

async function metricsText(): Promise<string> {
  return (await fetch(`${agent.metricsUrl}/metrics`)).text();
}
const sample = (body: string, prefix: string): number => {
  const line = body.split('\n').find((l) => l.startsWith(prefix));
  if (!line) throw new Error(`no sample ${prefix} in /metrics`);
  return Number(line.slice(line.lastIndexOf(' ') + 1));
};

const recordOf = (id: string) => finalRecord(agent.metricsUrl, id, { tries: 100 });

beforeAll(async () => {
  tree = await createPowercapTree([{ dir: 'intel-rapl:0', name: 'package-0', energyUj: 1_000_000 }]);
  let uj = 1_000_000;
  const t0 = performance.now();
  ticker = setInterval(() => {
    uj = 1_000_000 + Math.round((performance.now() - t0) * 1000 * PACKAGE_W); // W × ms × 1000 = µJ
    // Atomic replace, as sysfs reads are: a reader never sees a half-written file.
    const f = join(tree.root, 'intel-rapl:0', 'energy_uj');
    writeFileSync(`${f}.tmp`, `${uj}\n`);
    renameSync(`${f}.tmp`, f);
  }, 20);
  // One extra model that only the tenant test asks for, so that its series count that test's requests alone.
  sim = await startSimLlmServer({ speedup: 4, models: [...DEFAULT_SIM_MODELS, { id: 'tenant-test-model', tokensPerSecond: 200, prefillTokensPerSecond: 8000 }] });
  // The nvidia-smi child inherits this process's environment.
  process.env.FAKE_NVSMI_CAPTURE = H100;
  process.env.FAKE_NVSMI_STATE = 'load';
  agent = await startAgent([
    '--sensors', 'nvidia-smi,rapl', '--nvidia-smi', FAKE_SMI, '--powercap-root', tree.root,
    '--interval-ms', '50', '--cpu-interval-ms', '50',
    '--upstream', sim.url, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--region', 'FR',
  ], { env: {}, logger: silentLogger });
});

afterAll(async () => {
  clearInterval(ticker);
  await agent?.stop();
  await sim?.close();
  await tree?.remove();
});

describe('inferwatt run, end to end', () => {
  it('found the GPU through the fake nvidia-smi and the package through powercap', () => {
    const ids = agent.discovery.sensors.flatMap((s) => s.devices().map((d) => d.id));
    expect(ids).toEqual(expect.arrayContaining(['gpu0', 'package-0']));
  });

  it('reports each GPU\'s power equal to the capture, and its energy growing as power × time', async () => {
    // Wait for the first samples (a node child takes a while to start on a busy 2-core machine).
    let a = await metricsText();
    const ready = (t: string) => t.includes('inferwatt_device_power_watts{device="gpu0"') && t.includes('inferwatt_device_power_watts{device="package-0"');
    for (let i = 0; i < 200 && !ready(a); i++) {
      await new Promise((r) => setTimeout(r, 50));
      a = await metricsText();
    }
    expect(sample(a, 'inferwatt_device_power_watts{device="gpu0"')).toBeCloseTo(H100_INSTANT_W, 6);
    const e0 = sample(a, 'inferwatt_device_energy_joules_total{device="gpu0"');
    const c0 = sample(a, 'inferwatt_device_energy_joules_total{device="package-0"');
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 1000));
    const b = await metricsText();
    const dt = (performance.now() - t0) / 1000;
    const e1 = sample(b, 'inferwatt_device_energy_joules_total{device="gpu0"');
    const c1 = sample(b, 'inferwatt_device_energy_joules_total{device="package-0"');
    // The timeline lags the scrape by up to one sample interval at each end: allow 2 × 50 ms of power.
    expect(Math.abs((e1 - e0) - H100_INSTANT_W * dt)).toBeLessThan(H100_INSTANT_W * 0.15);
    expect(Math.abs((c1 - c0) - PACKAGE_W * dt)).toBeLessThan(PACKAGE_W * 0.15);
    expect(sample(b, 'inferwatt_sensor_up{sensor="nvidia-smi"}')).toBe(1);
    expect(sample(b, 'inferwatt_sensor_up{sensor="rapl"}')).toBe(1);
  });

  it('gives the official openai client a request id whose record holds model, tokens, duration and energy', async () => {
    const client = new OpenAI({ baseURL: `${agent.proxyUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    const { data, response } = await client.chat.completions
      .create({ model: 'llama-3.1-8b-instruct', messages: [{ role: 'user', content: 'How much energy does this use?' }], max_tokens: 40 })
      .withResponse();
    expect(data.usage?.completion_tokens).toBe(40);
    const id = response.headers.get('x-inferwatt-request-id');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    const rec = await recordOf(id!);
    expect(rec.model).toBe('llama-3.1-8b-instruct');
    expect(rec.completionTokens).toBe(40);
    expect(rec.promptTokens).toBe(data.usage?.prompt_tokens);
    expect(rec.outcome).toBe('ok');
    expect(rec.status).toBe(200);
    expect(rec.complete).toBe(true);
    // Alone on the host, the request gets the whole pool while it runs: GPU ≈ 625.68 W × duration.
    expect(rec.energyJ.gpu).toBeGreaterThan(0);
    expect(rec.energyJ.gpu / (rec.durationMs / 1000)).toBeGreaterThan(H100_INSTANT_W * 0.9);
    expect(rec.energyJ.gpu / (rec.durationMs / 1000)).toBeLessThan(H100_INSTANT_W * 1.1);
    expect(rec.energyJ.total).toBeCloseTo(rec.energyJ.gpu + rec.energyJ.cpu + rec.energyJ.dram, 9);
    // CO2e follows from the factors the record names (docs/design.md#impacts).
    const facilityKWh = (rec.energyJ.total / 3.6e6) * rec.factors.pue;
    expect(rec.factors.region).toBe('FR');
    expect(rec.co2eGrams).toBeCloseTo(facilityKWh * rec.factors.gridGCo2ePerKWh, 12);
    expect(rec.waterLiters.total).toBeCloseTo((rec.energyJ.total / 3.6e6) * rec.factors.wue + facilityKWh * rec.factors.ewif, 12);
  });

  it('labels the per-request counters of /metrics with the tenant header (bounded), and a request without it as "unknown"', async () => {
    const client = new OpenAI({ baseURL: `${agent.proxyUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    const ask = async (headers: Record<string, string>) => {
      const { response } = await client.chat.completions
        .create({ model: 'tenant-test-model', messages: [{ role: 'user', content: 'hi' }], max_tokens: 5 }, { headers })
        .withResponse();
      return recordOf(response.headers.get('x-inferwatt-request-id')!);
    };
    const tagged = await ask({ 'x-inferwatt-tenant': 'team-search' });
    const untagged = await ask({});
    expect(tagged.tenant).toBe('team-search');
    expect(untagged.tenant).toBeNull();
    const body = await metricsText();
    expect(sample(body, 'inferwatt_requests_total{model="tenant-test-model",tenant="team-search",pool="default",outcome="ok"}')).toBe(1);
    expect(sample(body, 'inferwatt_requests_total{model="tenant-test-model",tenant="unknown",pool="default",outcome="ok"}')).toBe(1);
    expect(sample(body, 'inferwatt_requests_total{model="tenant-test-model",tenant="team-search",pool="default",outcome="error"}')).toBe(0);
    expect(sample(body, 'inferwatt_tokens_total{model="tenant-test-model",tenant="team-search",pool="default",type="completion"}')).toBe(5);
    expect(sample(body, 'inferwatt_attributed_energy_joules_total{model="tenant-test-model",tenant="team-search",pool="default"}')).toBeCloseTo(tagged.energyJ.total, 9);
    expect(sample(body, 'inferwatt_co2e_grams_total{model="tenant-test-model",tenant="team-search",pool="default"}')).toBeCloseTo(tagged.co2eGrams, 12);
    expect(sample(body, 'inferwatt_water_liters_total{model="tenant-test-model",tenant="unknown",pool="default"}')).toBeCloseTo(untagged.waterLiters.total, 12);
    // The histograms stay per model: both requests in one series.
    expect(sample(body, 'inferwatt_request_energy_joules_count{model="tenant-test-model"}')).toBe(2);
  });

  it('`inferwatt project --from` projects what this agent measured', async () => {
    const summary = await (await fetch(`${agent.metricsUrl}/api/summary`)).json() as { totals: { requests: number; meanEnergyJPerRequest: number } };
    expect(summary.totals.requests).toBeGreaterThanOrEqual(1);
    let out = '';
    const code = await runProjectCommand(
      ['--from', agent.metricsUrl, '--users', '1000000000', '--queries-per-user-per-day', '10', '--region', 'FR', '--json'],
      { stdout: (s) => { out += s; }, stderr: () => {} },
    );
    expect(code).toBe(0);
    const r = JSON.parse(out) as { result: { energy: { itWhPerQuery: number } } };
    expect(r.result.energy.itWhPerQuery).toBeCloseTo(summary.totals.meanEnergyJPerRequest / 3600, 9);
  });

  it('attributes concurrent streaming requests and conserves the measured energy', async () => {
    const client = new OpenAI({ baseURL: `${agent.proxyUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
    const ids = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
      const { data: stream, response } = await client.chat.completions
        .create({ model: i % 2 ? 'qwen2.5-32b-instruct' : 'mistral-small-24b', messages: [{ role: 'user', content: `q${i}` }], max_tokens: 30 + i, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      let usage: { completion_tokens: number } | undefined;
      for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
      expect(usage?.completion_tokens).toBe(30 + i);
      return response.headers.get('x-inferwatt-request-id')!;
    }));
    const recs = await Promise.all(ids.map(recordOf));
    recs.forEach((r, i) => {
      expect(r.completionTokens).toBe(30 + i);
      expect(r.energyJ.total).toBeGreaterThan(0);
    });
    await agent.stop();
    const t = agent.totals();
    expect(t.measuredJ).toBeGreaterThan(0);
    expect(Math.abs(t.attributedJ + t.unattributedJ - t.measuredJ) / t.measuredJ).toBeLessThan(1e-9);
  });
});
