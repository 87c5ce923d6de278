/**
 * The proxy as an express app: every method and path forwarded to an upstream (see upstreams.ts for the
 * choice and prefix rule, forward.ts for streaming and the window, tap.ts for what is read).
 *
 * ```ts
 * const proxy = createProxy({ upstreams: [{ name: 'default', url: 'http://127.0.0.1:8000' }], tracker, clock, logger });
 * const { url } = await listenProxy(proxy.app, '127.0.0.1', 8790);
 * ```
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import express from 'express';
import type { Clock } from '../core/clock.js';
import { InferwattError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { RequestTracker } from '../attribution/types.js';
import type { RequestNoteSink } from '../core/request-notes.js';
import { DEFAULT_MAX_PARSE_BODY_BYTES, DEFAULT_TENANT_HEADER } from './exchange.js';
import { createForwarder, type ForwarderStats, type UpstreamErrorReason } from './forward.js';
import { createTunneler } from './tunnel.js';
import { createUpstreamRouter, type UpstreamSpec } from './upstreams.js';

export type { UpstreamErrorReason } from './forward.js';
export type { UpstreamSpec } from './upstreams.js';

export interface ProxyOptions {
  upstreams: readonly UpstreamSpec[];
  /** With a `note` method (the agent's), it also hears each request's trace context and why it did not end ok. */
  tracker: RequestTracker & Partial<RequestNoteSink>;
  clock: Clock;
  logger: Logger;
  /** Request (and JSON response) bodies up to this size are parsed for model/stream/usage. Default 1 MiB. */
  maxParseBodyBytes?: number;
  /** Header naming the tenant of a request. Default `x-inferwatt-tenant`. */
  tenantHeader?: string;
  onUpstreamError?: (reason: UpstreamErrorReason) => void;
  /** Time allowed until the upstream's response headers; none by default (a long prefill is normal). */
  upstreamTimeoutMs?: number;
  /** Longest silence of the upstream once its response began (between body bytes); none by default. */
  upstreamIdleTimeoutMs?: number;
}

export interface Proxy {
  app: express.Express;
  /** Requests being forwarded now. */
  active(): number;
  readonly stats: ForwarderStats;
  /** Cuts the requests in flight now, and the tunnels (upgrades); `shutdown` says so in the records (else `client_closed`). */
  abortAll(reason?: 'shutdown'): void;
  /** Cuts requests in flight and closes the upstream connections. The server is the caller's to close. */
  close(): Promise<void>;
}

const DIRECT_HANDLER = Symbol.for('inferwatt.proxy.directHandler');
const UPGRADE_HANDLER = Symbol.for('inferwatt.proxy.upgradeHandler');

/** Capped by the kernel's net.core.somaxconn (4096 on Linux ≥ 5.4). */
const LISTEN_BACKLOG = 4096;

export function createProxy(opts: ProxyOptions): Proxy {
  const router = createUpstreamRouter(opts.upstreams);
  const forwarder = createForwarder({
    router,
    tracker: opts.tracker,
    clock: opts.clock,
    logger: opts.logger,
    maxParseBodyBytes: opts.maxParseBodyBytes ?? DEFAULT_MAX_PARSE_BODY_BYTES,
    tenantHeader: (opts.tenantHeader ?? DEFAULT_TENANT_HEADER).toLowerCase(),
    ...(opts.onUpstreamError ? { onUpstreamError: opts.onUpstreamError } : {}),
    ...(opts.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: opts.upstreamTimeoutMs } : {}),
    ...(opts.upstreamIdleTimeoutMs !== undefined ? { upstreamIdleTimeoutMs: opts.upstreamIdleTimeoutMs } : {}),
  });
  const app = express();
  // Nothing of express's own on the hot path: no x-powered-by, no etag, no body parsing, no router match.
  app.disable('x-powered-by');
  app.disable('etag');
  app.use((req, res) => forwarder.handle(req, res));
  // listenProxy serves this app without going through express's router for each request (same
  // behaviour: the app holds only this handler; express's per-request prototype swap and routing cost
  // throughput). Mounted in another express app, `app` works as usual.
  (app as unknown as Record<symbol, unknown>)[DIRECT_HANDLER] = forwarder.handle;
  // Upgrade requests (WebSocket) are tunnelled to the upstream, not attributed (tunnel.ts). listenProxy
  // hooks this to its server's 'upgrade' event; an app mounted elsewhere leaves upgrades to that server.
  const tunnels = createTunneler({
    router, clock: opts.clock, logger: opts.logger,
    ...(opts.upstreamTimeoutMs !== undefined ? { upstreamTimeoutMs: opts.upstreamTimeoutMs } : {}),
  });
  (app as unknown as Record<symbol, unknown>)[UPGRADE_HANDLER] = tunnels.handle;
  return {
    app,
    active: forwarder.active,
    stats: forwarder.stats,
    abortAll: (reason) => {
      forwarder.abortAll(reason);
      tunnels.closeAll();
    },
    async close() {
      forwarder.stop();
      forwarder.abortAll();
      tunnels.closeAll();
      router.destroy();
    },
  };
}

export interface ListeningProxy {
  server: http.Server;
  url: string;
  address: { host: string; port: number };
}

/** What one client may hold of the proxy's server (slowloris: a client that trickles bytes for ever). */
export interface ProxyListenOptions {
  /** Time to receive a request's headers; then 408 and the connection is closed. Default 60 s (node's). */
  headersTimeoutMs?: number;
  /**
   * Time to receive a whole request, headers and body; the response is not counted (a stream may last
   * for minutes). Default 300 s (node's). 0: none.
   */
  requestTimeoutMs?: number;
  /** Open client connections at most; past it a new connection is closed at once. Default 4096. 0: no bound. */
  maxConnections?: number;
  /** Called once per connection closed for being over maxConnections. */
  onConnectionDropped?: () => void;
}

export const DEFAULT_HEADERS_TIMEOUT_MS = 60_000;
export const DEFAULT_REQUEST_TIMEOUT_MS = 300_000;
export const DEFAULT_MAX_CONNECTIONS = 4096;

/**
 * How often node looks for connections past their header or request timeout (its default is 30 s,
 * which would let a 60 s timeout run to 90 s): a quarter of the shorter timeout, within 100 ms … 30 s.
 */
function checkingIntervalMs(headersMs: number, requestMs: number): number {
  const shortest = requestMs > 0 ? Math.min(headersMs, requestMs) : headersMs;
  return Math.max(100, Math.min(30_000, Math.floor(shortest / 4)));
}

/** Listens on host:port (port 0: any free port). Rejects with a `fatal` error when the port is taken. */
export function listenProxy(app: express.Express | http.RequestListener, host: string, port: number, opts: ProxyListenOptions = {}): Promise<ListeningProxy> {
  const direct = (app as unknown as Record<symbol, unknown>)[DIRECT_HANDLER] as http.RequestListener | undefined;
  const requestTimeout = opts.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
  // node refuses a header timeout longer than a (non-zero) request timeout.
  const headersTimeout = requestTimeout > 0 ? Math.min(opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS, requestTimeout) : (opts.headersTimeoutMs ?? DEFAULT_HEADERS_TIMEOUT_MS);
  // `headersTimeout` is explicit: with `requestTimeout: 0` node takes min(60 s, 0) = 0 for it, and a
  // client sending a header byte every few seconds would hold its connection for ever.
  const server = http.createServer(
    { headersTimeout, requestTimeout, keepAliveTimeout: 65_000, connectionsCheckingInterval: checkingIntervalMs(headersTimeout, requestTimeout) },
    direct ?? (app as http.RequestListener),
  );
  const maxConnections = opts.maxConnections ?? DEFAULT_MAX_CONNECTIONS;
  if (maxConnections > 0) server.maxConnections = maxConnections;
  if (opts.onConnectionDropped) server.on('drop', opts.onConnectionDropped);
  const upgrade = (app as unknown as Record<symbol, unknown>)[UPGRADE_HANDLER] as ((req: http.IncomingMessage, socket: Duplex, head: Buffer) => void) | undefined;
  if (upgrade) server.on('upgrade', upgrade);
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) =>
      reject(new InferwattError('PROXY_LISTEN', 'fatal', `proxy cannot listen on ${host}:${port}: ${err.code ?? err.message}`, { cause: err }));
    server.once('error', onError);
    // A deeper accept queue than node's default 511: a burst of new client connections (1,000 streams
    // opening at once) would otherwise overflow it and wait for SYN retransmits (1 s, 3 s, …).
    server.listen({ port, host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', onError);
      const a = server.address() as AddressInfo;
      const h = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      resolve({ server, url: `http://${h}:${a.port}`, address: { host: a.address, port: a.port } });
    });
  });
}
