/**
 * The proxy's client limits as `inferwatt run` sets them from its configuration (issue 13, item 1):
 * proxy.headersTimeoutMs and proxy.maxConnections reach the server, and a dropped connection is counted.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { startAgent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';

function closedWithin(sock: net.Socket, ms: number): Promise<number | undefined> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    if (sock.destroyed) return resolve(0);
    const timer = setTimeout(() => resolve(undefined), ms);
    sock.once('close', () => {
      clearTimeout(timer);
      resolve(performance.now() - t0);
    });
  });
}

describe('proxy limits from the configuration', () => {
  it('proxy.headersTimeoutMs cuts a client trickling its headers; past proxy.maxConnections a connection is closed and counted', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-limits-'));
    const cfg = join(dir, 'c.yaml');
    writeFileSync(cfg, 'proxy:\n  headersTimeoutMs: 400\n  maxConnections: 1\n  upstreamProbeIntervalMs: 0\n');
    const agent = await startAgent(['--config', cfg, '--sensors', 'simulated', '--upstream', 'http://127.0.0.1:9', '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0'], { env: {}, logger: silentLogger });
    try {
      const { port } = new URL(agent.proxyUrl!);
      const open = (): Promise<net.Socket> => new Promise((r) => {
        const s = net.connect(Number(port), '127.0.0.1', () => r(s));
        s.on('error', () => {});
      });
      const a = await open();
      let got = '';
      a.on('data', (d) => (got += d.toString()));
      a.write('GET / HTTP/1.1\r\nHost: x\r\n');
      const drip = setInterval(() => a.write('X-A: b\r\n'), 50);
      const b = await open();
      expect(await closedWithin(b, 1_000)).toBeDefined();
      const ms = await closedWithin(a, 3_000);
      clearInterval(drip);
      expect(ms, 'the trickling client was never cut').toBeDefined();
      expect(got).toMatch(/^HTTP\/1\.1 408 /);
      const text = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
      expect(text).toMatch(/^inferwatt_proxy_connections_dropped_total 1$/m);
      expect(text).not.toMatch(/^inferwatt_upstream_up/m); // the probe is off (interval 0)
    } finally {
      await agent.stop();
    }
  });
});
