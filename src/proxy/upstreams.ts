/**
 * Upstreams and the choice among them by path prefix.
 *
 * - The longest `pathPrefix` that matches on a segment boundary wins (`/a` matches `/a` and `/a/…`, not
 *   `/ab`). With several upstreams, the one without a prefix is the default; with a single upstream it
 *   takes every path.
 * - The matched prefix is STRIPPED by default before forwarding (`/gpu0/v1/chat/completions` → upstream
 *   `/v1/chat/completions`), so a client sets its base URL to `http://proxy/gpu0/v1`; `stripPrefix: false`
 *   keeps it. The upstream URL's own path is prepended (`http://h:8000/base` → `/base/v1/…`).
 * - Plain requests go through the proxy's own keep-alive client (h1-client.ts, a pool per upstream).
 *   Upgrades (tunnel.ts) through a node:http keep-alive agent per upstream. Both close idle sockets after
 *   the same limits (keep-alive.ts: 3.5–4 s, below uvicorn's 5 s, sooner on a server's hint). For the
 *   agent not with its `timeout` option: that re-arms a socket timer and adds a 'timeout' listener for
 *   every request (lib/_http_client.js listenSocketTimeout, responseKeepAlive's setTimeout(0), then
 *   keepSocketAlive's setTimeout again). Instead each socket put back in the pool is stamped, and one
 *   sweep closes those past their limit. A request in progress is never affected.
 */
import http from 'node:http';
import https from 'node:https';
import { ConfigError } from '../core/errors.js';
import { H1Pool, type H1Exchange, type H1Request, type UpstreamHandler } from './h1-client.js';
import { SWEEP_MS, idleLimitMs } from './keep-alive.js';

export interface UpstreamSpec {
  name: string;
  url: string;
  pathPrefix?: string;
  /** Default true: the prefix is removed from the forwarded path. */
  stripPrefix?: boolean;
}

export interface ResolvedUpstream {
  readonly name: string;
  readonly url: URL;
  readonly prefix: string;
  readonly stripPrefix: boolean;
  readonly hostHeader: string;
  /** A plain request (forward.ts), through the proxy's own client (h1-client.ts); the path without the URL's base. */
  dispatch(req: H1Request, handler: UpstreamHandler): H1Exchange;
  /** node:http, for upgrades (tunnel.ts). */
  request(o: { method: string; path: string; headers: string[] }): http.ClientRequest;
  destroy(): void;
}

export interface UpstreamRouter {
  readonly upstreams: readonly ResolvedUpstream[];
  /** `path` is what goes upstream; `apiPath` is the client's path without the prefix and query (for API recognition). */
  select(rawUrl: string): { upstream: ResolvedUpstream; path: string; apiPath: string } | undefined;
  destroy(): void;
}

const IDLE_UNTIL = Symbol('inferwatt.idleUntilMs');

type StampedSocket = import('node:net').Socket & { [IDLE_UNTIL]?: number; _httpMessage?: { res?: http.IncomingMessage } | null };

/**
 * Stamps each socket that goes back to the free pool and closes those idle too long, with one timer per
 * agent (unref'd: it never keeps the process alive). Destroying a free socket removes it from the pool
 * (the agent's own 'close' listener).
 */
function sweepIdleSockets(agent: http.Agent): () => void {
  const keep = agent.keepSocketAlive.bind(agent);
  agent.keepSocketAlive = (socket) => {
    // node:http itself refuses to keep a socket whose server hints 1 s or less (keepSocketAlive → false)
    const hint = (socket as StampedSocket)._httpMessage?.res?.headers['keep-alive'];
    (socket as StampedSocket)[IDLE_UNTIL] = performance.now() + idleLimitMs(typeof hint === 'string' ? hint : undefined);
    return keep(socket);
  };
  const timer = setInterval(() => {
    const now = performance.now();
    for (const list of Object.values(agent.freeSockets)) {
      if (!list) continue;
      for (const s of [...list]) {
        const until = (s as StampedSocket)[IDLE_UNTIL];
        if (until !== undefined && now >= until) s.destroy();
      }
    }
  }, SWEEP_MS);
  timer.unref();
  return () => clearInterval(timer);
}

/** `/a/` → `/a`, `/` or none → `` (no prefix): the form the router compares. */
export function normalizePrefix(p: string | undefined): string {
  if (!p) return '';
  let s = p.startsWith('/') ? p : `/${p}`;
  while (s.length > 1 && s.endsWith('/')) s = s.slice(0, -1);
  return s === '/' ? '' : s;
}

function resolve(spec: UpstreamSpec): ResolvedUpstream {
  let url: URL;
  try {
    url = new URL(spec.url);
  } catch {
    throw new ConfigError([`upstream "${spec.name}": invalid URL "${spec.url}"`]);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError([`upstream "${spec.name}": URL must be http or https, got "${spec.url}"`]);
  const secure = url.protocol === 'https:';
  const agentOpts = { keepAlive: true, maxSockets: Infinity, maxFreeSockets: 256, scheduling: 'lifo' as const, noDelay: true };
  const agent = secure ? new https.Agent(agentOpts) : new http.Agent(agentOpts);
  const stopSweep = sweepIdleSockets(agent);
  const transport = secure ? https : http;
  const basePath = url.pathname.replace(/\/+$/, '');
  const hostname = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const port = url.port ? Number(url.port) : secure ? 443 : 80;
  const pool = new H1Pool({ host: hostname, port, secure });
  return {
    name: spec.name,
    url,
    prefix: normalizePrefix(spec.pathPrefix),
    stripPrefix: spec.stripPrefix ?? true,
    hostHeader: url.host,
    request: ({ method, path, headers }) =>
      transport.request({ agent, hostname, port, method, path: basePath + path, headers: headers as unknown as http.OutgoingHttpHeaders, setHost: false }),
    dispatch: (req, handler) => pool.dispatch(basePath === '' ? req : { ...req, path: basePath + req.path }, handler),
    destroy: () => {
      stopSweep();
      agent.destroy();
      pool.destroy();
    },
  };
}

export function createUpstreamRouter(specs: readonly UpstreamSpec[]): UpstreamRouter {
  if (specs.length === 0) throw new ConfigError(['proxy: at least one upstream is needed']);
  const upstreams = specs.map(resolve);
  const byPrefix = upstreams.filter((u) => u.prefix !== '').sort((a, b) => b.prefix.length - a.prefix.length);
  const fallback = upstreams.length === 1 ? upstreams[0] : upstreams.find((u) => u.prefix === '');

  return {
    upstreams,
    select(rawUrl) {
      let url = rawUrl;
      if (url[0] !== '/') {
        // absolute-form (`GET http://host/path`), as sent to a forward proxy
        try {
          const u = new URL(url);
          url = u.pathname + u.search;
        } catch {
          url = '/';
        }
      }
      const q = url.indexOf('?');
      const pathOnly = q < 0 ? url : url.slice(0, q);
      for (const u of byPrefix) {
        if (pathOnly === u.prefix || pathOnly.startsWith(u.prefix + '/')) {
          if (!u.stripPrefix) return { upstream: u, path: url, apiPath: pathOnly.slice(u.prefix.length) || '/' };
          let rest = url.slice(u.prefix.length);
          if (rest === '' || rest[0] === '?') rest = '/' + rest;
          return { upstream: u, path: rest, apiPath: pathOnly.slice(u.prefix.length) || '/' };
        }
      }
      if (!fallback) return undefined;
      return { upstream: fallback, path: url, apiPath: pathOnly };
    },
    destroy() {
      for (const u of upstreams) u.destroy();
    },
  };
}
