/**
 * The proxy's own HTTP/1.1 client (src/proxy/h1-client.ts) against raw TCP servers that write exact
 * bytes: framing (Content-Length, chunked, until close, no body), responses split at every byte,
 * keep-alive and its idle limits, backpressure, aborts, errors, request framing, TLS. A differential
 * property test holds it to node:http's client on generated responses.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { PassThrough } from 'node:stream';
import tls from 'node:tls';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { H1Pool, requestHead, type H1Exchange, type H1Request, type UpstreamHandler } from '../../src/proxy/h1-client.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  status?: number;
  statusText?: string;
  raw?: string[];
  body: Buffer;
  pieces: number;
  error?: Error & { code?: string };
  completed: boolean;
  /** onComplete/onError calls: exactly one is right. */
  ends: number;
}

/** One request through `pool`; resolves at onComplete or onError. */
function send(pool: H1Pool, req: Partial<H1Request> = {}, hooks: { onData?: (c: Buffer, x: H1Exchange) => boolean; started?: (x: H1Exchange) => void } = {}): Promise<Result> {
  return new Promise((resolve) => {
    const r: Result = { body: Buffer.alloc(0), pieces: 0, completed: false, ends: 0 };
    const parts: Buffer[] = [];
    const handler: UpstreamHandler = {
      onHeaders(status, statusText, raw) {
        r.status = status;
        r.statusText = statusText;
        r.raw = raw;
      },
      onData(chunk) {
        parts.push(Buffer.from(chunk));
        r.pieces++;
        return hooks.onData ? hooks.onData(chunk, x) : true;
      },
      onComplete() {
        r.ends++;
        r.completed = true;
        r.body = Buffer.concat(parts);
        setImmediate(() => resolve(r));
      },
      onError(err) {
        r.ends++;
        r.error = err;
        r.body = Buffer.concat(parts);
        setImmediate(() => resolve(r));
      },
    };
    const x = pool.dispatch({ method: 'GET', path: '/', headers: ['Host', 'x'], body: null, ...req }, handler);
    hooks.started?.(x);
  });
}

/**
 * A raw server: for each request head it reads (the body, if any, by the test's own `answer`), calls
 * `answer(socket, head, n)`. Counts connections and keeps what it received.
 */
async function rawServer(answer: (sock: net.Socket, head: string, n: number) => void | Promise<void>) {
  let connections = 0;
  let n = 0;
  const received: string[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((sock) => {
    connections++;
    sockets.add(sock);
    sock.setNoDelay(true);
    let buf = '';
    sock.on('data', (d) => {
      buf += d.toString('latin1');
      received.push(d.toString('latin1'));
      let end: number;
      while ((end = buf.indexOf('\r\n\r\n')) >= 0) {
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        void answer(sock, head, n++);
      }
    });
    sock.on('error', () => {});
    sock.on('close', () => sockets.delete(sock));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const close = () => {
    for (const s of sockets) s.destroy();
    server.close();
  };
  return { server, port, received, connections: () => connections, open: () => sockets.size, close };
}

const cleanup: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanup.splice(0)) c();
});
async function poolFor(answer: Parameters<typeof rawServer>[0]) {
  const up = await rawServer(answer);
  const pool = new H1Pool({ host: '127.0.0.1', port: up.port, secure: false });
  cleanup.push(() => pool.destroy(), up.close);
  return { up, pool };
}

const OK = 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello';
const CHUNKED = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: text/event-stream\r\n\r\n5\r\nhello\r\n1;ext=1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n';

describe('h1-client: framing', () => {
  it('a Content-Length body: status, reason, raw headers in order and case, the body', async () => {
    const { pool } = await poolFor((s) => void s.write(OK));
    const r = await send(pool);
    expect(r).toMatchObject({ status: 200, statusText: 'OK', raw: ['Content-Type', 'text/plain', 'Content-Length', '5'], completed: true, ends: 1 });
    expect(r.body.toString()).toBe('hello');
  });

  it('a chunked body: framing, extensions and trailers removed, each chunk handed on', async () => {
    const { pool, up } = await poolFor((s) => void s.write(CHUNKED));
    const r = await send(pool);
    expect(r.completed).toBe(true);
    expect(r.body.toString()).toBe('hello 0123456789');
    // the connection is reused after a chunked body with trailers
    await send(pool);
    expect(up.connections()).toBe(1);
  });

  it.each([
    ['Content-Length', OK, 'hello'],
    ['chunked', CHUNKED, 'hello 0123456789'],
    ['an informational 103 first', 'HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n' + OK, 'hello'],
  ])('a %s response split at every byte gives the same body, and one end', async (_n, response, body) => {
    let cut = 1;
    const { pool, up } = await poolFor(async (s) => {
      s.write(response.slice(0, cut));
      await sleep(3);
      s.write(response.slice(cut));
    });
    for (; cut < response.length; cut++) {
      const r = await send(pool);
      expect({ cut, status: r.status, body: r.body.toString(), ends: r.ends, completed: r.completed }).toEqual({ cut, status: 200, body, ends: 1, completed: true });
    }
    expect(up.connections()).toBe(1);
  });

  it('a body read until the close (no length, not chunked): complete at the close, the connection not reused', async () => {
    const { pool, up } = await poolFor((s) => void s.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end'));
    const r = await send(pool);
    expect(r).toMatchObject({ completed: true, ends: 1 });
    expect(r.body.toString()).toBe('until the end');
    await send(pool);
    expect(up.connections()).toBe(2);
  });

  it('no body for HEAD (whatever its Content-Length says), 204 and 304; the connection reused', async () => {
    const { pool, up } = await poolFor((s, head) => {
      if (head.startsWith('HEAD')) s.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n');
      else if (head.includes('/204')) s.write('HTTP/1.1 204 No Content\r\n\r\n');
      else s.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 7\r\n\r\n');
    });
    expect(await send(pool, { method: 'HEAD' })).toMatchObject({ status: 200, completed: true, pieces: 0 });
    expect(await send(pool, { path: '/204' })).toMatchObject({ status: 204, completed: true, pieces: 0 });
    expect(await send(pool, { path: '/304' })).toMatchObject({ status: 304, completed: true, pieces: 0 });
    expect(up.connections()).toBe(1);
  });

  it.each([
    ['a 204 followed by more bytes', (s: net.Socket) => void s.write('HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nX-Evil: 1\r\nContent-Length: 7\r\n\r\nspoofed'), 'GET'],
    ['a body sent on HEAD', (s: net.Socket) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nJUNK'), 'HEAD'],
    ['Content-Length: 0 followed by more bytes', (s: net.Socket) => void s.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nJUNK'), 'GET'],
    ['a chunked body followed by more bytes', (s: net.Socket) => void s.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nJUNK'), 'GET'],
  ])('%s: complete, and that connection is not reused (the next request does not read those bytes as its response)', async (_n, first, method) => {
    const { pool, up } = await poolFor((s, _h, n) => {
      if (n === 0) first(s);
      else s.write(OK);
    });
    expect(await send(pool, { method })).toMatchObject({ completed: true, ends: 1 });
    const next = await send(pool);
    expect(next).toMatchObject({ status: 200, completed: true, raw: ['Content-Type', 'text/plain', 'Content-Length', '5'] });
    expect(next.body.toString()).toBe('hello');
    expect(up.connections()).toBe(2);
  });

  it('a header value with 16,000 spaces inside is read whole (no backtracking), its ends trimmed', async () => {
    const inner = `a${' '.repeat(16_000)}b`;
    const { pool } = await poolFor((s) => void s.write(`HTTP/1.1 200 OK\r\nX-A:  ${inner}  \r\nContent-Length: 0\r\n\r\n`));
    expect(await send(pool)).toMatchObject({ completed: true, raw: ['X-A', inner, 'Content-Length', '0'] });
  });

  it('a status line without a reason phrase, and header values trimmed of spaces and tabs', async () => {
    const { pool } = await poolFor((s) => void s.write('HTTP/1.1 200\r\nX-A: \t spaced \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n'));
    expect(await send(pool)).toMatchObject({ status: 200, statusText: '', raw: ['X-A', 'spaced', 'X-Empty', '', 'Content-Length', '0'], completed: true });
  });

  it.each([
    ['an invalid status line', 'HTTP/2 200 OK\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['an invalid header line', 'HTTP/1.1 200 OK\r\nno colon here\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['two different Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['two equal Content-Lengths (node:http refuses them too)', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nab', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['Transfer-Encoding and Content-Length (relayed, the length would not match the body)', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\nHTTP/1.1 200 OK\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['a coding other than chunked and a Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: gzip\r\n\r\nokEXTRA', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['a chunk size followed by another number ("2 3")', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2 3\r\nab\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a NUL in a chunk extension', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2;a\u0000b\r\nab\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a space before the colon of a header', 'HTTP/1.1 200 OK\r\nX-A : 1\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a folded header line', 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  2\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a head whose lines end in LF alone, on a connection kept open', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', 'HPE_CR_EXPECTED'],
    ['a bare LF inside a head otherwise in CRLF', 'HTTP/1.1 200 OK\r\nX-A: 1\nContent-Length: 2\r\n\r\nok', 'HPE_INVALID_HEADER_TOKEN'],
    ['nine informational heads', 'HTTP/1.1 103 Early Hints\r\n\r\n'.repeat(9) + OK, 'HPE_INFORMATIONAL_LIMIT'],
    ['a Content-Length that is not a number', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\na', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['a bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk size too large', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['no CRLF after a chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['an upgrade nobody asked for', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'HPE_UPGRADE_UNASKED'],
    ['a head over 16 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17_000)}\r\n\r\n`, 'HPE_HEADER_OVERFLOW'],
    ['a head over 16 KiB that never ends', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(17_000)}`, 'HPE_HEADER_OVERFLOW'],
  ])('%s: onError with a parse error code, once, the connection closed', async (_n, response, code) => {
    const { pool, up } = await poolFor((s) => void s.write(response));
    const r = await send(pool);
    expect(r).toMatchObject({ completed: false, ends: 1, error: { code } });
    await sleep(20);
    expect(up.open()).toBe(0);
    expect(pool.sockets).toBe(0);
  });

  it('the server closes mid-body: onError "socket hang up" (ECONNRESET) after the pieces that came', async () => {
    const { pool } = await poolFor((s) => void s.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf'));
    const r = await send(pool);
    expect(r).toMatchObject({ completed: false, ends: 1, error: { code: 'ECONNRESET', message: 'socket hang up' } });
    expect(r.body.toString()).toBe('half');
  });

  it('nothing listens: onError ECONNREFUSED', async () => {
    const s = net.createServer();
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const port = (s.address() as AddressInfo).port;
    await new Promise((r) => s.close(r));
    const pool = new H1Pool({ host: '127.0.0.1', port, secure: false });
    cleanup.push(() => pool.destroy());
    expect(await send(pool)).toMatchObject({ ends: 1, error: { code: 'ECONNREFUSED' } });
  });
});

describe('h1-client: keep-alive', () => {
  it('sequential requests share one connection; `Connection: close` and an HTTP/1.0 answer end theirs', async () => {
    const { pool, up } = await poolFor((s, _h, n) => {
      if (n === 3) s.write('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else if (n === 4) s.write('HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n');
      else if (n === 5) s.write('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n');
      else s.write(OK);
    });
    for (let i = 0; i < 4; i++) await send(pool); // 0–2 on the first connection, 3 closes it
    expect(up.connections()).toBe(1);
    await send(pool); // 4: HTTP/1.0 without keep-alive, on a second connection that it closes
    await send(pool); // 5: a third, kept
    await send(pool); // 6: on the third
    expect(up.connections()).toBe(3);
  });

  it('bytes from the server with no request outstanding: that connection is dropped, the next request opens another', async () => {
    const { pool, up } = await poolFor((s) => {
      s.write(OK);
      setTimeout(() => s.write('HTTP/1.1 200 OK\r\n'), 10);
    });
    await send(pool);
    await sleep(40);
    expect(pool.sockets).toBe(0);
    expect((await send(pool)).completed).toBe(true);
    expect(up.connections()).toBe(2);
  });

  it('an idle connection that the server closes leaves the pool', async () => {
    const { pool, up } = await poolFor((s) => {
      s.write(OK);
      setTimeout(() => s.end(), 10);
    });
    await send(pool);
    await sleep(40);
    expect(pool.sockets).toBe(0);
    expect((await send(pool)).completed).toBe(true);
    expect(up.connections()).toBe(2);
  });

  it('a server hinting Keep-Alive: timeout=2 has its idle connection closed by the client between 1 s and 2 s', async () => {
    let closedAt = 0;
    const { pool } = await poolFor((s) => {
      s.once('end', () => {
        closedAt = performance.now();
      });
      s.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=2\r\nContent-Length: 0\r\n\r\n');
    });
    await send(pool);
    const endedAt = performance.now();
    await sleep(2_100);
    expect(closedAt - endedAt).toBeGreaterThanOrEqual(990);
    expect(closedAt - endedAt).toBeLessThan(2_000);
  });

  it('without a hint an idle connection is kept past 1 s and closed within 4 s (below uvicorn\'s 5 s)', async () => {
    let closedAt = 0;
    const { pool, up } = await poolFor((s) => {
      s.once('end', () => {
        closedAt = performance.now();
      });
      s.write(OK);
    });
    await send(pool);
    await sleep(1_200);
    await send(pool);
    const endedAt = performance.now();
    expect(up.connections()).toBe(1);
    await sleep(4_200);
    expect(closedAt - endedAt).toBeGreaterThanOrEqual(3_400);
    expect(closedAt - endedAt).toBeLessThan(4_100);
  }, 10_000);

  it('after a burst of 300 concurrent requests (300 connections) at most 256 stay open, free', async () => {
    const { pool, up } = await poolFor(async (s) => {
      await sleep(50);
      s.write(OK);
    });
    const all = await Promise.all(Array.from({ length: 300 }, () => send(pool)));
    expect(all.every((r) => r.completed)).toBe(true);
    expect(up.connections()).toBe(300);
    await sleep(30);
    expect(pool.sockets).toBe(256);
  });

  it('a hint of 1 s or less: the connection is not kept', async () => {
    const { pool, up } = await poolFor((s) => void s.write('HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1, max=100\r\nContent-Length: 0\r\n\r\n'));
    await send(pool);
    await send(pool);
    expect(up.connections()).toBe(2);
  });
});

describe('h1-client: requests', () => {
  /** A node:http server that records what it parsed. */
  async function parsingServer() {
    const got: { method?: string; url?: string; rawHeaders: string[]; body: string }[] = [];
    const server = http.createServer((req, res) => {
      const parts: Buffer[] = [];
      req.on('data', (c: Buffer) => parts.push(c));
      req.on('end', () => {
        got.push({ method: req.method, url: req.url, rawHeaders: req.rawHeaders, body: Buffer.concat(parts).toString() });
        res.end('ok');
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const pool = new H1Pool({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, secure: false });
    cleanup.push(() => pool.destroy(), () => server.close());
    return { pool, got };
  }

  it('framing as node:http sends it: POST without a body gets Content-Length: 0, GET none, a stream without a length is chunked', async () => {
    const { pool, got } = await parsingServer();
    await send(pool, { method: 'POST', path: '/a' });
    await send(pool, { method: 'GET', path: '/b?q=1' });
    const body = new PassThrough();
    const p = send(pool, { method: 'POST', path: '/c', body });
    body.write('{"model":');
    await sleep(5);
    body.end('"m"}');
    expect((await p).completed).toBe(true);
    const withLength = new PassThrough();
    const q = send(pool, { method: 'PUT', path: '/d', headers: ['Host', 'x', 'Content-Length', '4'], body: withLength });
    withLength.end('abcd');
    expect((await q).completed).toBe(true);
    expect(got.map((g) => [g.method, g.url, g.body])).toEqual([
      ['POST', '/a', ''],
      ['GET', '/b?q=1', ''],
      ['POST', '/c', '{"model":"m"}'],
      ['PUT', '/d', 'abcd'],
    ]);
    const lower = (raw: string[]) => raw.map((v, i) => (i % 2 === 0 ? v.toLowerCase() : v));
    expect(lower(got[0]!.rawHeaders)).toEqual(['host', 'x', 'connection', 'keep-alive', 'content-length', '0']);
    expect(lower(got[1]!.rawHeaders)).toEqual(['host', 'x', 'connection', 'keep-alive']);
    expect(lower(got[2]!.rawHeaders)).toEqual(['host', 'x', 'connection', 'keep-alive', 'transfer-encoding', 'chunked']);
    expect(lower(got[3]!.rawHeaders)).toEqual(['host', 'x', 'content-length', '4', 'connection', 'keep-alive']);
  });

  it('the head and a first body chunk go out in one write', async () => {
    const { pool, up } = await poolFor((s) => void s.write(OK));
    const body = new PassThrough();
    const p = send(pool, { method: 'POST', headers: ['Host', 'x', 'Content-Length', '2'], body });
    await sleep(10);
    expect(up.received).toHaveLength(0); // the head waits for the body
    body.end('{}');
    await p;
    expect(up.received).toEqual(['POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\n{}']);
  });

  it.each([
    ['a CR LF in a header value', ['Host', 'x', 'X-A', 'a\r\nX-Injected: 1'], '/', 'ERR_INVALID_CHAR'],
    ['a bad header name', ['Host', 'x', 'X A', 'a'], '/', 'ERR_INVALID_HTTP_TOKEN'],
    ['a space in the path', ['Host', 'x'], '/a b', 'ERR_UNESCAPED_CHARACTERS'],
  ])('%s: dispatch throws and nothing is sent', async (_n, headers, path, code) => {
    const { pool, up } = await poolFor((s) => void s.write(OK));
    const noop = () => true;
    expect(() => pool.dispatch({ method: 'GET', path, headers, body: null }, { onHeaders: noop, onData: noop, onComplete: noop, onError: noop })).toThrow(expect.objectContaining({ code }));
    await sleep(20);
    expect(up.connections()).toBe(0);
  });

  it('requestHead keeps latin1 header values (obs-text) as node:http does', () => {
    expect(requestHead('GET', '/', ['X-A', 't\u00e9'], false).head).toBe('GET / HTTP/1.1\r\nX-A: t\u00e9\r\nConnection: keep-alive\r\n\r\n');
  });

  it('a body that has already ended is sent (head and framing)', async () => {
    const { pool, got } = await parsingServer();
    const body = new PassThrough();
    body.end('{}');
    body.resume();
    await new Promise((r) => body.once('end', r));
    expect((await send(pool, { method: 'POST', path: '/e', body })).completed).toBe(true);
    expect(got.map((g) => [g.url, g.body])).toEqual([['/e', '']]);
  });

  it('a body that fails, or closes before its end: onError, the connection closed', async () => {
    const { pool, up } = await poolFor(() => {}); // waits for the body
    const failing = new PassThrough();
    const p = send(pool, { method: 'POST', body: failing });
    failing.write('part');
    await sleep(10);
    failing.destroy(new Error('client upload aborted'));
    expect(await p).toMatchObject({ ends: 1, error: { message: 'client upload aborted' } });
    const closing = new PassThrough();
    const q = send(pool, { method: 'POST', body: closing });
    closing.write('part');
    await sleep(10);
    closing.destroy();
    expect(await q).toMatchObject({ ends: 1, error: { code: 'ERR_STREAM_PREMATURE_CLOSE' } });
    await sleep(20);
    expect(up.open()).toBe(0);
  });

  it('an answer before the request body is all sent (an early 413): complete, and that connection is not reused', async () => {
    const { pool, up } = await poolFor((s) => void s.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n'));
    const body = new PassThrough();
    const p = send(pool, { method: 'POST', body });
    body.write('part');
    expect(await p).toMatchObject({ status: 413, completed: true });
    body.end('rest'); // no longer read
    await send(pool);
    expect(up.connections()).toBe(2);
  });
});

describe('h1-client: control', () => {
  it('backpressure: after onData returns false no more data comes until resume()', async () => {
    const { pool } = await poolFor(async (s) => {
      s.write('HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nab');
      await sleep(10);
      s.write('cd');
      await sleep(10);
      s.write('ef');
    });
    let exch: H1Exchange | undefined;
    let calls = 0;
    const p = send(pool, {}, {
      onData: (_c, x) => {
        exch = x;
        return ++calls > 1;
      },
    });
    await sleep(60);
    expect(calls).toBe(1); // paused after 'ab', though 'cd' and 'ef' were sent
    exch!.resume();
    const r = await p;
    expect(r.body.toString()).toBe('abcdef');
    expect(calls).toBeGreaterThan(1);
  });

  it('abort(): onError with the given error, the server sees the close; abort after the end changes nothing', async () => {
    const { pool, up } = await poolFor(() => {}); // never answers
    let exch: H1Exchange | undefined;
    const p = send(pool, {}, { started: (x) => (exch = x) });
    await sleep(10);
    exch!.abort(new Error('upstream timeout'));
    const r = await p;
    expect(r).toMatchObject({ ends: 1, error: { message: 'upstream timeout' } });
    await sleep(20);
    expect(up.open()).toBe(0);
    exch!.abort();
    expect(r.ends).toBe(1);
  });

  it('abort() of an ended request does not touch the next request on the same connection', async () => {
    const { pool, up } = await poolFor(async (s, _h, n) => {
      if (n === 1) await sleep(30);
      s.write(OK);
    });
    let first: H1Exchange | undefined;
    await send(pool, {}, { started: (x) => (first = x) });
    const p = send(pool);
    await sleep(5);
    first!.abort();
    expect(await p).toMatchObject({ completed: true, ends: 1 });
    expect(up.connections()).toBe(1);
  });

  it.each(['onHeaders', 'onData'] as const)('a throw from %s fails the request (onError with it), not the process', async (where) => {
    const { pool } = await poolFor((s) => void s.write(OK));
    const r = await new Promise<{ err?: Error; ends: number }>((resolve) => {
      const out: { err?: Error; ends: number } = { ends: 0 };
      pool.dispatch({ method: 'GET', path: '/', headers: ['Host', 'x'], body: null }, {
        onHeaders() {
          if (where === 'onHeaders') throw new Error(`thrown in ${where}`);
        },
        onData() {
          if (where === 'onData') throw new Error(`thrown in ${where}`);
          return true;
        },
        onComplete() {
          out.ends++;
          setTimeout(() => resolve(out), 10);
        },
        onError(err) {
          out.ends++;
          out.err = err;
          setTimeout(() => resolve(out), 10);
        },
      });
    });
    expect(r).toMatchObject({ ends: 1, err: { message: `thrown in ${where}` } });
    expect(pool.sockets).toBe(0);
  });

  it('destroy(): requests in flight end in onError, later dispatches throw', async () => {
    const { pool } = await poolFor(() => {});
    const p = send(pool);
    await sleep(10);
    pool.destroy();
    expect(await p).toMatchObject({ ends: 1, error: { code: 'ERR_CLIENT_DESTROYED' } });
    const noop = () => true;
    expect(() => pool.dispatch({ method: 'GET', path: '/', headers: [], body: null }, { onHeaders: noop, onData: noop, onComplete: noop, onError: noop })).toThrow(
      expect.objectContaining({ code: 'ERR_CLIENT_DESTROYED' }),
    );
  });
});

describe('h1-client: TLS', () => {
  // A self-signed certificate for localhost, committed (test/fixtures/tls/SOURCES.md).
  const key = readFileSync(new URL('../fixtures/tls/localhost-key.pem', import.meta.url));
  const cert = readFileSync(new URL('../fixtures/tls/localhost-cert.pem', import.meta.url));

  async function tlsServer() {
    const server = tls.createServer({ key, cert }, (s) => {
      s.on('data', (d) => {
        if (d.toString('latin1').includes('\r\n\r\n')) s.write(OK);
      });
      s.on('error', () => {});
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanup.push(() => server.close());
    return (server.address() as AddressInfo).port;
  }

  it('an upstream whose certificate is trusted: the response, on one kept connection', async () => {
    const port = await tlsServer();
    const pool = new H1Pool({ host: '127.0.0.1', port, secure: true, servername: 'localhost', tlsOptions: { ca: cert } });
    cleanup.push(() => pool.destroy());
    expect((await send(pool)).body.toString()).toBe('hello');
    expect((await send(pool)).completed).toBe(true);
    expect(pool.sockets).toBe(1);
  });

  it('a second connection resumes the TLS session of the first (no full handshake)', async () => {
    const port = await tlsServer();
    const pool = new H1Pool({ host: '127.0.0.1', port, secure: true, servername: 'localhost', tlsOptions: { ca: cert } });
    cleanup.push(() => pool.destroy());
    const reused: boolean[] = [];
    const started = (x: H1Exchange) => {
      const socket = (x as unknown as { conn: { socket: tls.TLSSocket } }).conn.socket;
      socket.once('secureConnect', () => reused.push(socket.isSessionReused()));
    };
    await send(pool, {}, { started });
    await sleep(20); // the session ticket follows the handshake (TLS 1.3)
    // two at once: the second needs a connection of its own
    await Promise.all([send(pool, {}, { started }), send(pool, {}, { started })]);
    expect(reused).toEqual([false, true]);
  });

  it('a certificate nobody vouches for is refused (onError), as node:https refuses it', async () => {
    const port = await tlsServer();
    const pool = new H1Pool({ host: '127.0.0.1', port, secure: true, servername: 'localhost' });
    cleanup.push(() => pool.destroy());
    const r = await send(pool);
    expect(r.completed).toBe(false);
    expect(r.error?.code).toBe('DEPTH_ZERO_SELF_SIGNED_CERT');
  });
});

describe('h1-client against node:http\'s client (property)', () => {
  const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,11}$/).filter((n) => !/^(content-length|transfer-encoding|connection|keep-alive|upgrade|trailer)$/i.test(n));
  const value = fc.stringMatching(/^[!-~]([ -~]{0,20}[!-~])?$/);
  const response = fc.record({
    status: fc.constantFrom(200, 201, 204, 400, 404, 429, 500, 503),
    reason: fc.constantFrom('OK', 'Whatever', 'Two Words', ''),
    headers: fc.array(fc.tuple(token, value), { maxLength: 5 }),
    body: fc.uint8Array({ maxLength: 300 }),
    framing: fc.constantFrom('length', 'chunked', 'close'),
    chunkSizes: fc.array(fc.integer({ min: 1, max: 64 }), { minLength: 1, maxLength: 8 }),
    trailers: fc.boolean(),
    cuts: fc.array(fc.integer({ min: 1, max: 400 }), { maxLength: 4 }),
  });

  function encode(r: { status: number; reason: string; headers: [string, string][]; body: Uint8Array; framing: string; chunkSizes: number[]; trailers: boolean }): Buffer {
    const body = r.status === 204 ? Buffer.alloc(0) : Buffer.from(r.body);
    let head = `HTTP/1.1 ${r.status}${r.reason ? ' ' + r.reason : ''}\r\n`;
    for (const [n, v] of r.headers) head += `${n}: ${v}\r\n`;
    if (r.status === 204) return Buffer.from(head + '\r\n', 'latin1');
    if (r.framing === 'length') return Buffer.concat([Buffer.from(`${head}Content-Length: ${body.length}\r\n\r\n`, 'latin1'), body]);
    if (r.framing === 'close') return Buffer.concat([Buffer.from(`${head}Connection: close\r\n\r\n`, 'latin1'), body]);
    const parts: Buffer[] = [Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`, 'latin1')];
    let at = 0;
    let k = 0;
    while (at < body.length) {
      const n = Math.min(r.chunkSizes[k++ % r.chunkSizes.length]!, body.length - at);
      parts.push(Buffer.from(`${n.toString(16)}\r\n`), body.subarray(at, at + n), Buffer.from('\r\n'));
      at += n;
    }
    parts.push(Buffer.from(r.trailers ? '0\r\nX-T: 1\r\n\r\n' : '0\r\n\r\n'));
    return Buffer.concat(parts);
  }

  it('status, reason, raw headers and body as node:http reads them, the response cut into pieces anywhere', async () => {
    let current: { bytes: Buffer; cuts: number[]; close: boolean } = { bytes: Buffer.alloc(0), cuts: [], close: false };
    const up = await rawServer(async (s) => {
      const { bytes, cuts, close } = current;
      let at = 0;
      for (const c of [...new Set(cuts.map((x) => x % Math.max(1, bytes.length)))].sort((a, b) => a - b)) {
        if (c <= at) continue;
        s.write(bytes.subarray(at, c));
        at = c;
        await sleep(1);
      }
      if (close) s.end(bytes.subarray(at));
      else s.write(bytes.subarray(at));
    });
    cleanup.push(up.close);
    const pool = new H1Pool({ host: '127.0.0.1', port: up.port, secure: false });
    cleanup.push(() => pool.destroy());
    const viaNode = () =>
      new Promise<{ status?: number; reason?: string; raw: string[]; body: string }>((resolve, reject) => {
        const req = http.request({ host: '127.0.0.1', port: up.port, path: '/', agent: false }, (res) => {
          const parts: Buffer[] = [];
          res.on('data', (c: Buffer) => parts.push(c));
          res.on('end', () => resolve({ status: res.statusCode, reason: res.statusMessage, raw: res.rawHeaders, body: Buffer.concat(parts).toString('hex') }));
        });
        req.on('error', reject);
        req.end();
      });
    await fc.assert(
      fc.asyncProperty(response, async (r) => {
        current = { bytes: encode(r), cuts: r.cuts, close: r.framing === 'close' };
        const expected = await viaNode();
        const got = await send(pool);
        expect(got.ends).toBe(1);
        expect(got.completed).toBe(true);
        expect({ status: got.status, reason: got.statusText, raw: got.raw, body: got.body.toString('hex') }).toEqual(expected);
      }),
      { numRuns: 60 },
    );
  }, 30_000);
});
