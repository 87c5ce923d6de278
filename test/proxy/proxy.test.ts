import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createFakeClock, createSystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createProxy, listenProxy, type UpstreamErrorReason } from '../../src/proxy/app.js';
import { fixtureReply, startReplayUpstream, type Reply, type ReplayUpstream } from '../helpers/replay-upstream.js';
import { FIXTURES, fixtureBody, fixtureContentType, fixtureRequest, type FixtureCase } from './fixture-table.js';
import { rawRequest } from './http-client.js';
import { createRecordingTracker, type RecordingTracker } from './recording-tracker.js';

/** The replay upstream serves what the `x-replay-*` headers of a request ask for. */
function replyFromHeaders(req: http.IncomingMessage): Reply {
  const h = (n: string) => {
    const v = req.headers[n];
    return Array.isArray(v) ? v[0] : v;
  };
  const name = h('x-replay-fixture');
  const c = FIXTURES.find((f) => f.file === name);
  const chunking = h('x-replay-chunking');
  const extra: Partial<Reply> = {
    ...(chunking ? { chunking: chunking === 'events' || chunking === 'whole' ? chunking : Number(chunking) } : {}),
    ...(h('x-replay-fault') ? { fault: h('x-replay-fault') as Reply['fault'] } : {}),
    ...(h('x-replay-fault-after') ? { faultAfterChunks: Number(h('x-replay-fault-after')) } : {}),
  };
  if (h('x-replay-body') !== undefined) {
    return { status: 200, headers: { 'content-type': h('x-replay-content-type') ?? 'application/json' }, body: Buffer.from(h('x-replay-body')!, 'base64'), ...extra };
  }
  if (!c) return { status: 200, headers: { 'content-type': 'text/plain' }, body: Buffer.from('ok\n'), ...extra };
  const reply = c.reframe ? { body: fixtureBody(c), headers: { 'content-type': fixtureContentType(c) } } : fixtureReply(c.file);
  return { ...reply, status: c.status ?? 200, ...extra, headers: { ...reply.headers, ...(h('x-replay-extra-header') ? JSON.parse(h('x-replay-extra-header')!) : {}) } };
}

interface Rig {
  upstream: ReplayUpstream;
  tracker: RecordingTracker;
  errors: UpstreamErrorReason[];
  url: string;
  server: http.Server;
  close(): Promise<void>;
}

async function startRig(opts: { upstreamUrl?: string; upstreamTimeoutMs?: number; upstreamIdleTimeoutMs?: number; clock?: ReturnType<typeof createFakeClock> } = {}): Promise<Rig> {
  const upstream = await startReplayUpstream(replyFromHeaders);
  const tracker = createRecordingTracker();
  const errors: UpstreamErrorReason[] = [];
  const proxy = createProxy({
    upstreams: [{ name: 'default', url: opts.upstreamUrl ?? upstream.url }],
    tracker,
    clock: opts.clock ?? createSystemClock(),
    logger: silentLogger,
    onUpstreamError: (r) => errors.push(r),
    ...(opts.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: opts.upstreamTimeoutMs } : {}),
    ...(opts.upstreamIdleTimeoutMs !== undefined ? { upstreamIdleTimeoutMs: opts.upstreamIdleTimeoutMs } : {}),
  });
  const { server, url } = await listenProxy(proxy.app, '127.0.0.1', 0);
  return {
    upstream,
    tracker,
    errors,
    url,
    server,
    async close() {
      await proxy.close();
      await new Promise<void>((r) => {
        server.close(() => r());
        server.closeAllConnections();
      });
      await upstream.close();
    },
  };
}

const reqModel = (c: FixtureCase): string | undefined => {
  const r = fixtureRequest(c);
  if (!r) return undefined;
  const m = (JSON.parse(r.toString('utf8')) as { model?: unknown }).model;
  return typeof m === 'string' ? m : undefined;
};

/** Headers that legitimately differ between a direct and a proxied response. */
const comparable = (h: http.IncomingHttpHeaders) => {
  const { date: _d, connection: _c, 'keep-alive': _k, 'transfer-encoding': _t, 'x-inferwatt-request-id': _i, ...rest } = h;
  return rest;
};

/**
 * An SSE upstream for tests on a fake clock: `respond` writes each event through `send`, which resolves
 * once the client has read it (pass `onChunk` to the client), so the clock moves between events and never
 * ahead of them. The stream ends when `respond` returns.
 */
async function lockstepUpstream(respond: (send: (ev: string) => Promise<void>, res: http.ServerResponse) => Promise<void>) {
  let clientBytes = 0;
  let sent = 0;
  const server = http.createServer((_req, res) => {
    clientBytes = 0;
    sent = 0;
    const send = async (ev: string) => {
      res.write(ev);
      sent += ev.length;
      while (clientBytes < sent) await new Promise((r) => setImmediate(r));
    };
    void respond(send, res).then(() => res.end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    onChunk: (c: Buffer) => void (clientBytes += c.length),
    close: () => server.close(),
  };
}

describe('proxy on the recorded corpus (node:http client, raw bytes)', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(() => rig.close());

  describe.each(FIXTURES.map((c) => [c.file, c] as const))('%s', (_n, c) => {
    it('the client receives the bytes and headers of a direct connection; the window holds model, tokens and outcome', async () => {
      const body = fixtureRequest(c) ?? Buffer.from('{}');
      // byte chunks that cut lines and UTF-8 characters, to exercise the taps' tails through real sockets
      const headers = { 'content-type': 'application/json', 'x-replay-fixture': c.file, 'x-replay-chunking': '37' };
      const direct = await rawRequest(rig.upstream.url, { path: c.path, headers, body });
      const proxied = await rawRequest(rig.url, { path: c.path, headers, body });

      expect(proxied.status).toBe(direct.status);
      expect(proxied.body.equals(direct.body)).toBe(true);
      expect(comparable(proxied.headers)).toEqual(comparable(direct.headers));

      const id = proxied.headers['x-inferwatt-request-id'];
      expect(typeof id).toBe('string');
      await rig.tracker.windowsEnded(rig.tracker.windows.length);
      const w = rig.tracker.byId(id as string)!;
      expect(w).toBeDefined();
      expect(w.start.pool).toBe('default');
      expect(w.start.api).toBe(c.api);
      const ok = (c.status ?? 200) < 400;
      expect(w.merged.model).toBe((ok ? c.model : undefined) ?? reqModel(c));
      expect(w.merged.promptTokens).toBe(ok ? c.prompt : undefined);
      expect(w.merged.completionTokens).toBe(ok ? c.completion : undefined);
      expect(w.end).toMatchObject({ status: c.status ?? 200, outcome: ok && c.errorSeen ? 'error' : 'ok' });
      expect(w.firstByteMs).toBeGreaterThanOrEqual(w.start.startMs);
      expect(w.end!.endMs).toBeGreaterThanOrEqual(w.firstByteMs!);
      expect(w.lateCalls).toBe(0);
    });
  });

  it('the upstream sees no hop-by-hop headers (nor those named in Connection), the request id and its own Host', async () => {
    const res = await rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: {
        connection: 'keep-alive, x-hop-secret',
        'keep-alive': 'timeout=5',
        'x-hop-secret': '1',
        te: 'trailers',
        'proxy-authorization': 'Basic eDp5',
        'x-end-to-end': 'kept',
        'x-replay-fixture': 'openai/chat-nonstream-gpt35.json',
      },
      body: '{}',
    });
    expect(res.status).toBe(200);
    const seen = rig.upstream.requests.at(-1)!.headers;
    for (const h of ['keep-alive', 'x-hop-secret', 'te', 'proxy-authorization']) expect(seen[h], h).toBeUndefined();
    expect(seen['x-end-to-end']).toBe('kept');
    expect(seen.host).toBe(new URL(rig.upstream.url).host);
    expect(seen['x-inferwatt-request-id']).toBe(res.headers['x-inferwatt-request-id']);
  });

  it('response hop-by-hop headers of the upstream do not reach the client', async () => {
    const res = await rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: { 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json', 'x-replay-extra-header': JSON.stringify({ connection: 'x-upstream-hop', 'x-upstream-hop': '1', 'x-upstream-e2e': '1' }) },
      body: '{}',
    });
    expect(res.headers['x-upstream-hop']).toBeUndefined();
    expect(res.headers['x-upstream-e2e']).toBe('1');
  });

  it('a W3C traceparent is forwarded untouched and its trace and span ids noted for the record; an invalid one is forwarded but not noted', async () => {
    const tp = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const ok = await rawRequest(rig.url, { path: '/v1/chat/completions', headers: { traceparent: tp, 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json' }, body: '{}' });
    expect(rig.upstream.requests.at(-1)!.headers.traceparent).toBe(tp);
    const bad = await rawRequest(rig.url, { path: '/v1/chat/completions', headers: { traceparent: tp.toUpperCase(), 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json' }, body: '{}' });
    expect(rig.upstream.requests.at(-1)!.headers.traceparent).toBe(tp.toUpperCase());
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    expect(rig.tracker.notes.get(ok.headers['x-inferwatt-request-id'] as string)).toEqual({ traceId: '4bf92f3577b34da6a3ce929d0e0e4736', spanId: '00f067aa0ba902b7' });
    expect(rig.tracker.notes.has(bad.headers['x-inferwatt-request-id'] as string)).toBe(false);
  });

  it('a tenant header sent as UTF-8 (curl -H \'x-inferwatt-tenant: té\') is read as UTF-8, not latin1; one sent as latin1 stays readable', async () => {
    const sendRaw = (tenantBytes: Buffer) =>
      new Promise<string>((resolve, reject) => {
        const u = new URL(rig.url);
        const sock = net.connect(Number(u.port), u.hostname, () => {
          sock.write(Buffer.concat([Buffer.from('GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\nx-inferwatt-tenant: '), tenantBytes, Buffer.from('\r\n\r\n')]));
        });
        let got = '';
        sock.on('data', (d) => (got += d.toString('latin1')));
        sock.on('end', () => resolve(/x-inferwatt-request-id: ([0-9a-f-]+)/i.exec(got)?.[1] ?? ''));
        sock.on('error', reject);
      });
    const utf8 = await sendRaw(Buffer.from('té-ø-漢字', 'utf8'));
    const latin1 = await sendRaw(Buffer.from('té', 'latin1'));
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    expect(rig.tracker.byId(utf8)!.start.tenant).toBe('té-ø-漢字');
    expect(rig.tracker.byId(latin1)!.start.tenant).toBe('té');
  });

  it('GET and HEAD are forwarded too and carry a request id', async () => {
    const get = await rawRequest(rig.url, { method: 'GET', path: '/v1/models?x=1' });
    expect(get.status).toBe(200);
    expect(get.body.toString()).toBe('ok\n');
    expect(rig.upstream.requests.at(-1)!.url).toBe('/v1/models?x=1');
    expect(get.headers['x-inferwatt-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    const head = await rawRequest(rig.url, { method: 'HEAD', path: '/health' });
    expect(head.headers['x-inferwatt-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(head.headers['x-inferwatt-request-id'] as string)!;
    expect(w.start.method).toBe('HEAD');
    expect(w.start.api).toBeUndefined();
    // no body: the first byte is when the response (headers) went out
    expect(w.firstByteMs).toBeDefined();
    expect(w.end).toMatchObject({ status: 200, outcome: 'ok' });
  });

  it('malformed JSON from the upstream is forwarded untouched; its tokens stay unknown, not 0', async () => {
    const bad = Buffer.from('{"model":"m1","usage":{"prompt_tokens":5,"completion_tokens":');
    const res = await rawRequest(rig.url, { path: '/v1/chat/completions', headers: { 'x-replay-body': bad.toString('base64') }, body: '{"model":"asked"}' });
    expect(res.body.equals(bad)).toBe(true);
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    expect(w.merged.model).toBe('asked');
    expect(w.merged.promptTokens).toBeUndefined();
    expect(w.merged.completionTokens).toBeUndefined();
    expect(w.end?.outcome).toBe('ok');
  });

  it('a 10 MB request body is forwarded intact and not parsed', async () => {
    const filler = randomBytes(5 * 1024 * 1024).toString('hex'); // 10 MiB of text
    const body = Buffer.from(`{"model":"too-big-to-read","messages":[{"role":"user","content":"${filler}"}]}`);
    const res = await rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: { 'content-type': 'application/json', 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json' },
      body,
    });
    expect(res.status).toBe(200);
    const seen = rig.upstream.requests.at(-1)!;
    expect(seen.bodyBytes).toBe(body.length);
    expect(seen.bodySha256).toBe(createHash('sha256').update(body).digest('hex'));
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    // The response's model is read; the request's ("too-big-to-read") never was.
    expect(w.updates.some((u) => u.model === 'too-big-to-read')).toBe(false);
    expect(w.merged.model).toBe('gpt-3.5-turbo-0125');
  });

  it('a chunked (no Content-Length) 10 MB request body is forwarded intact and not parsed', async () => {
    const part = Buffer.from(`{"model":"chunked-big","x":"${'y'.repeat(1024 * 1024)}`);
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      const u = new URL('/v1/chat/completions', rig.url);
      const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', headers: { 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json' } }, resolve);
      req.on('error', reject);
      for (let i = 0; i < 10; i++) req.write(part);
      req.end('"}');
    });
    res.resume();
    await new Promise((r) => res.on('end', r));
    const seen = rig.upstream.requests.at(-1)!;
    expect(seen.bodyBytes).toBe(part.length * 10 + 2);
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    expect(w.updates.some((u) => u.model === 'chunked-big')).toBe(false);
  });

  it('streams: the first SSE chunk reaches the client before the upstream has finished (no buffering)', async () => {
    const before = rig.upstream.requests.length;
    // If the proxy held the chunk back, nothing would release the upstream: a fallback lets the test fail
    // instead of hang (set before the request is awaited, or it could never fire).
    const fallback = setTimeout(() => rig.upstream.release(), 5000);
    const res = await rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: { 'x-replay-fixture': 'openai/chat-stream-include-usage-gpt35.sse', 'x-replay-fault': 'hold' },
      body: '{"stream":true}',
      onChunk: (_c, i) => {
        if (i !== 0) return;
        rig.upstream.requests[before]!.events.push('client-first-chunk');
        rig.upstream.release();
      },
    }).finally(() => clearTimeout(fallback));
    expect(res.body.equals(fixtureBody(FIXTURES.find((f) => f.file === 'openai/chat-stream-include-usage-gpt35.sse')!))).toBe(true);
    expect(rig.upstream.requests[before]!.events).toEqual(['first-chunk-sent', 'client-first-chunk', 'finished']);
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    expect(w.merged).toMatchObject({ promptTokens: 14, completionTokens: 13 });
  });

  it('the client disconnects mid-stream: the upstream sees the abort, the window ends aborted', async () => {
    const before = rig.upstream.requests.length;
    const res = await rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: { 'x-replay-fixture': 'openai/chat-stream-include-usage-gpt35.sse', 'x-replay-fault': 'hold' },
      body: '{"model":"gpt-3.5-turbo","stream":true}',
      onChunk: () => 'destroy',
    });
    expect(res.aborted).toBe(true);
    await rig.upstream.settled(before + 1);
    expect(rig.upstream.requests[before]!.aborted).toBe(true);
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    expect(w.end).toMatchObject({ outcome: 'aborted', status: 200 });
    expect(w.merged.model).toBe('gpt-3.5-turbo-0125');
    expect(w.merged.completionTokens).toBeUndefined();
  });

  it('the upstream closes mid-stream: the client connection is cut, the window ends in error, counted as reset', async () => {
    const errorsBefore = rig.errors.length;
    const res = await rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: { 'x-replay-fixture': 'openai/chat-stream-include-usage-gpt35.sse', 'x-replay-fault': 'close-mid-stream', 'x-replay-fault-after': '2' },
      body: '{"stream":true}',
    });
    expect(res.status).toBe(200);
    expect(res.aborted).toBe(true);
    expect(res.body.length).toBeGreaterThan(0);
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    const w = rig.tracker.byId(res.headers['x-inferwatt-request-id'] as string)!;
    expect(w.end).toMatchObject({ outcome: 'error', status: 200 });
    expect(rig.errors.slice(errorsBefore)).toEqual(['reset']);
  });

  it('the upstream resets the connection before answering: 502 JSON, counted as reset', async () => {
    const errorsBefore = rig.errors.length;
    const res = await rawRequest(rig.url, { path: '/v1/chat/completions', headers: { 'x-replay-fault': 'reset', 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json' }, body: '{}' });
    expect(res.status).toBe(502);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: { type: 'upstream_error', code: 'upstream_reset' } });
    expect(res.headers['x-inferwatt-request-id']).toBeDefined();
    expect(rig.errors.slice(errorsBefore)).toEqual(['reset']);
  });

  it('1,000 concurrent streams all complete, byte-exact, and all windows end ok with their tokens', async () => {
    const c = FIXTURES.find((f) => f.file === 'openai/chat-stream-usage-no-details.sse')!;
    const expected = fixtureBody(c);
    const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
    const before = rig.tracker.windows.length;
    const results = await Promise.all(
      Array.from({ length: 1000 }, () => rawRequest(rig.url, { path: c.path, headers: { 'x-replay-fixture': c.file }, body: '{"model":"gpt-4","stream":true}', agent })),
    );
    agent.destroy();
    expect(results.every((r) => r.status === 200 && r.body.equals(expected))).toBe(true);
    const ids = new Set(results.map((r) => r.headers['x-inferwatt-request-id']));
    expect(ids.size).toBe(1000);
    await rig.tracker.windowsEnded(before + 1000);
    const ws = rig.tracker.windows.slice(before);
    expect(ws.every((w) => w.end?.outcome === 'ok' && w.merged.promptTokens === 13 && w.merged.completionTokens === 8)).toBe(true);
    expect(rig.tracker.inFlight()).toBe(0);
  }, 60_000);
});

describe('proxy faults that need their own upstream', () => {
  let rig: Rig | undefined;
  afterEach(async () => {
    await rig?.close();
    rig = undefined;
  });

  it('upstream down: 502 JSON error with a request id, counted as connect, window ends in error', async () => {
    const dead = http.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    rig = await startRig({ upstreamUrl: `http://127.0.0.1:${port}` });
    const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{"model":"m"}', headers: { 'content-type': 'application/json' } });
    expect(res.status).toBe(502);
    expect(res.headers['content-type']).toBe('application/json');
    const body = JSON.parse(res.body.toString()) as { error: { message: string; type: string; code: string } };
    expect(body.error).toMatchObject({ type: 'upstream_error', code: 'upstream_unreachable' });
    expect(body.error.message).toContain('ECONNREFUSED');
    expect(rig.errors).toEqual(['connect']);
    await rig.tracker.windowsEnded(1);
    expect(rig.tracker.windows[0]!.end).toMatchObject({ status: 502, outcome: 'error' });
    expect(rig.tracker.windows[0]!.start.id).toBe(res.headers['x-inferwatt-request-id']);
  });

  it('upstream that does not answer within upstreamTimeoutMs (fake clock): 504 JSON, counted as timeout', async () => {
    const clock = createFakeClock();
    rig = await startRig({ upstreamTimeoutMs: 30_000, clock });
    const pending = rawRequest(rig.url, { path: '/v1/chat/completions', headers: { 'x-replay-fault': 'hang' }, body: '{}' });
    while (rig.upstream.requests.length === 0 || rig.upstream.requests[0]!.bodySha256 === '') await new Promise((r) => setImmediate(r));
    clock.advance(29_999);
    await new Promise((r) => setImmediate(r));
    expect(rig.errors).toEqual([]);
    clock.advance(1);
    const res = await pending;
    expect(res.status).toBe(504);
    expect(JSON.parse(res.body.toString())).toMatchObject({ error: { type: 'upstream_error', code: 'upstream_timeout' } });
    expect(rig.errors).toEqual(['timeout']);
    await rig.tracker.windowsEnded(1);
    expect(rig.tracker.windows[0]!.end).toMatchObject({ status: 504, outcome: 'error', endMs: 30_000 });
  });

  it('an upstream that sends its headers and a first event, then nothing: cut after upstreamIdleTimeoutMs of silence (fake clock); the client is cut, the window ends in error with its reason, counted as timeout', async () => {
    const clock = createFakeClock();
    rig = await startRig({ upstreamIdleTimeoutMs: 1_000, clock });
    let gotFirst!: () => void;
    const first = new Promise<void>((r) => (gotFirst = r));
    const pending = rawRequest(rig.url, {
      path: '/v1/chat/completions',
      headers: { 'x-replay-fixture': 'openai/chat-stream-include-usage-gpt35.sse', 'x-replay-fault': 'hold' },
      body: '{"stream":true}',
      onChunk: () => gotFirst(),
    });
    await first;
    clock.advance(999);
    await new Promise((r) => setTimeout(r, 50));
    expect(rig.tracker.windows[0]!.end).toBeUndefined();
    expect(rig.errors).toEqual([]);
    clock.advance(251); // cut within 1.25 × the timeout of silence
    const res = await Promise.race([pending, new Promise<never>((_r, reject) => setTimeout(() => reject(new Error('the client was never cut')), 3_000))]);
    expect(res.status).toBe(200);
    expect(res.aborted).toBe(true);
    await rig.tracker.windowsEnded(1);
    const w = rig.tracker.windows[0]!;
    expect(w.end).toMatchObject({ outcome: 'error', status: 200 });
    expect(w.end!.endMs).toBeGreaterThanOrEqual(1_000);
    expect(rig.tracker.notes.get(w.start.id)).toEqual({ reason: 'upstream_idle_timeout' });
    expect(rig.errors).toEqual(['timeout']);
    await rig.upstream.settled(1);
    expect(rig.upstream.requests[0]!.aborted).toBe(true); // the server is told to stop generating
  });

  it('upstreamTimeoutMs times the headers only: a response whose headers come in time then streams past it is not cut, and the next request is timed afresh (fake clock)', async () => {
    const clock = createFakeClock();
    let served = 0;
    // Headers after 20 s (fake), then an event every 10 s for 60 s: 80 s in all, against a 30 s timeout.
    const up = await lockstepUpstream(async (send, res) => {
      served++;
      clock.advance(20_000);
      await new Promise((r) => setTimeout(r, 20));
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 6; i++) {
        await send(`data: {"i":${i}}\n\n`);
        clock.advance(10_000);
        await new Promise((r) => setTimeout(r, 5));
      }
    });
    try {
      rig = await startRig({ upstreamUrl: up.url, upstreamTimeoutMs: 30_000, clock });
      for (let k = 0; k < 2; k++) {
        const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{"stream":true}', onChunk: up.onChunk });
        expect(res.status).toBe(200);
        expect(res.aborted).toBe(false);
      }
      expect(served).toBe(2);
      expect(clock.nowMs()).toBe(160_000);
      await rig.tracker.windowsEnded(2);
      expect(rig.tracker.windows.map((w) => w.end?.outcome)).toEqual(['ok', 'ok']);
      expect(rig.errors).toEqual([]);
    } finally {
      up.close();
    }
  });

  it('a streamed response sends decode marks on the 250 ms grid: the chunks read by the first boundary after a write, and by the last one of a stall; its chunk count at the end (fake clock)', async () => {
    const clock = createFakeClock();
    // Content events at these fake times (ms after the headers), then [DONE]: a stall from 200 to 600 and one from 700 to 1300.
    const at = [10, 100, 200, 600, 700, 1_300];
    const up = await lockstepUpstream(async (send, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (const t of at) {
        clock.advance(t - clock.nowMs());
        await send(`data: {"choices":[{"delta":{"content":"x"}}]}\n\n`);
      }
      await send('data: [DONE]\n\n');
    });
    try {
      rig = await startRig({ upstreamUrl: up.url, clock });
      const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{"stream":true}', onChunk: up.onChunk });
      expect(res.status).toBe(200);
      await rig.tracker.windowsEnded(1);
      const w = rig.tracker.windows[0]!;
      expect(w.firstByteMs).toBe(10);
      expect(w.marks).toEqual([[250, 3], [500, 3], [750, 5], [1_250, 5]]);
      expect(w.merged.chunks).toBe(6);
      expect(w.lateCalls).toBe(0);
    } finally {
      up.close();
    }
  });

  it('a JSON (not streamed) response sends no decode marks and no chunk count', async () => {
    rig = await startRig();
    const res = await rawRequest(rig.url, { path: '/v1/chat/completions', headers: { 'x-replay-fixture': 'openai/chat-nonstream-gpt35.json' }, body: '{}' });
    expect(res.status).toBe(200);
    await rig.tracker.windowsEnded(1);
    expect(rig.tracker.windows[0]!.marks).toEqual([]);
    expect(rig.tracker.windows[0]!.merged.chunks).toBeUndefined();
  });

  it('a stream whose gaps are each shorter than upstreamIdleTimeoutMs is never cut, however long it runs in all (fake clock)', async () => {
    const clock = createFakeClock();
    // Each event goes out once the client has the previous one, 0.7 s (fake) later: 20 events, 14 s in all.
    const up = await lockstepUpstream(async (send, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      for (let i = 0; i < 20; i++) {
        await send(`data: {"i":${i}}\n\n`);
        clock.advance(700);
      }
    });
    try {
      rig = await startRig({ upstreamUrl: up.url, upstreamIdleTimeoutMs: 1_000, clock });
      const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{"stream":true}', onChunk: up.onChunk });
      expect(res.aborted).toBe(false);
      expect(clock.nowMs()).toBe(14_000);
      await rig.tracker.windowsEnded(1);
      expect(rig.tracker.windows[0]!.end).toMatchObject({ outcome: 'ok', status: 200 });
      expect(rig.errors).toEqual([]);
    } finally {
      up.close();
    }
  });

  it('an upstream held back by a slow client (backpressure) is not idle: a client that stops reading for longer than the idle timeout still gets the whole body', async () => {
    const clock = createFakeClock();
    const big = Buffer.alloc(32 * 1024 * 1024, 'x');
    const up = await startReplayUpstream(() => ({ status: 200, headers: { 'content-type': 'text/plain' }, body: big, chunking: 64 * 1024, contentLength: false }));
    rig = await startRig({ upstreamUrl: up.url, upstreamIdleTimeoutMs: 1_000, clock });
    const u = new URL('/download', rig.url);
    let received = 0;
    let paused = false;
    const done = new Promise<{ aborted: boolean }>((resolve, reject) => {
      const req = http.request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'GET', agent: false }, (res) => {
        res.once('data', (c: Buffer) => {
          received += c.length;
          res.pause(); // the client stops reading: socket buffers fill, the proxy pauses the upstream
          void (async () => {
            // Socket buffers on loopback hold a few MB: by now the proxy has paused the 32 MB upstream.
            await new Promise((r) => setTimeout(r, 500));
            paused = up.requests[0]?.finished === false;
            clock.advance(5_000);
            await new Promise((r) => setTimeout(r, 50));
            res.on('data', (d: Buffer) => (received += d.length));
            res.resume();
          })();
        });
        res.on('close', () => resolve({ aborted: !res.complete }));
      });
      req.on('error', reject);
      req.end();
    });
    try {
      expect(await done).toEqual({ aborted: false });
      expect(paused, 'the upstream had finished before the clock moved: no backpressure was exercised').toBe(true);
      expect(received).toBe(big.length);
      expect(up.requests[0]!.finished).toBe(true);
      expect(rig.errors).toEqual([]);
    } finally {
      await up.close();
    }
  }, 20_000);

  it('an upstream 5xx is passed through untouched, counted as status_5xx, window outcome error', async () => {
    const up = http.createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"overloaded"}}');
    });
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    rig = await startRig({ upstreamUrl: `http://127.0.0.1:${(up.address() as AddressInfo).port}` });
    const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{}' });
    expect(res.status).toBe(503);
    expect(res.body.toString()).toBe('{"error":{"message":"overloaded"}}');
    expect(rig.errors).toEqual(['status_5xx']);
    await rig.tracker.windowsEnded(1);
    expect(rig.tracker.windows[0]!.end).toMatchObject({ status: 503, outcome: 'error' });
    up.close();
  });
  it.each([
    ['a status below 100', 'HTTP/1.1 099 Odd\r\ncontent-length: 2\r\n\r\nok'],
    ['a control character in the reason phrase', 'HTTP/1.1 200 O\x7fK\r\ncontent-length: 2\r\n\r\nok'],
  ])('an upstream response node:http parses but will not relay (%s): 502 JSON, counted as other, window ends in error', async (_n, raw) => {
    const up = net.createServer((sock) => sock.once('data', () => sock.end(Buffer.from(raw, 'latin1'))));
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    try {
      rig = await startRig({ upstreamUrl: `http://127.0.0.1:${(up.address() as AddressInfo).port}` });
      const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{}' });
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: { type: 'upstream_error', code: 'upstream_bad_response' } });
      expect(res.headers['x-inferwatt-request-id']).toBe(rig.tracker.windows[0]!.start.id);
      expect(rig.errors).toEqual(['other']);
      await rig.tracker.windowsEnded(1);
      expect(rig.tracker.windows[0]!.end).toMatchObject({ status: 502, outcome: 'error' });
    } finally {
      up.close();
    }
  });

  it('an upstream that answers 101 (an upgrade nobody asked for, Upgrade is never forwarded): 502 JSON, counted as other, window ends in error', async () => {
    const up = net.createServer((sock) => sock.once('data', () => sock.end('HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n\r\n')));
    await new Promise<void>((r) => up.listen(0, '127.0.0.1', r));
    try {
      rig = await startRig({ upstreamUrl: `http://127.0.0.1:${(up.address() as AddressInfo).port}` });
      const res = await rawRequest(rig.url, { path: '/v1/chat/completions', body: '{}' });
      expect(res.status).toBe(502);
      expect(JSON.parse(res.body.toString())).toMatchObject({ error: { type: 'upstream_error', code: 'upstream_error' } });
      expect(rig.errors).toEqual(['other']);
      await rig.tracker.windowsEnded(1);
      expect(rig.tracker.windows[0]!.end).toMatchObject({ status: 502, outcome: 'error' });
    } finally {
      up.close();
    }
  });
});

describe('several upstreams by path prefix', () => {
  let a: ReplayUpstream;
  let b: ReplayUpstream;
  let server: http.Server;
  let url: string;
  const tracker = createRecordingTracker();
  let close: () => Promise<void>;
  beforeAll(async () => {
    a = await startReplayUpstream(() => ({ body: Buffer.from('A') }));
    b = await startReplayUpstream(() => ({ body: Buffer.from('B') }));
    const proxy = createProxy({
      upstreams: [
        { name: 'gpu-a', url: a.url, pathPrefix: '/a' },
        { name: 'gpu-b', url: `${b.url}/base`, pathPrefix: '/a/b', stripPrefix: false },
      ],
      tracker,
      clock: createSystemClock(),
      logger: silentLogger,
    });
    ({ server, url } = await listenProxy(proxy.app, '127.0.0.1', 0));
    close = async () => {
      await proxy.close();
      server.closeAllConnections();
      server.close();
      await a.close();
      await b.close();
    };
  });
  afterAll(() => close());

  it('the longest matching prefix wins; the prefix is stripped by default, kept with stripPrefix false', async () => {
    const ra = await rawRequest(url, { path: '/a/v1/chat/completions?q=1', body: '{}' });
    expect(ra.body.toString()).toBe('A');
    expect(a.requests.at(-1)!.url).toBe('/v1/chat/completions?q=1');
    const rb = await rawRequest(url, { path: '/a/b/v1/embeddings', body: '{}' });
    expect(rb.body.toString()).toBe('B');
    expect(b.requests.at(-1)!.url).toBe('/base/a/b/v1/embeddings');
    await tracker.windowsEnded(2);
    expect(tracker.byId(ra.headers['x-inferwatt-request-id'] as string)!.start).toMatchObject({ pool: 'gpu-a', api: 'openai.chat' });
    expect(tracker.byId(rb.headers['x-inferwatt-request-id'] as string)!.start).toMatchObject({ pool: 'gpu-b', api: 'openai.embeddings' });
  });

  it('a prefix matches on a segment boundary only; no default upstream → 404 JSON with a request id, typed as the client\'s error (as OpenAI answers an unknown path), not the upstream\'s', async () => {
    const r = await rawRequest(url, { path: '/ab/v1/chat/completions', body: '{}' });
    expect(r.status).toBe(404);
    expect(JSON.parse(r.body.toString())).toMatchObject({ error: { type: 'invalid_request_error', code: 'no_upstream' } });
    expect(r.headers['x-inferwatt-request-id']).toBeDefined();
  });
});

describe('the official openai client through the proxy', () => {
  let rig: Rig;
  beforeAll(async () => {
    rig = await startRig();
  });
  afterAll(() => rig.close());

  const client = (baseURL: string, fixture: string) => new OpenAI({ baseURL: `${baseURL}/v1`, apiKey: 'sk-test', maxRetries: 0, defaultHeaders: { 'x-replay-fixture': fixture } });

  it('non-streaming chat: same result as direct; the request id names a window with model and tokens', async () => {
    const f = 'openai/chat-nonstream-gpt35.json';
    const args = { model: 'gpt-3.5-turbo', messages: [{ role: 'user' as const, content: 'Hello, how are you?' }] };
    const direct = await client(rig.upstream.url, f).chat.completions.create(args);
    const { data, response } = await client(rig.url, f).chat.completions.create(args).withResponse();
    expect(data).toEqual(direct);
    expect(data.usage).toMatchObject({ prompt_tokens: 13, completion_tokens: 31 });
    const id = response.headers.get('x-inferwatt-request-id')!;
    await rig.tracker.windowsEnded(rig.tracker.windows.length);
    // cachedPromptTokens: the recorded usage's prompt_tokens_details says 0 (the client sends no stream flag).
    expect(rig.tracker.byId(id)!.merged).toEqual({ model: 'gpt-3.5-turbo-0125', promptTokens: 13, completionTokens: 31, cachedPromptTokens: 0 });
  });

  it('streaming chat with include_usage, 20 concurrent: each stream equals the direct one and each window has its tokens', async () => {
    const f = 'openai/chat-stream-include-usage-gpt35.sse';
    const run = async (base: string) => {
      const { data: stream, response } = await client(base, f)
        .chat.completions.create({ model: 'gpt-3.5-turbo', messages: [{ role: 'user', content: 'Count from 1 to 5' }], stream: true, stream_options: { include_usage: true } })
        .withResponse();
      const chunks = [];
      for await (const ch of stream) chunks.push(ch);
      return { chunks, id: response.headers.get('x-inferwatt-request-id') };
    };
    const direct = await run(rig.upstream.url);
    expect(direct.chunks.at(-1)!.usage).toMatchObject({ prompt_tokens: 14, completion_tokens: 13 });
    const before = rig.tracker.windows.length;
    const proxied = await Promise.all(Array.from({ length: 20 }, () => run(rig.url)));
    for (const p of proxied) expect(p.chunks).toEqual(direct.chunks);
    await rig.tracker.windowsEnded(before + 20);
    for (const p of proxied) {
      const w = rig.tracker.byId(p.id!)!;
      // chunks: the recording's 16 data events before [DONE] (role, 13 tokens, finish, usage).
      expect(w.merged).toEqual({ model: 'gpt-3.5-turbo-0125', stream: true, promptTokens: 14, completionTokens: 13, cachedPromptTokens: 0, chunks: 16 });
      expect(w.end?.outcome).toBe('ok');
      expect(w.start.api).toBe('openai.chat');
    }
  });

  it('legacy completions stream, embeddings and the Responses API stream through the client', async () => {
    const before = rig.tracker.windows.length;
    const comp = await client(rig.url, 'openai/completions-legacy-stream-davinci002.sse').completions.create({ model: 'davinci-002', prompt: 'Tell me a joke about opentelemetry', stream: true });
    let text = '';
    for await (const ch of comp) text += ch.choices[0]?.text ?? '';
    expect(text.length).toBeGreaterThan(0);
    const emb = await client(rig.url, 'openai/embeddings-3-small-dim256.json').embeddings.create({ model: 'text-embedding-3-small', input: ['Hello world'], dimensions: 256, encoding_format: 'float' });
    expect(emb.data[0]!.embedding).toHaveLength(256);
    const resp = await client(rig.url, 'openai/responses-api-stream-event-lines.sse').responses.create({ model: 'gpt-4.1-nano', input: 'Tell me a story', stream: true });
    let completed: unknown;
    for await (const ev of resp) if (ev.type === 'response.completed') completed = ev.response.usage;
    expect(completed).toMatchObject({ input_tokens: 18, output_tokens: 80 });
    await rig.tracker.windowsEnded(before + 3);
    const [w1, w2, w3] = rig.tracker.windows.slice(before);
    expect(w1!.merged).toEqual({ model: 'davinci:2023-07-21-v2', stream: true, chunks: 16 });
    expect(w2!.merged).toEqual({ model: 'text-embedding-3-small', promptTokens: 2, completionTokens: 0 });
    expect(w3!.merged).toEqual({ model: 'gpt-4.1-nano-2025-04-14', stream: true, promptTokens: 18, completionTokens: 80, cachedPromptTokens: 0, chunks: 87 });
  });
});

describe('proxy.app mounted inside a user express app', () => {
  it('forwards through express routing too (mounted under a path, the mount path is not forwarded)', async () => {
    const express = (await import('express')).default;
    const up = await startReplayUpstream(() => fixtureReply('openai/chat-nonstream-gpt35.json'));
    const tracker = createRecordingTracker();
    const proxy = createProxy({ upstreams: [{ name: 'default', url: up.url }], tracker, clock: createSystemClock(), logger: silentLogger });
    const outer = express();
    outer.use('/llm', proxy.app);
    const server = http.createServer(outer);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    try {
      const res = await rawRequest(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { path: '/llm/v1/chat/completions', body: '{"model":"x"}' });
      expect(res.status).toBe(200);
      expect(up.requests.at(-1)!.url).toBe('/v1/chat/completions');
      await tracker.windowsEnded(1);
      expect(tracker.windows[0]!.merged).toMatchObject({ model: 'gpt-3.5-turbo-0125', promptTokens: 13, completionTokens: 31 });
      expect(res.headers['x-inferwatt-request-id']).toBe(tracker.windows[0]!.start.id);
    } finally {
      await proxy.close();
      server.closeAllConnections();
      server.close();
      await up.close();
    }
  });
});
