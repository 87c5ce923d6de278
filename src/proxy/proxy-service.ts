import type { Server } from 'node:http';
import type { RequestTracker } from '../attribution/types.js';
import type { Clock } from '../core/clock.js';
import type { RequestNoteSink } from '../core/request-notes.js';
import type { Logger } from '../core/logger.js';
import type { Service } from '../core/service.js';
import { createProxy, listenProxy, type Proxy } from './app.js';
import type { UpstreamErrorReason } from './forward.js';
import type { UpstreamEntry } from './pools.js';

/** The proxy settings the service needs (the configuration's `proxy` section). */
export interface ProxyServiceOptions {
  readonly listen: { host: string; port: number };
  readonly maxParseBodyBytes: number;
  readonly tenantHeader: string;
  readonly upstreamTimeoutMs: number;
  readonly upstreamIdleTimeoutMs: number;
  readonly headersTimeoutMs: number;
  readonly requestTimeoutMs: number;
  readonly maxConnections: number;
  readonly shutdownGraceMs: number;
}

export interface ProxyService extends Service {
  /** The proxy's URL once started. */
  url(): string | undefined;
  /** Its own failure counts (taps, ledger calls). */
  stats(): { tapFailures: number; trackerFailures: number };
}

/**
 * The proxy as a service of `inferwatt run`: it listens at start; at stop it stops accepting, lets the
 * requests in flight finish (streams included) for up to `shutdownGraceMs`, then cuts what is left,
 * recorded as aborted with reason `shutdown` and said once in the log (a cut stream is neither the
 * upstream's failure nor the client's). Kubernetes waits 30 s by default before it kills.
 */
export function createProxyService(
  opts: ProxyServiceOptions,
  deps: {
    upstreams: readonly UpstreamEntry[];
    tracker: RequestTracker & RequestNoteSink;
    clock: Clock;
    logger: Logger;
    onUpstreamError: (reason: UpstreamErrorReason) => void;
    onConnectionDropped: () => void;
  },
): ProxyService {
  const log = deps.logger;
  let proxy: Proxy | undefined;
  let server: Server | undefined;
  let url: string | undefined;
  return {
    name: 'proxy',
    url: () => url,
    stats: () => proxy?.stats ?? { tapFailures: 0, trackerFailures: 0 },
    async start() {
      proxy = createProxy({
        upstreams: deps.upstreams.map((u) => ({ name: u.name, url: u.url, ...(u.pathPrefix ? { pathPrefix: u.pathPrefix } : {}) })),
        tracker: deps.tracker, clock: deps.clock, logger: log,
        maxParseBodyBytes: opts.maxParseBodyBytes, tenantHeader: opts.tenantHeader,
        upstreamTimeoutMs: opts.upstreamTimeoutMs, upstreamIdleTimeoutMs: opts.upstreamIdleTimeoutMs,
        onUpstreamError: deps.onUpstreamError,
      });
      const listening = await listenProxy(proxy.app, opts.listen.host, opts.listen.port, {
        headersTimeoutMs: opts.headersTimeoutMs, requestTimeoutMs: opts.requestTimeoutMs, maxConnections: opts.maxConnections,
        onConnectionDropped: () => {
          deps.onConnectionDropped();
          log.rateLimited('warn', 'max-connections', `a client connection was closed at once: ${opts.maxConnections} are open (proxy.maxConnections)`);
        },
      });
      server = listening.server;
      url = listening.url;
    },
    async stop() {
      const p = proxy;
      const s = server;
      if (!p || !s) return;
      const closed = new Promise<void>((r) => s.close(() => r()));
      s.closeIdleConnections();
      // Real time, not the injected clock: this waits on real sockets (a fake clock would never move).
      const deadline = performance.now() + opts.shutdownGraceMs;
      while (p.active() > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      const left = p.active();
      if (left > 0) log.warn(`shutdown: ${left} request${left === 1 ? '' : 's'} still in flight after the ${opts.shutdownGraceMs} ms grace; cut (recorded as aborted, reason shutdown)`);
      // Cut by the proxy first, so that each window knows why it ends (and WebSocket tunnels, which the
      // server's closeAllConnections does not reach).
      p.abortAll('shutdown');
      s.closeAllConnections();
      // Each cut response ends its window on its socket's 'close', which node emits after the server's own
      // 'close': wait for them (briefly), so that no window is still open when the ledger is flushed.
      const cutDeadline = performance.now() + 1_000;
      while (p.active() > 0 && performance.now() < cutDeadline) await new Promise((r) => setTimeout(r, 5));
      await closed;
      await p.close();
    },
  };
}
