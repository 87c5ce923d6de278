/**
 * Whether each upstream accepts connections: a TCP connect every `intervalMs`, closed at once. It says
 * no more than that (a server that accepts and then hangs is "reachable"; the proxy's own timeouts and
 * inferwatt_upstream_errors_total tell the rest), and it is cheap and the same for every kind of server:
 * no HTTP path to guess, nothing in the server's logs beyond a connection.
 *
 * Reported beside the agent's readiness, never in it (`/readyz`'s `upstreams` field,
 * `inferwatt_upstream_up`): the agent is ready when it measures; an upstream restarting for a minute
 * must not take the agent out of its load balancer, or every client would fail on the agent instead of
 * getting the proxy's 502 that says which upstream failed. Transitions are logged once each.
 */
import net from 'node:net';
import type { Clock } from '../core/clock.js';
import { errnoCode, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';

export interface UpstreamReachability {
  name: string;
  url: string;
  /** Whether the last probe connected; null before the first probe answered. */
  reachable: boolean | null;
  /** Unix time (ISO) of the last change of `reachable`. */
  since: string | null;
  /** Why the last probe failed (an errno code such as ECONNREFUSED, or `timeout`). */
  error: string | null;
}

export interface UpstreamProbe {
  /** Probes every upstream now; resolves when each has answered or timed out. Then every intervalMs. */
  start(): Promise<void>;
  stop(): void;
  status(): UpstreamReachability[];
}

export interface UpstreamProbeOptions {
  upstreams: readonly { name: string; url: string }[];
  clock: Clock;
  logger: Logger;
  intervalMs: number;
  /** Per connect attempt. Default: the interval, at most 2 s. */
  timeoutMs?: number;
}

interface Target {
  name: string;
  url: string;
  host: string;
  port: number;
  reachable: boolean | null;
  since: string | null;
  error: string | null;
}

function connectOnce(host: string, port: number, timeoutMs: number): Promise<string | null> {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (err: string | null) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(err);
    };
    const timer = setTimeout(() => done('timeout'), timeoutMs);
    timer.unref?.();
    sock.once('connect', () => done(null));
    sock.once('error', (err) => done(errnoCode(err) ?? errorMessage(err)));
  });
}

export function createUpstreamProbe(opts: UpstreamProbeOptions): UpstreamProbe {
  const { clock, logger } = opts;
  const timeoutMs = opts.timeoutMs ?? Math.min(opts.intervalMs, 2_000);
  const targets: Target[] = opts.upstreams.map((u) => {
    const url = new URL(u.url);
    const secure = url.protocol === 'https:';
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    return { name: u.name, url: u.url, host, port: url.port ? Number(url.port) : secure ? 443 : 80, reachable: null, since: null, error: null };
  });
  let cancel: (() => void) | undefined;
  let stopped = false;

  const probe = async (t: Target) => {
    const err = await connectOnce(t.host, t.port, timeoutMs);
    const reachable = err === null;
    t.error = err;
    if (reachable === t.reachable) return;
    const first = t.reachable === null;
    t.reachable = reachable;
    t.since = new Date(clock.wallMs()).toISOString();
    if (!reachable) logger.warn(`upstream ${t.name} (${t.url}) does not accept connections (${err}); requests to it get 502 until it does`);
    else if (!first) logger.info(`upstream ${t.name} (${t.url}) accepts connections again`);
  };
  const round = () => Promise.all(targets.map(probe)).then(() => undefined);
  const schedule = () => {
    if (stopped) return;
    cancel = clock.setTimer(() => void round().then(schedule), opts.intervalMs);
  };

  return {
    async start() {
      await round();
      schedule();
    },
    stop() {
      stopped = true;
      cancel?.();
    },
    status: () => targets.map((t) => ({ name: t.name, url: t.url, reachable: t.reachable, since: t.since, error: t.error })),
  };
}
