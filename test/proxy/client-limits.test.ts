/**
 * What the proxy's own server allows a client (issue 13, item 1: slowloris): a header timeout, a
 * timeout for the whole request (headers and body) that never cuts a long response, and a bound on
 * open connections. Real sockets; the timeouts are set small so the test takes a second, not 60.
 */
import net from 'node:net';
import type http from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createProxy, listenProxy, type ProxyListenOptions } from '../../src/proxy/app.js';
import { fixtureReply, startReplayUpstream, type ReplayUpstream } from '../helpers/replay-upstream.js';
import { rawRequest } from './http-client.js';
import { createRecordingTracker } from './recording-tracker.js';

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function start(listen?: ProxyListenOptions, upstream?: ReplayUpstream): Promise<{ server: http.Server; url: string; port: number; upstream: ReplayUpstream }> {
  const up = upstream ?? (await startReplayUpstream(() => fixtureReply('openai/chat-stream-include-usage-gpt35.sse', { delayMs: 60 })));
  const proxy = createProxy({ upstreams: [{ name: 'default', url: up.url }], tracker: createRecordingTracker(), clock: createSystemClock(), logger: silentLogger });
  const { server, url, address } = await listenProxy(proxy.app, '127.0.0.1', 0, listen);
  closers.push(async () => {
    await proxy.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
    await up.close();
  });
  return { server, url, port: address.port, upstream: up };
}

interface Watched {
  sock: net.Socket;
  received: () => string;
  /** Resolves with the ms it took to close, or undefined if still open after `withinMs`. */
  closedWithin(withinMs: number): Promise<number | undefined>;
}

function connect(port: number): Promise<Watched> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    let data = '';
    let closedAt: number | undefined;
    const closeWaiters: (() => void)[] = [];
    const sock = net.connect(port, '127.0.0.1', () =>
      resolve({
        sock,
        received: () => data,
        closedWithin: (ms) =>
          new Promise((r) => {
            if (closedAt !== undefined) return r(closedAt - t0);
            const timer = setTimeout(() => r(undefined), ms);
            closeWaiters.push(() => {
              clearTimeout(timer);
              r(closedAt! - t0);
            });
          }),
      }),
    );
    sock.on('data', (d) => (data += d.toString('latin1')));
    sock.on('error', () => {});
    sock.on('close', () => {
      closedAt = performance.now();
      for (const w of closeWaiters.splice(0)) w();
    });
    sock.once('error', reject);
    closers.push(async () => void sock.destroy());
  });
}

describe('the proxy server bounds what a client can hold', () => {
  it('defaults: node\'s 60 s header timeout, 300 s for the whole request, 4096 connections', async () => {
    const { server } = await start();
    expect(server.headersTimeout).toBe(60_000);
    expect(server.requestTimeout).toBe(300_000);
    expect(server.maxConnections).toBe(4096);
  });

  it('a client that sends its headers one byte at a time is answered 408 and cut at the header timeout', async () => {
    const { port } = await start({ headersTimeoutMs: 300 });
    const c = await connect(port);
    c.sock.write('GET /v1/models HTTP/1.1\r\nHost: x\r\nX-Slow: ');
    const drip = setInterval(() => c.sock.write('a'), 50);
    try {
      const ms = await c.closedWithin(3_000);
      expect(ms, 'the connection was still open after 3 s').toBeDefined();
      expect(ms!).toBeGreaterThanOrEqual(290);
      expect(c.received()).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(drip);
    }
  });

  it('a client that sends its body one byte at a time is cut at the request timeout; the upstream request is cancelled', async () => {
    const { port, upstream } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 400 });
    const c = await connect(port);
    c.sock.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{');
    const drip = setInterval(() => c.sock.write(' '), 50);
    try {
      const ms = await c.closedWithin(3_000);
      expect(ms, 'the connection was still open after 3 s').toBeDefined();
      expect(ms!).toBeGreaterThanOrEqual(390);
      await upstream.settled(1);
      expect(upstream.requests[0]!.aborted || upstream.requests[0]!.bodyBytes < 1000).toBe(true);
    } finally {
      clearInterval(drip);
    }
  });

  it('a response streamed for longer than both timeouts is not cut', async () => {
    // 17 SSE events 60 ms apart: about 1 s of stream, against 200 ms and 300 ms timeouts.
    const { url } = await start({ headersTimeoutMs: 200, requestTimeoutMs: 300 });
    const t0 = performance.now();
    const res = await rawRequest(url, { path: '/v1/chat/completions', body: '{"stream":true}' });
    expect(performance.now() - t0).toBeGreaterThan(600);
    expect(res.status).toBe(200);
    expect(res.aborted).toBe(false);
    expect(res.body.toString()).toContain('data: [DONE]');
  });

  it('past maxConnections a new connection is closed at once; those open stay, and a freed slot takes a new one', async () => {
    const { port, url } = await start({ maxConnections: 2 });
    const a = await connect(port);
    const b = await connect(port);
    a.sock.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n'); // unfinished headers: each holds its connection
    b.sock.write('GET /v1/models HTTP/1.1\r\nHost: x\r\n');
    const c = await connect(port);
    expect(await c.closedWithin(1_000), 'a third connection was accepted').toBeDefined();
    expect(c.received()).toBe('');
    expect(await a.closedWithin(100)).toBeUndefined();
    expect(await b.closedWithin(100)).toBeUndefined();
    a.sock.destroy();
    await a.closedWithin(1_000);
    await new Promise((r) => setTimeout(r, 50)); // the server sees the close
    const res = await rawRequest(url, { method: 'GET', path: '/v1/models' });
    expect(res.status).toBe(200);
  });
});
