/**
 * Issue 13, item 10: /readyz said ready while the upstream refused connections, and nothing else said
 * it either. Upstream reachability is now reported beside readiness (its `upstreams` field, the metric
 * inferwatt_upstream_up), never in it: a restarting upstream does not make the agent flap.
 */
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface Readyz { status: string; reasons: string[]; upstreams: { name: string; url: string; reachable: boolean | null; since: string | null; error: string | null }[] }

async function until<T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let v = await get();
  for (let i = 0; i < 200 && !ok(v); i++) {
    await new Promise((r) => setTimeout(r, 25));
    v = await get();
  }
  if (!ok(v)) throw new Error(`never: ${what} (last: ${JSON.stringify(v)})`);
  return v;
}

describe('upstream reachability', () => {
  it('an upstream that refuses connections shows in /readyz\'s upstreams and as inferwatt_upstream_up 0 while the agent stays ready; it comes back when the upstream does', async () => {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-probe-'));
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'proxy:\n  upstreamProbeIntervalMs: 100\n');
    const agent = await startAgent(['--config', cfg, '--sensors', 'simulated', '--interval-ms', '50', '--upstream', `http://127.0.0.1:${port}`, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], { env: {}, logger: silentLogger });
    let upstream: http.Server | undefined;
    try {
      const readyz = async () => {
        const res = await fetch(`${agent.metricsUrl}/readyz`);
        return { code: res.status, body: (await res.json()) as Readyz };
      };
      const metric = async () => /^inferwatt_upstream_up\{upstream="default"\} (\S+)$/m.exec(await (await fetch(`${agent.metricsUrl}/metrics`)).text())?.[1];

      const down = await until('ready', readyz, (r) => r.code === 200);
      expect(down.body.status).toBe('ready');
      expect(down.body.upstreams).toEqual([{ name: 'default', url: `http://127.0.0.1:${port}`, reachable: false, since: expect.any(String), error: 'ECONNREFUSED' }]);
      expect(await metric()).toBe('0');

      upstream = http.createServer((_q, s) => s.end('ok'));
      await new Promise<void>((r) => upstream!.listen(port, '127.0.0.1', r));
      const up = await until('reachable', readyz, (r) => r.body.upstreams[0]?.reachable === true);
      expect(up.code).toBe(200);
      expect(up.body.upstreams[0]).toMatchObject({ reachable: true, error: null });
      expect(await metric()).toBe('1');
    } finally {
      await agent.stop();
      upstream?.close();
    }
  });
});
