/**
 * A tap that throws (a parser bug, an input nobody foresaw) must cost the request its tokens, nothing
 * more: the bytes still go both ways, the window still ends, the process lives.
 * Thrown from a stream's 'data' listener, it would be an uncaught exception: the request body not
 * forwarded, the window left open, the agent gone.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createProxy, listenProxy } from '../../src/proxy/app.js';
import { inferwattMiddleware } from '../../src/proxy/middleware.js';
import { fixtureReply, startReplayUpstream } from '../helpers/replay-upstream.js';
import { rawRequest } from './http-client.js';
import { createRecordingTracker } from './recording-tracker.js';

vi.mock('../../src/proxy/tap.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/proxy/tap.js')>();
  const boom = (): never => {
    throw new Error('tap bug');
  };
  return { ...real, createRequestTap: () => ({ write: boom, end: boom }), createResponseTap: () => ({ write: boom, end: boom }) };
});

const closers: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

describe('taps that throw', () => {
  it('proxy: request body and response forwarded intact, window ends ok without tokens', async () => {
    const upstream = await startReplayUpstream(() => fixtureReply('openai/chat-nonstream-gpt35.json'));
    const tracker = createRecordingTracker();
    const proxy = createProxy({ upstreams: [{ name: 'default', url: upstream.url }], tracker, clock: createSystemClock(), logger: silentLogger });
    const { server, url } = await listenProxy(proxy.app, '127.0.0.1', 0);
    closers.push(async () => {
      await proxy.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await upstream.close();
    });
    const body = Buffer.from('{"model":"gpt-3.5-turbo","messages":[{"role":"user","content":"hi"}]}');
    const direct = await rawRequest(upstream.url, { path: '/v1/chat/completions', body });
    const res = await rawRequest(url, { path: '/v1/chat/completions', headers: { 'content-type': 'application/json' }, body });
    expect(res.status).toBe(200);
    expect(res.body.equals(direct.body)).toBe(true);
    const seen = upstream.requests.at(-1)!;
    expect(seen.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    await tracker.windowsEnded(1);
    const w = tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    expect(w.end).toMatchObject({ status: 200, outcome: 'ok' });
    expect(w.merged.promptTokens).toBeUndefined();
  });

  it("middleware: the user's writes go through, window ends ok", async () => {
    const tracker = createRecordingTracker();
    const mw = inferwattMiddleware({ tracker, clock: createSystemClock() });
    const server = http.createServer((req, res) =>
      mw(req, res, () => {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"model":"m"}\n\n');
        res.end('data: [DONE]\n\n');
      }),
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    });
    const res = await rawRequest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { path: '/v1/chat/completions', body: '{}' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('data: {"model":"m"}\n\ndata: [DONE]\n\n');
    await tracker.windowsEnded(1);
    expect(tracker.windows[0]!.end).toMatchObject({ status: 200, outcome: 'ok' });
  });
});
