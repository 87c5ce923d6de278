/**
 * Upstreams and the choice among them by path prefix.
 *
 * - The longest `pathPrefix` that matches on a segment boundary wins (`/a` matches `/a` and `/a/…`, not
 *   `/ab`). With several upstreams, the one without a prefix is the default; with a single upstream it
 *   takes every path.
 * - The matched prefix is STRIPPED by default before forwarding (`/gpu0/v1/chat/completions` → upstream
 *   `/v1/chat/completions`), so a client sets its base URL to `http://proxy/gpu0/v1`; `stripPrefix: false`
 *   keeps it. The upstream URL's own path is prepended (`http://h:8000/base` → `/base/v1/…`).
 * - Plain requests go through the proxy's own keep-alive client (h1-client.ts, a pool per upstream, with
 *   the same idle limits as below). Upgrades (tunnel.ts) through a node:http keep-alive agent per
 *   upstream. Idle sockets are closed after at most 4 s, below uvicorn's 5 s
 *   keep-alive (vLLM, SGLang), so a request never lands on a socket that the server is closing. Not with
 *   the Agent's `timeout` option: that re-arms a socket timer and adds a 'timeout' listener for every
 *   request (lib/_http_client.js listenSocketTimeout, responseKeepAlive's setTimeout(0), then
 *   keepSocketAlive's setTimeout again), measurable on the hot path. Instead each socket put back in the
 *   pool is stamped, and one sweep every FREE_SOCKET_SWEEP_MS closes those idle for
 *   FREE_SOCKET_IDLE_MS or more: closed after 3.5–4 s (sooner when the server hints a shorter
 *   `Keep-Alive: timeout=N`: N − 1 s, as node:http does). A request in progress is never affected.
 */
import http from 'node:http';
import https from 'node:https';
import { ConfigError } from '../core/errors.js';
import { H1Pool, type H1Exchange, type H1Request, type UpstreamHandler } from './h1-client.js';

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

/** Idle sockets are closed after FREE_SOCKET_IDLE_MS … FREE_SOCKET_IDLE_MS + FREE_SOCKET_SWEEP_MS (3.5–4 s). */
const FREE_SOCKET_IDLE_MS = 3_500;
const FREE_SOCKET_SWEEP_MS = 500;
const IDLE_UNTIL = Symbol('inferwatt.idleUntilMs');
/** As node:http does with its Agent `timeout`: a server's `Keep-Alive: timeout=N` hint, less 1 s. */
const KEEP_ALIVE_HINT_MARGIN_MS = 1_000;

type StampedSocket = import('node:net').Socket & { [IDLE_UNTIL]?: number; _httpMessage?: { res?: http.IncomingMessage } | null };

/** A server sends the same hint on every response: the last one read is kept (hot path, once per request). */
let lastHint: string | undefined;
let lastHintLimitMs = FREE_SOCKET_IDLE_MS;

function idleLimitMs(socket: StampedSocket): number {
  const hint = socket._httpMessage?.res?.headers['keep-alive'];
  if (typeof hint !== 'string') return FREE_SOCKET_IDLE_MS;
  if (hint === lastHint) return lastHintLimitMs;
  const m = /^timeout=(\d+)/.exec(hint);
  const limit = m ? Math.min(FREE_SOCKET_IDLE_MS, Number(m[1]) * 1000 - KEEP_ALIVE_HINT_MARGIN_MS) : FREE_SOCKET_IDLE_MS;
  lastHint = hint;
  lastHintLimitMs = limit;
  return limit;
}

/**
 * Stamps each socket that goes back to the free pool and closes those idle too long, with one timer per
 * agent (unref'd: it never keeps the process alive). Destroying a free socket removes it from the pool
 * (the agent's own 'close' listener).
 */
function sweepIdleSockets(agent: http.Agent): () => void {
  const keep = agent.keepSocketAlive.bind(agent);
  agent.keepSocketAlive = (socket) => {
    // node:http itself refuses to keep a socket whose server hints 1 s or less (keepSocketAlive → false)
    (socket as StampedSocket)[IDLE_UNTIL] = performance.now() + idleLimitMs(socket as StampedSocket);
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
  }, FREE_SOCKET_SWEEP_MS);
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
