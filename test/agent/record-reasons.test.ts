/**
 * Issue 13, item 2 and trace context, as `inferwatt run` is used: a stalled upstream's request is
 * recorded `error` with its reason, a timed-out one too, the log lines name no undefined field, and a
 * request's W3C trace context reaches its record in /api/requests.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { createLogger } from '../../src/core/logger.js';
import type { RequestRecord } from '../../src/exporter/record.js';
import { finalRecord } from '../helpers/records.js';

let agent: Agent;
let upstream: http.Server;
const lines: string[] = [];

beforeAll(async () => {
  // /stall: SSE headers and one event, then silence. /hang: no answer at all. Anything else: a chat answer.
  upstream = http.createServer((req, res) => {
    req.resume();
    if (req.url === '/v1/stall/chat/completions') {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('data: {"model":"m","choices":[{"delta":{"content":"Hel"}}]}\n\n');
      return;
    }
    if (req.url === '/v1/hang/chat/completions') return;
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"model":"m","choices":[],"usage":{"prompt_tokens":2,"completion_tokens":3}}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
  agent = await startAgent([
    '--sensors', 'simulated', '--interval-ms', '20', '--cpu-interval-ms', '20',
    '--upstream', `http://127.0.0.1:${(upstream.address() as AddressInfo).port}`,
    '--upstream-idle-timeout-ms', '300', '--upstream-timeout-ms', '300',
    '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
  ], { env: {}, logger: createLogger({ level: 'info', write: (l) => lines.push(l) }) });
});

afterAll(async () => {
  await agent?.stop();
  upstream?.closeAllConnections();
  upstream?.close();
});

const recordOf = (id: string) => finalRecord(agent.metricsUrl, id, { intervalMs: 25 });

async function post(path: string, headers: Record<string, string> = {}): Promise<{ id: string; status: number; body: string }> {
  const res = await fetch(`${agent.proxyUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: '{"model":"m","stream":true}' });
  const body = await res.text().catch(() => 'cut');
  return { id: res.headers.get('x-inferwatt-request-id')!, status: res.status, body };
}

describe('records say why a request failed, and carry its trace context', () => {
  it('a stream whose upstream goes silent is cut after --upstream-idle-timeout-ms: outcome error, outcomeReason upstream_idle_timeout', async () => {
    const t0 = performance.now();
    const r = await post('/v1/stall/chat/completions');
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(r.status).toBe(200);
    expect(r.body).toBe('cut');
    expect(await recordOf(r.id)).toMatchObject({ outcome: 'error', status: 200, outcomeReason: 'upstream_idle_timeout', model: 'm' });
    const log = lines.find((l) => l.includes('sent nothing for 300 ms'));
    expect(log).toBeDefined();
  });

  it('an upstream that never answers: 504 after --upstream-timeout-ms, outcomeReason upstream_timeout; the log line has no code=undefined', async () => {
    const r = await post('/v1/hang/chat/completions');
    expect(r.status).toBe(504);
    expect(await recordOf(r.id)).toMatchObject({ outcome: 'error', status: 504, outcomeReason: 'upstream_timeout' });
    const log = lines.find((l) => l.includes('failed: timeout'));
    expect(log).toBeDefined();
    expect(lines.join('\n')).not.toContain('undefined');
  });

  it('a request with a traceparent: its record in /api/requests carries traceId and spanId; an ok record has no outcomeReason', async () => {
    const r = await post('/v1/chat/completions', { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' });
    const rec = await recordOf(r.id);
    expect(rec).toMatchObject({ outcome: 'ok', traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331', promptTokens: 2, completionTokens: 3 });
    expect(rec).not.toHaveProperty('outcomeReason');
    const list = (await (await fetch(`${agent.metricsUrl}/api/requests?limit=10`)).json()) as { requests: RequestRecord[] };
    expect(list.requests.find((x) => x.id === r.id)?.traceId).toBe('0af7651916cd43dd8448eb211c80319c');
  });
});
