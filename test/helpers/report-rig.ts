import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startAgent, type Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';
import { waitFor } from './prometheus.js';

/**
 * What the report tests run for real: a small OpenAI-compatible chat server (usage in every answer,
 * tokens and delay per model), agents in front of it on simulated sensors, traffic of several models
 * and tenants, and the agents' own /metrics read back to compare a report with.
 */

/** Tokens and delay of each model the upstream serves; any other model gets 10 + 10 tokens, 20 ms. */
export const MODEL_SHAPES: Record<string, { prompt: number; completion: number; delayMs: number }> = {
  'chat-large': { prompt: 40, completion: 90, delayMs: 60 },
  'chat-small': { prompt: 20, completion: 15, delayMs: 25 },
  'embed-base': { prompt: 64, completion: 0, delayMs: 10 },
};

export async function startChatUpstream(): Promise<{ url: string; close(): Promise<void> }> {
  const read = async (req: IncomingMessage) => { let s = ''; for await (const c of req) s += c; return s; };
  const server: Server = createServer((req, res) => {
    void read(req).then((raw) => {
      let model = 'unknown';
      try { model = String((JSON.parse(raw) as { model?: string }).model ?? 'unknown'); } catch { /* keep unknown */ }
      const shape = MODEL_SHAPES[model] ?? { prompt: 10, completion: 10, delayMs: 20 };
      setTimeout(() => {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({
          id: 'chatcmpl-report', object: 'chat.completion', created: 0, model,
          choices: [{ index: 0, message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }],
          usage: { prompt_tokens: shape.prompt, completion_tokens: shape.completion, total_tokens: shape.prompt + shape.completion },
        }));
      }, shape.delayMs);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** `inferwatt run` on simulated sensors in front of `upstream`, as the CLI starts it. */
export function startSimulatedAgent(opts: { upstream: string; metricsPort?: number; region?: string; records?: string; extra?: string[] }): Promise<Agent> {
  return startAgent([
    '--sensors', 'simulated', '--upstream', opts.upstream, '--listen', '127.0.0.1:0',
    '--metrics-listen', `127.0.0.1:${opts.metricsPort ?? 0}`, '--region', opts.region ?? 'FR',
    ...(opts.records ? ['--records', opts.records] : []), ...(opts.extra ?? []),
  ], { env: {}, logger: silentLogger });
}

export interface TrafficItem { model: string; tenant?: string; n: number }

/** Sends every request of the plan through the proxy, two at a time; returns how many got a 200. */
export async function sendTraffic(proxyUrl: string, plan: readonly TrafficItem[]): Promise<number> {
  const queue = plan.flatMap((p) => Array.from({ length: p.n }, () => p));
  let ok = 0;
  const worker = async () => {
    for (let item = queue.shift(); item; item = queue.shift()) {
      const res = await fetch(`${proxyUrl}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(item.tenant ? { 'x-inferwatt-tenant': item.tenant } : {}) },
        body: JSON.stringify({ model: item.model, messages: [{ role: 'user', content: 'hello' }] }),
      });
      await res.arrayBuffer();
      if (res.status === 200) ok++;
    }
  };
  await Promise.all([worker(), worker()]);
  return ok;
}

/** Until every request sent has its final record (the sensors covered its end). */
export async function waitSettled(agent: Agent, requests: number): Promise<void> {
  await waitFor(`${requests} final records`, async () => (agent.summary().totals.requests >= requests ? true : undefined), 20_000, 50);
}

export interface MetricSample { name: string; labels: Record<string, string>; value: number }

/** The agent's /metrics, parsed (Prometheus text format; label values here hold no escaped quotes). */
export async function scrapeMetrics(metricsUrl: string): Promise<MetricSample[]> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const out: MetricSample[] = [];
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="([^"]*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Σ of a counter over the agent's series, by the given labels (a key per combination). */
export function sumBy(samples: readonly MetricSample[], name: string, keys: readonly string[], filter: (l: Record<string, string>) => boolean = () => true): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of samples) {
    if (s.name !== name || !filter(s.labels)) continue;
    const k = keys.map((key) => s.labels[key] ?? '').join('|');
    out.set(k, (out.get(k) ?? 0) + s.value);
  }
  return out;
}

/** Adds maps of sums (several agents, or one agent before and after a restart). */
export function addSums(...maps: Map<string, number>[]): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of maps) for (const [k, v] of m) out.set(k, (out.get(k) ?? 0) + v);
  return out;
}

/** An HTTP front for an agent's metrics port that can be pointed elsewhere or made to fail: the same scrape target across a restart, and scrapes that fail on purpose. */
export async function startMetricsFront(): Promise<{ hostPort: string; target(url: string | undefined): void; close(): Promise<void> }> {
  let target: string | undefined;
  const server = createServer((req, res) => {
    if (!target) { res.writeHead(503).end('paused'); return; }
    fetch(`${target}${req.url ?? '/'}`, { headers: { accept: String(req.headers.accept ?? '*/*') } }).then(async (r) => {
      res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' }).end(Buffer.from(await r.arrayBuffer()));
    }, () => res.writeHead(502).end('agent unreachable'));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return {
    hostPort: `127.0.0.1:${(server.address() as AddressInfo).port}`,
    target(url) { target = url; },
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}
