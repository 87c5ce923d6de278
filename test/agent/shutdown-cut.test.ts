/**
 * Issue 13, item 10: when the shutdown grace runs out and streams are cut, the log blamed the upstream
 * ("closed the response mid-body") and the sensors ("lag"). It now says what happened, and the records
 * of the cut requests say `aborted`, reason `shutdown`.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { createLogger } from '../../src/core/logger.js';
import { startSimLlmServer } from '../../src/demo/sim-llm-server.js';
import type { RequestRecord } from '../../src/exporter/record.js';

describe('stop when the grace runs out', () => {
  it('cuts the streams still running, logs that shutdown cut them (not the upstream, not the sensors), and records them aborted with reason shutdown', async () => {
    const sim = await startSimLlmServer();
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-shutdown-'));
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'proxy:\n  shutdownGraceMs: 300\n');
    const lines: string[] = [];
    const logger = createLogger({ level: 'info', write: (l) => lines.push(l) });
    const records: RequestRecord[] = [];
    const agent = await startAgent([
      '--config', cfg, '--sensors', 'simulated', '--upstream', sim.url, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0',
      '--interval-ms', '50', '--records', join(dir, 'records.jsonl'),
    ], { env: {}, logger, onRecord: (r) => records.push(r) });
    try {
      // ~44 s of tokens at the simulated 45 tok/s: still running when the grace ends.
      const res = await fetch(`${agent.proxyUrl}/v1/chat/completions`, {
        method: 'POST', headers: { 'content-type': 'application/json', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
        body: JSON.stringify({ model: 'qwen2.5-32b-instruct', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2000, stream: true }),
      });
      const id = res.headers.get('x-inferwatt-request-id')!;
      const reading = res.text().catch(() => 'cut');
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      await agent.stop();
      expect(performance.now() - t0).toBeLessThan(3_000);
      expect(await reading).toBe('cut');
      const text = lines.join('\n');
      expect(text).toMatch(/shutdown: 1 request still in flight after the 300 ms grace; cut \(recorded as aborted, reason shutdown\)/);
      expect(text).not.toMatch(/mid-body/);
      expect(text).not.toMatch(/lag/);
      const rec = records.find((r) => r.id === id)!;
      expect(rec).toMatchObject({ outcome: 'aborted', outcomeReason: 'shutdown', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
      const jsonl = readFileSync(join(dir, 'records.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as RequestRecord);
      expect(jsonl.find((r) => r.id === id)).toMatchObject({ outcome: 'aborted', outcomeReason: 'shutdown', traceId: '4bf92f3577b34da6a3ce929d0e0e4736' });
    } finally {
      await agent.stop();
      await sim.close();
    }
  });
});
