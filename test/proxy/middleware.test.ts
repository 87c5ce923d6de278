import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import { afterEach, describe, expect, it } from 'vitest';
import { createFakeClock } from '../../src/core/clock.js';
import { inferwattMiddleware } from '../../src/proxy/middleware.js';
import { splitEvents } from '../helpers/replay-upstream.js';
import { FIXTURES, fixtureBody } from './fixture-table.js';
import { rawRequest } from './http-client.js';
import { createRecordingTracker } from './recording-tracker.js';

const fixture = (file: string) => FIXTURES.find((f) => f.file === file)!;

let servers: http.Server[] = [];
afterEach(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((r) => s.close(r));
  }
  servers = [];
});

async function serve(handler: http.RequestListener): Promise<string> {
  const server = http.createServer(handler);
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

describe('inferwattMiddleware', () => {
  it('notes the caller\'s W3C trace context and a 5xx\'s reason for the record, and reads a UTF-8 tenant header as UTF-8', async () => {
    const tracker = createRecordingTracker();
    const clock = createFakeClock(1000);
    const mw = inferwattMiddleware({ tracker, clock });
    const url = await serve((req, res) => mw(req, res, () => {
      res.writeHead(req.url === '/fail' ? 503 : 200, { 'content-type': 'application/json' });
      res.end('{}');
    }));
    const tp = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    // The UTF-8 bytes of `équipe`, as curl sends them (node:http's client writes header strings as latin1
    // when the body is a Buffer).
    const ok = await rawRequest(url, { path: '/v1/chat/completions', headers: { traceparent: tp, 'x-inferwatt-tenant': Buffer.from('équipe', 'utf8').toString('latin1') }, body: Buffer.from('{}') });
    const fail = await rawRequest(url, { path: '/fail', body: '{}' });
    await tracker.windowsEnded(2);
    expect(tracker.byId(ok.headers['x-inferwatt-request-id'] as string)!.start.tenant).toBe('équipe');
    expect(tracker.notes.get(ok.headers['x-inferwatt-request-id'] as string)).toEqual({ traceId: '0af7651916cd43dd8448eb211c80319c', spanId: 'b7ad6b7169203331' });
    expect(tracker.notes.get(fail.headers['x-inferwatt-request-id'] as string)).toEqual({ reason: 'status_5xx' });
  });

  it('express app streaming SSE: bytes unchanged, window with model (from express.json body, then the response) and tokens', async () => {
    const tracker = createRecordingTracker();
    const clock = createFakeClock(1000);
    const body = fixtureBody(fixture('openai/chat-stream-include-usage-gpt35.sse'));
    const app = express();
    app.use(express.json());
    app.use(inferwattMiddleware({ tracker, clock, pool: 'mine' }));
    app.post('/v1/chat/completions', async (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      clock.advance(5);
      const events = splitEvents(body, true);
      // strings and buffers both, as user code writes them
      for (const [i, e] of events.entries()) {
        res.write(i % 2 ? e.toString('utf8') : Buffer.from(e));
        await new Promise((r) => setImmediate(r));
      }
      clock.advance(10);
      res.end();
    });
    const url = await serve(app);
    const res = await rawRequest(url, { path: '/v1/chat/completions', headers: { 'content-type': 'application/json', 'x-inferwatt-tenant': 'team-a' }, body: '{"model":"gpt-3.5-turbo","stream":true}' });
    expect(res.body.equals(body)).toBe(true);
    await tracker.windowsEnded(1);
    const w = tracker.windows[0]!;
    expect(res.headers['x-inferwatt-request-id']).toBe(w.start.id);
    expect(w.start).toMatchObject({ pool: 'mine', startMs: 1000, api: 'openai.chat', tenant: 'team-a', method: 'POST' });
    expect(w.updates[0]).toEqual({ model: 'gpt-3.5-turbo', stream: true });
    expect(w.merged).toEqual({ model: 'gpt-3.5-turbo-0125', stream: true, promptTokens: 14, completionTokens: 13, cachedPromptTokens: 0, chunks: 16 });
    expect(w.firstByteMs).toBe(1005);
    expect(w.marks).toEqual([]); // every event at one instant of the clock: no boundary of the mark grid crossed
    expect(w.end).toEqual({ endMs: 1015, status: 200, outcome: 'ok' });
  });

  it('plain node:http with res.end(json): tokens from the JSON body', async () => {
    const tracker = createRecordingTracker();
    const mw = inferwattMiddleware({ tracker, clock: createFakeClock() });
    const body = fixtureBody(fixture('ollama/api-generate-nonstream-gemma3.json'));
    const url = await serve((req, res) =>
      mw(req, res, () => {
        req.resume();
        req.on('end', () => {
          res.setHeader('content-type', 'application/json; charset=utf-8');
          res.end(body);
        });
      }),
    );
    const res = await rawRequest(url, { path: '/api/generate', body: '{"model":"gemma3:1b","stream":false}' });
    expect(res.body.equals(body)).toBe(true);
    await tracker.windowsEnded(1);
    expect(tracker.windows[0]!.start.pool).toBe('default');
    expect(tracker.windows[0]!.merged).toEqual({ model: 'gemma3:1b', promptTokens: 15, completionTokens: 65 });
  });

  it('a 5xx written by the handler ends the window in error; the client going away ends it aborted', async () => {
    const tracker = createRecordingTracker();
    const mw = inferwattMiddleware({ tracker, clock: createFakeClock() });
    const url = await serve((req, res) =>
      mw(req, res, () => {
        if (req.url === '/fail') {
          res.statusCode = 500;
          res.end('{"error":"boom"}');
          return;
        }
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"model":"m","choices":[]}\n\n'); // then never ends
      }),
    );
    const fail = await rawRequest(url, { path: '/fail', method: 'GET' });
    expect(fail.status).toBe(500);
    await tracker.windowsEnded(1);
    expect(tracker.windows[0]!.end).toMatchObject({ status: 500, outcome: 'error' });
    const cut = await rawRequest(url, { path: '/v1/chat/completions', body: '{}', onChunk: () => 'destroy' });
    expect(cut.aborted).toBe(true);
    await tracker.windowsEnded(2);
    expect(tracker.windows[1]!.end).toMatchObject({ status: 200, outcome: 'aborted' });
    expect(tracker.windows[1]!.merged.model).toBe('m');
  });

  it('a response without a body (204): its first byte is when it ends, as in the proxy', async () => {
    const tracker = createRecordingTracker();
    const clock = createFakeClock(1000);
    const mw = inferwattMiddleware({ tracker, clock });
    const url = await serve((req, res) =>
      mw(req, res, () => {
        clock.advance(7);
        res.statusCode = 204;
        res.end();
      }),
    );
    const res = await rawRequest(url, { path: '/v1/models', method: 'DELETE' });
    expect(res.status).toBe(204);
    await tracker.windowsEnded(1);
    expect(tracker.windows[0]!.firstByteMs).toBe(1007);
    expect(tracker.windows[0]!.end).toMatchObject({ endMs: 1007, status: 204, outcome: 'ok' });
  });

  it('a tracker that throws never breaks the response', async () => {
    const mw = inferwattMiddleware({
      tracker: {
        inFlight: () => 0,
        open: () => {
          throw new Error('ledger down');
        },
      },
      clock: createFakeClock(),
    });
    const url = await serve((req, res) => mw(req, res, () => res.end('fine')));
    const res = await rawRequest(url, { path: '/', method: 'GET' });
    expect(res.status).toBe(200);
    expect(res.body.toString()).toBe('fine');
  });
});
