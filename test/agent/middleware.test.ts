import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterAll, describe, expect, it } from 'vitest';
import { inferwattMiddleware, startAgent, type Agent } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';

/** A user's own express front with the middleware, feeding the agent's ledger (README "middleware"). */
describe('inferwattMiddleware with the agent, as a library user wires it', () => {
  let agent: Agent | undefined;
  let server: ReturnType<express.Express['listen']> | undefined;
  afterAll(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    await agent?.stop();
  });

  it('gives each response a request id whose record holds the model, tokens and energy', async () => {
    agent = await startAgent(['--sensors', 'simulated', '--proxy=false', '--metrics-listen', '127.0.0.1:0', '--interval-ms', '50'], { env: {}, logger: silentLogger });
    const app = express();
    app.use(express.json());
    app.use(inferwattMiddleware({ tracker: agent.tracker, clock: agent.clock }));
    app.post('/v1/chat/completions', (req, res) => {
      setTimeout(() => res.json({
        id: 'x', object: 'chat.completion', model: req.body.model,
        choices: [{ index: 0, message: { role: 'assistant', content: 'hi' }, finish_reason: 'stop' }],
        usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
      }), 300);
    });
    server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server!.once('listening', r));
    const port = (server.address() as AddressInfo).port;
    const res = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'my-model', messages: [{ role: 'user', content: 'hello' }] }),
    });
    expect(res.status).toBe(200);
    const id = res.headers.get('x-inferwatt-request-id');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    let rec: { model: string; promptTokens: number; completionTokens: number; energyJ: { total: number }; durationMs: number } | undefined;
    for (let i = 0; i < 100 && !rec; i++) {
      const r = await fetch(`${agent.metricsUrl}/api/requests/${id}`);
      if (r.status === 200) rec = await r.json() as typeof rec;
      else await new Promise((x) => setTimeout(x, 50));
    }
    expect(rec).toMatchObject({ model: 'my-model', promptTokens: 7, completionTokens: 3 });
    expect(rec!.durationMs).toBeGreaterThanOrEqual(290);
    expect(rec!.energyJ.total).toBeGreaterThan(0);
  });
});
