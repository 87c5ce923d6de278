/**
 * Issue 13, item 6: an HTTP Upgrade (WebSocket) used to be forwarded as a plain GET: the proxy stripped
 * `Upgrade`/`Connection` (hop-by-hop) and the client got the server's 200 or 426. It is now tunnelled
 * transparently to the upstream: the handshake goes through, then bytes flow both ways untouched. A
 * tunnel is not attributed (no window, no record): a session can last hours and its requests are not
 * HTTP requests the taps could read.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { createSystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createProxy, listenProxy } from '../../src/proxy/app.js';
import { createRecordingTracker, type RecordingTracker } from './recording-tracker.js';

const closers: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

/** A WebSocket echo server of the smallest kind (RFC 6455: handshake, small masked text frames, close). */
async function startWsEcho(): Promise<{ url: string; seen: http.IncomingMessage[]; sockets: net.Socket[] }> {
  const seen: http.IncomingMessage[] = [];
  const sockets: net.Socket[] = [];
  const server = http.createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain', upgrade: 'websocket' });
    res.end('upgrade required\n');
  });
  server.on('upgrade', (req: http.IncomingMessage, sock: net.Socket) => {
    seen.push(req);
    sockets.push(sock);
    const accept = createHash('sha1').update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Upstream: yes\r\n\r\n`);
    sock.on('error', () => {});
    sock.on('data', (buf: Buffer) => {
      const opcode = buf[0]! & 0x0f;
      const len = buf[1]! & 0x7f; // < 126 in these tests
      const mask = buf.subarray(2, 6);
      const payload = Buffer.from(buf.subarray(6, 6 + len).map((b, i) => b ^ mask[i % 4]!));
      if (opcode === 0x8) {
        sock.end(Buffer.concat([Buffer.from([0x88, payload.length]), payload])); // the close frame back, with its code
        return;
      }
      const out = Buffer.from(`echo:${payload.toString()}`);
      sock.write(Buffer.concat([Buffer.from([0x81, out.length]), out]));
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => new Promise<void>((r) => {
    for (const s of sockets) s.destroy();
    server.closeAllConnections();
    server.close(() => r());
  }));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, sockets };
}

async function startProxy(upstreams: { name: string; url: string; pathPrefix?: string }[]): Promise<{ url: string; port: number; tracker: RecordingTracker; server: http.Server; proxy: ReturnType<typeof createProxy> }> {
  const tracker = createRecordingTracker();
  const proxy = createProxy({ upstreams, tracker, clock: createSystemClock(), logger: silentLogger });
  const { server, url, address } = await listenProxy(proxy.app, '127.0.0.1', 0);
  closers.push(async () => {
    await proxy.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url, port: address.port, tracker, server, proxy };
}

/** The WebSocket client of node itself (undici's, behind --experimental-websocket in node 20), in a child process. */
function wsClient(url: string): Promise<string> {
  const script = `
    const ws = new WebSocket(process.env.WS_URL);
    const out = [];
    ws.onopen = () => ws.send('hello');
    ws.onmessage = (e) => { out.push('message ' + e.data); ws.close(1000); };
    ws.onerror = () => out.push('error');
    ws.onclose = (e) => { out.push('close ' + e.code); console.log(out.join('|')); process.exit(0); };
    setTimeout(() => { console.log(out.concat('timeout').join('|')); process.exit(0); }, 4000);
  `;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--experimental-websocket', '--no-warnings', '-e', script], { env: { ...process.env, WS_URL: url }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('error', reject);
    child.on('close', () => resolve(out.trim()));
  });
}

function rawExchange(port: number, request: string, closeAfterMs = 1500): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => sock.write(request));
    let got = '';
    const timer = setTimeout(() => sock.destroy(), closeAfterMs);
    sock.on('data', (d) => (got += d.toString('latin1')));
    sock.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
    sock.on('error', reject);
  });
}

const UPGRADE = (path: string) =>
  `GET ${path} HTTP/1.1\r\nHost: client.example\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n`;

describe('HTTP Upgrade (WebSocket) through the proxy', () => {
  it('node\'s own WebSocket client talks to a WebSocket server through the proxy, path prefix stripped as for any request', async () => {
    const up = await startWsEcho();
    const { url } = await startProxy([{ name: 'ws', url: up.url, pathPrefix: '/rt' }]);
    const out = await wsClient(`${url.replace('http', 'ws')}/rt/v1/realtime?model=x`);
    expect(out).toBe('message echo:hello|close 1000');
    expect(up.seen[0]!.url).toBe('/v1/realtime?model=x');
    expect(up.seen[0]!.headers.host).toBe(new URL(up.url).host);
    expect(up.seen[0]!.headers['x-inferwatt-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(up.seen[0]!.headers['x-forwarded-host']).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  it('the 101 carries the upstream\'s headers and a request id; the tunnel is not attributed (no window)', async () => {
    const up = await startWsEcho();
    const { port, tracker } = await startProxy([{ name: 'default', url: up.url }]);
    const got = await rawExchange(port, UPGRADE('/ws'), 300);
    expect(got).toMatch(/^HTTP\/1\.1 101 Switching Protocols\r\n/);
    expect(got).toMatch(/\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=\r\n/i);
    expect(got).toMatch(/\r\nX-Upstream: yes\r\n/i);
    expect(got).toMatch(/\r\nx-inferwatt-request-id: [0-9a-f-]{36}\r\n/i);
    expect(tracker.windows).toHaveLength(0);
  });

  it('an upstream that declines the upgrade: its answer reaches the client as it is, then the connection closes', async () => {
    const declined = http.createServer((_req, res) => {
      res.writeHead(426, { 'content-type': 'text/plain' });
      res.end('no websockets here\n');
    });
    await new Promise<void>((r) => declined.listen(0, '127.0.0.1', r));
    closers.push(() => new Promise<void>((r) => declined.close(() => r())));
    const p2 = await startProxy([{ name: 'default', url: `http://127.0.0.1:${(declined.address() as AddressInfo).port}` }]);
    const got2 = await rawExchange(p2.port, UPGRADE('/ws'));
    expect(got2).toMatch(/^HTTP\/1\.1 426 /);
    expect(got2).toMatch(/\r\nx-inferwatt-request-id: [0-9a-f-]{36}\r\n/i);
    expect(got2.endsWith('no websockets here\n')).toBe(true);
  });

  it('an upstream that is down: 502 JSON, as for any request', async () => {
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    const port = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const p = await startProxy([{ name: 'default', url: `http://127.0.0.1:${port}` }]);
    const got = await rawExchange(p.port, UPGRADE('/ws'));
    expect(got).toMatch(/^HTTP\/1\.1 502 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { type: 'upstream_error', code: 'upstream_unreachable' } });
  });

  it('a path no upstream serves: 404 JSON typed as the client\'s error', async () => {
    const up = await startWsEcho();
    const p = await startProxy([{ name: 'a', url: up.url, pathPrefix: '/a' }, { name: 'b', url: up.url, pathPrefix: '/b' }]);
    const got = await rawExchange(p.port, UPGRADE('/elsewhere'));
    expect(got).toMatch(/^HTTP\/1\.1 404 /);
    expect(JSON.parse(got.slice(got.indexOf('\r\n\r\n') + 4))).toMatchObject({ error: { type: 'invalid_request_error', code: 'no_upstream' } });
    expect(up.seen).toHaveLength(0);
  });

  it('closing the proxy cuts the tunnels, so that its server can close', async () => {
    const up = await startWsEcho();
    const { port, proxy, server } = await startProxy([{ name: 'default', url: up.url }]);
    const sock = net.connect(port, '127.0.0.1');
    sock.on('error', () => {});
    const sockClosed = new Promise<void>((r) => sock.once('close', () => r()));
    sock.write(UPGRADE('/ws'));
    await new Promise<void>((r) => sock.once('data', () => r()));
    const closed = new Promise<void>((r) => server.close(() => r()));
    server.closeAllConnections(); // does not reach an upgraded socket: it is no longer an HTTP connection
    await proxy.close();
    await expect(Promise.race([closed.then(() => 'closed'), new Promise((r) => setTimeout(() => r('still open'), 2000))])).resolves.toBe('closed');
    await expect(Promise.race([sockClosed.then(() => 'cut'), new Promise((r) => setTimeout(() => r('still open'), 2000))])).resolves.toBe('cut');
  });
});
