/**
 * `inferwatt run --attribution learned` as a user runs it: costs configured as a prior for one model
 * (attribution.tokenCosts, as `inferwatt calibrate --out` writes them), the simulated server and GPU, the
 * official openai client streaming and not. The model with costs is weighed by them at once and its
 * records say `learned`; the other falls back to `tokens`; /api/models and /metrics show the costs.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';
import { startSimLlmServer, type SimLlmServer } from '../../src/demo/sim-llm-server.js';
import { finalRecord } from '../helpers/records.js';

let agent: Agent;
let sim: SimLlmServer;
let dir: string;

const recordOf = (id: string) => finalRecord(agent.metricsUrl, id);

beforeAll(async () => {
  sim = await startSimLlmServer({ speedup: 8, models: [{ id: 'priced', tokensPerSecond: 200, prefillTokensPerSecond: 8000 }, { id: 'unpriced', tokensPerSecond: 200, prefillTokensPerSecond: 8000 }] });
  dir = mkdtempSync(join(tmpdir(), 'inferwatt-learned-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, 'attribution:\n  policy: learned\n  tokenCosts:\n    - model: priced\n      promptJ: 0.02\n      completionJ: 0.4\n');
  agent = await startAgent([
    '--config', config, '--sensors', 'simulated', '--interval-ms', '50', '--learn-state', join(dir, 'state.json'),
    '--upstream', sim.url, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--region', 'FR',
  ], { env: {}, logger: silentLogger });
});

afterAll(async () => {
  await agent?.stop();
  await sim?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('inferwatt run --attribution learned', () => {
  it('weighs a model with configured costs by them (records say learned), the other by tokens; streamed and not', async () => {
    const client = new OpenAI({ baseURL: `${agent.proxyUrl}/v1`, apiKey: 'x', maxRetries: 0 });
    const ids: Record<string, string> = {};
    for (const model of ['priced', 'unpriced']) {
      const plain = await client.chat.completions.create({ model, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 20 }).withResponse();
      ids[`${model}-plain`] = plain.response.headers.get('x-inferwatt-request-id')!;
      const { data: stream, response } = await client.chat.completions
        .create({ model, messages: [{ role: 'user', content: 'Hello there' }], max_tokens: 20, stream: true, stream_options: { include_usage: true } })
        .withResponse();
      for await (const _ of stream) { /* drain */ }
      ids[`${model}-stream`] = response.headers.get('x-inferwatt-request-id')!;
    }
    for (const [key, id] of Object.entries(ids)) {
      const rec = await recordOf(id);
      expect(rec.attribution, key).toBe(key.startsWith('priced') ? 'learned' : 'tokens');
      expect(rec.completionTokens, key).toBeGreaterThan(0);
      expect(rec.energyJ.total, key).toBeGreaterThan(0);
    }
  });

  it('/api/models lists each pool and model with its costs, uncertainty, samples, source and readiness', async () => {
    const body = (await (await fetch(`${agent.metricsUrl}/api/models`)).json()) as { policy: string; pools: { pool: string; models: { model: string; promptJ: number; completionJ: number; source: string; ready: boolean; samples: number }[] }[] };
    expect(body.policy).toBe('learned');
    expect(body.pools.map((p) => p.pool)).toEqual(['default']);
    const priced = body.pools[0]!.models.find((m) => m.model === 'priced')!;
    expect(priced).toMatchObject({ promptJ: 0.02, completionJ: 0.4, source: 'prior', ready: true });
    const unpriced = body.pools[0]!.models.find((m) => m.model === 'unpriced')!;
    expect(unpriced).toMatchObject({ source: 'none', ready: false });
    expect(unpriced).toHaveProperty('completionSe');
  });

  it('/metrics has the learned costs, the baseline and readiness by pool and model', async () => {
    const text = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
    expect(text).toContain('inferwatt_token_energy_joules{pool="default",model="priced",type="completion"} 0.4');
    expect(text).toContain('inferwatt_token_energy_joules{pool="default",model="priced",type="prompt"} 0.02');
    expect(text).toContain('inferwatt_token_costs_ready{pool="default",model="priced"} 1');
    expect(text).toContain('inferwatt_token_costs_ready{pool="default",model="unpriced"} 0');
  });

  it('under another policy /api/models says that nothing is learned', async () => {
    const other = await startAgent(['--sensors', 'simulated', '--proxy=false', '--metrics-listen', '127.0.0.1:0'], { env: {}, logger: silentLogger });
    try {
      const body = (await (await fetch(`${other.metricsUrl}/api/models`)).json()) as { policy: string; pools: unknown[]; note?: string };
      expect(body).toEqual({ policy: 'time', pools: [], note: 'token costs are learned only under --attribution learned' });
      expect(await (await fetch(`${other.metricsUrl}/metrics`)).text()).not.toContain('inferwatt_token_energy_joules');
    } finally {
      await other.stop();
    }
  });
});
