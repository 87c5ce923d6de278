/**
 * Issue 13, item 4: made-up model names (and tenants) must not take the label slots. 55 requests for
 * models that do not exist, answered 500 or 404 by the upstream, used to fill the 50 model slots, and
 * the real model counted as `other` until restart. A value now takes a slot only once the upstream has
 * served a request with it (2xx, delivered whole).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';

let agent: Agent;
let upstream: http.Server;

beforeAll(async () => {
  // An OpenAI-compatible upstream that serves one model and refuses the others, as vLLM does (404), or
  // fails on them (500).
  upstream = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const model = (JSON.parse(body || '{}') as { model?: string }).model ?? '';
      const send = (status: number, o: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(o));
      };
      if (model === 'real-model' && req.headers['x-fail'] === undefined) return send(200, { id: 'x', object: 'chat.completion', model, choices: [], usage: { prompt_tokens: 3, completion_tokens: 2 } });
      if (model.endsWith('-404')) return send(404, { error: { message: `model ${model} does not exist`, type: 'NotFoundError' } });
      return send(500, { error: { message: 'boom' } });
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  agent = await startAgent([
    '--sensors', 'simulated', '--interval-ms', '20', '--cpu-interval-ms', '20',
    '--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
  ], { env: {}, logger: silentLogger });
});

afterAll(async () => {
  await agent?.stop();
  upstream?.close();
});

async function ask(model: string, tenant: string, fail = false): Promise<string> {
  const res = await fetch(`${agent.proxyUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-inferwatt-tenant': tenant, ...(fail ? { 'x-fail': '1' } : {}) },
    body: JSON.stringify({ model, messages: [] }),
  });
  await res.arrayBuffer();
  return res.headers.get('x-inferwatt-request-id')!;
}

async function finalRecords(n: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (agent.summary().totals.requests >= n) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`only ${agent.summary().totals.requests} of ${n} records became final`);
}

describe('label slots go to what the upstream served', () => {
  it('55 made-up models answered 500 or 404 (and 25 made-up tenants with them) take no slot: the real model and tenant keep their labels', async () => {
    for (let i = 0; i < 55; i++) await ask(i % 2 ? `junk-${i}` : `junk-${i}-404`, `junk-tenant-${i % 25}`);
    await finalRecords(55);
    await ask('real-model', 'team-real');
    await finalRecords(56);
    const text = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
    expect(text).toContain('inferwatt_requests_total{model="real-model",tenant="team-real",pool="default",outcome="ok"} 1');
    expect(text).not.toMatch(/model="junk-/);
    expect(text).not.toMatch(/tenant="junk-/);
    expect(text).toContain('inferwatt_requests_total{model="other",tenant="other",pool="default",outcome="error"} 27'); // the 500s
    expect(text).toContain('inferwatt_requests_total{model="other",tenant="other",pool="default",outcome="ok"} 28'); // the 404s
    const summary = agent.summary();
    expect(summary.models.map((m) => m.model).sort()).toEqual(['other', 'real-model']);
    // Records keep the real values.
    const recs = (await (await fetch(`${agent.metricsUrl}/api/requests?limit=100`)).json()) as { requests: { model: string; tenant: string }[] };
    expect(recs.requests.filter((r) => r.model.startsWith('junk-'))).toHaveLength(55);
  });

  it('once served, a model keeps its label for its failures too', async () => {
    const before = agent.summary().totals.requests;
    await ask('real-model', 'team-real', true);
    await finalRecords(before + 1);
    const text = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
    expect(text).toContain('inferwatt_requests_total{model="real-model",tenant="team-real",pool="default",outcome="error"} 1');
  });
});
