import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createUpstreamRouter, type UpstreamRouter } from '../../src/proxy/upstreams.js';

/** A raw HTTP/1.1 server that answers every request on a connection and never closes it itself. */
function rawServer(keepAliveHeader: string | undefined): Promise<{ server: net.Server; port: number; closedAt: number[]; connections: () => number }> {
  const closedAt: number[] = [];
  let connections = 0;
  const server = net.createServer((sock) => {
    connections++;
    sock.on('data', (d) => {
      if (!d.toString('latin1').includes('\r\n\r\n')) return;
      sock.write(`HTTP/1.1 200 OK\r\nContent-Length: 2\r\n${keepAliveHeader ? `Keep-Alive: ${keepAliveHeader}\r\n` : ''}\r\nok`);
    });
    sock.on('end', () => {
      closedAt.push(performance.now());
      sock.end();
    });
    sock.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, closedAt, connections: () => connections })));
}

function get(router: UpstreamRouter): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = router.upstreams[0]!.request({ method: 'GET', path: '/', headers: ['Host', 'x'] });
    req.on('response', (r) => {
      r.resume();
      r.on('end', () => resolve(performance.now()));
    });
    req.on('error', reject);
    req.end();
  });
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});

describe('upstream keep-alive pool: idle sockets closed by a sweep, not a per-request socket timer', () => {
  it('reuses one socket for sequential requests', async () => {
    const up = await rawServer(undefined);
    const router = createUpstreamRouter([{ name: 'u', url: `http://127.0.0.1:${up.port}` }]);
    cleanup.push(() => router.destroy(), () => up.server.close());
    for (let i = 0; i < 5; i++) await get(router);
    expect(up.connections()).toBe(1);
  });

  it('an idle socket whose server hints Keep-Alive: timeout=2 is closed by the proxy before the server would (hint − 1 s, then the next sweep)', async () => {
    const up = await rawServer('timeout=2');
    const router = createUpstreamRouter([{ name: 'u', url: `http://127.0.0.1:${up.port}` }]);
    cleanup.push(() => router.destroy(), () => up.server.close());
    const endedAt = await get(router);
    await new Promise((r) => setTimeout(r, 2_200));
    expect(up.closedAt).toHaveLength(1);
    const idleMs = up.closedAt[0]! - endedAt;
    // not before the hinted limit (1 s), and before the server's own 2 s
    expect(idleMs).toBeGreaterThanOrEqual(990);
    expect(idleMs).toBeLessThan(2_000);
  });

  it('without a hint an idle socket is kept past 1 s and closed within 4 s (below uvicorn\'s 5 s)', async () => {
    const up = await rawServer(undefined);
    const router = createUpstreamRouter([{ name: 'u', url: `http://127.0.0.1:${up.port}` }]);
    cleanup.push(() => router.destroy(), () => up.server.close());
    const endedAt = await get(router);
    await new Promise((r) => setTimeout(r, 1_200));
    expect(up.closedAt).toHaveLength(0);
    await get(router); // still the same socket
    expect(up.connections()).toBe(1);
    const secondEnd = performance.now();
    await new Promise((r) => setTimeout(r, 4_300));
    expect(up.closedAt).toHaveLength(1);
    expect(up.closedAt[0]! - secondEnd).toBeGreaterThanOrEqual(3_400);
    expect(endedAt).toBeLessThan(secondEnd);
  }, 10_000);
});
