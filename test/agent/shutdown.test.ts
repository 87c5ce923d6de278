import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';
import { startSimLlmServer } from '../../src/demo/sim-llm-server.js';

/** SIGTERM (agent.stop()) lets a stream in flight finish instead of cutting it, and records it. */
describe('graceful stop', () => {
  it('stops accepting but lets a streaming request in flight finish, then records it as ok', async () => {
    const sim = await startSimLlmServer();
    const agent = await startAgent(['--sensors', 'simulated', '--upstream', sim.url, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--interval-ms', '50'], { env: {}, logger: silentLogger });
    try {
      // ~1.3 s of tokens at the simulated 45 tok/s.
      const res = await fetch(`${agent.proxyUrl}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'qwen2.5-32b-instruct', messages: [{ role: 'user', content: 'hi' }], max_tokens: 60, stream: true, stream_options: { include_usage: true } }),
      });
      const id = res.headers.get('x-inferwatt-request-id')!;
      const reading = res.text();
      await new Promise((r) => setTimeout(r, 200)); // the stream is under way
      const stopped = agent.stop();
      const body = await reading;
      expect(body.trimEnd().endsWith('data: [DONE]')).toBe(true);
      expect(body).toContain('"completion_tokens":60');
      await stopped;
      const rec = agent.summary();
      expect(rec.totals.requests).toBe(1);
      expect(rec.models[0]).toMatchObject({ model: 'qwen2.5-32b-instruct', completionTokens: 60 });
      expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
      // No new request is accepted once stopping began.
      await expect(fetch(`${agent.proxyUrl}/v1/models`)).rejects.toThrow();
    } finally {
      await agent.stop();
      await sim.close();
    }
  });
});
