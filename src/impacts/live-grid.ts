/**
 * Live grid intensity (docs/design.md#impacts), optional: Electricity Maps (needs a token) or the GB Carbon Intensity
 * API (no key). Polled on its own cadence, never on a request's path: `current()` only reads the cache.
 * Any failure (timeout, HTTP error such as 429, malformed body, a null intensity) falls back to the static
 * factor until the next success, and the returned `source` always says which one is in use
 * (`electricitymaps:live`, `gb-carbon-intensity:live`, or the static factor's own source).
 *
 * Response shapes: test/fixtures/api-shapes (Electricity Maps v3 `/v3/carbon-intensity/latest`, as in
 * codecarbon's and carbon-aware-sdk's clients; NESO `/intensity` and `/regional/regionid/{id}`).
 */
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { FactorTables } from './factor-tables.js';
import { findRegion, gridZoneOf } from './regions.js';
import type { Factors } from './types.js';

export type LiveGridProvider = 'electricitymaps' | 'gb-carbon-intensity';

export interface LiveGridOptions {
  provider: LiveGridProvider;
  /**
   * Electricity Maps zone id (`DE`, `US-CAL-CISO`). For the GB API: `GB` (national) or a region id 1–17
   * (`13` = London), as the API numbers them.
   */
  zone: string;
  /** Electricity Maps API token (header `auth-token`); never logged. */
  token?: string;
  /** Default https://api.electricitymap.org (Electricity Maps) or https://api.carbonintensity.org.uk. */
  baseUrl?: string;
  refreshMs: number;
  timeoutMs: number;
  clock: Clock;
  logger: Logger;
  fetch?: typeof fetch;
  /** The static factors; also supplies PUE, WUE and EWIF, which live data does not change. */
  fallback: Factors;
  /** A live value older than this is not used (default 3 × refreshMs). */
  maxAgeMs?: number;
}

export interface LiveGridStatus {
  provider: LiveGridProvider;
  zone: string;
  live: boolean;
  lastValueGCo2ePerKWh: number | null;
  lastSuccessWallMs: number | null;
  /** Why the last attempt failed (`timeout`, `http_429`, `malformed`, `network`, `null_value`), if it did. */
  lastError: string | null;
  failures: Record<string, number>;
  successes: number;
}

export interface LiveGridIntensity {
  /** The factors to use now: live intensity when fresh, else the static fallback. Never blocks. */
  current(): Factors;
  /** Fetches now and then every refreshMs (after each attempt ends: attempts never overlap). */
  start(): void;
  stop(): void;
  /** One fetch; resolves when it has succeeded or fallen back. For tests and `start()`. */
  refresh(): Promise<void>;
  status(): LiveGridStatus;
}

/**
 * The zone to ask the provider for (`impacts.live.zone: null = the configured region`): the configured zone,
 * else the region's grid zone (a cloud region's zone, `zone:DE` → `DE`, a country that is also a zone). A
 * region the provider does not cover is a configuration problem, never another grid's intensity in its
 * place: the GB API covers Great Britain only, and Electricity Maps knows zones, not `aws:…` or eGRID ids.
 */
export function resolveLiveZone(
  provider: LiveGridProvider, configuredZone: string | null, region: string | null, tables: FactorTables,
): { zone: string } | { problem: string } {
  if (configuredZone !== null && configuredZone.trim() !== '') return { zone: configuredZone.trim() };
  if (provider === 'gb-carbon-intensity') {
    if (region === null) return { zone: 'GB' };
    if (findRegion(tables, region)?.country === 'GB') return { zone: 'GB' };
    return { problem: `impacts.live: gb-carbon-intensity covers Great Britain only, and region "${region}" is not in GB (use electricitymaps, or set impacts.live.zone)` };
  }
  if (region === null) return { problem: 'impacts.live: electricitymaps needs impacts.live.zone or impacts.region (--region)' };
  const zone = gridZoneOf(tables, region);
  return zone !== undefined ? { zone } : { problem: `impacts.live: region "${region}" has no Electricity Maps zone; set impacts.live.zone` };
}

const DEFAULT_BASE: Record<LiveGridProvider, string> = {
  electricitymaps: 'https://api.electricitymap.org',
  'gb-carbon-intensity': 'https://api.carbonintensity.org.uk',
};

class LiveFetchError extends Error {
  constructor(readonly reason: string, message: string, readonly retryAfterMs?: number) { super(message); }
}

function requestFor(o: LiveGridOptions): { url: string; headers: Record<string, string> } {
  const base = (o.baseUrl ?? DEFAULT_BASE[o.provider]).replace(/\/+$/, '');
  const headers: Record<string, string> = { accept: 'application/json' };
  if (o.provider === 'electricitymaps') {
    if (o.token) headers['auth-token'] = o.token;
    return { url: `${base}/v3/carbon-intensity/latest?zone=${encodeURIComponent(o.zone)}`, headers };
  }
  if (/^\d+$/.test(o.zone)) return { url: `${base}/regional/regionid/${o.zone}`, headers };
  return { url: `${base}/intensity`, headers };
}

const isObj = (v: unknown): v is Record<string, unknown> => !!v && typeof v === 'object' && !Array.isArray(v);
const positiveOrZero = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v >= 0;

/** Extracts gCO2e/kWh from a provider's body, or throws LiveFetchError('malformed' | 'null_value'). */
export function parseIntensity(provider: LiveGridProvider, body: unknown): number {
  if (provider === 'electricitymaps') {
    if (!isObj(body) || !('carbonIntensity' in body)) throw new LiveFetchError('malformed', 'no carbonIntensity field');
    const v = body.carbonIntensity;
    if (v === null) throw new LiveFetchError('null_value', 'carbonIntensity is null');
    if (!positiveOrZero(v)) throw new LiveFetchError('malformed', `carbonIntensity is not a number ≥ 0: ${JSON.stringify(v)}`);
    return v;
  }
  // GB: national {data:[{intensity:{forecast, actual}}]} or regional {data:[{data:[{intensity:{forecast}}]}]}.
  const first: unknown = isObj(body) && Array.isArray(body.data) ? body.data[0] : undefined;
  if (!isObj(first)) throw new LiveFetchError('malformed', 'no data[0]');
  const slot: unknown = Array.isArray(first.data) ? first.data[0] : first;
  const intensity = isObj(slot) ? slot.intensity : undefined;
  if (!isObj(intensity)) throw new LiveFetchError('malformed', 'no intensity object');
  // `actual` is null for the latest half hour; the forecast is the API's best value then.
  const v = positiveOrZero(intensity.actual) ? intensity.actual : intensity.forecast;
  if (v === null || v === undefined) throw new LiveFetchError('null_value', 'no actual or forecast intensity');
  if (!positiveOrZero(v)) throw new LiveFetchError('malformed', `intensity is not a number ≥ 0: ${JSON.stringify(v)}`);
  return v;
}

export function createLiveGridIntensity(opts: LiveGridOptions): LiveGridIntensity {
  const log = opts.logger.child('live-grid');
  const fetchFn = opts.fetch ?? globalThis.fetch;
  const maxAgeMs = opts.maxAgeMs ?? 3 * opts.refreshMs;
  const liveSource = `${opts.provider}:live`;
  const { url, headers } = requestFor(opts);

  let value: number | null = null;
  let valueAtMs = -Infinity;
  let lastSuccessWallMs: number | null = null;
  let lastError: string | null = null;
  let failed = false;
  let successes = 0;
  const failures: Record<string, number> = {};
  let running = false;
  let cancelTimer: (() => void) | undefined;
  let inFlight: Promise<void> | undefined;
  let liveFactors: Factors | undefined;

  if (opts.provider === 'electricitymaps' && !opts.token) {
    log.warn('Electricity Maps needs an API token: live intensity is off, the static factor is used', { zone: opts.zone });
  }
  // An explicit grid intensity wins over every other source (override → region → world, docs/design.md#impacts).
  const overridden = opts.fallback.resolution === 'override';
  if (overridden) {
    log.warn('impacts.overrides.gridGCo2ePerKWh is set: it wins, live intensity is not fetched', { provider: opts.provider, gridGCo2ePerKWh: opts.fallback.gridGCo2ePerKWh });
  }

  const attempt = async (): Promise<number | undefined> => {
    const ctrl = new AbortController();
    let timedOut = false;
    const cancelTimeout = opts.clock.setTimer(() => { timedOut = true; ctrl.abort(); }, opts.timeoutMs);
    try {
      let res: Response;
      try {
        res = await fetchFn(url, { headers, signal: ctrl.signal });
      } catch (err) {
        throw new LiveFetchError(timedOut ? 'timeout' : 'network', timedOut ? `no answer within ${opts.timeoutMs} ms` : errorMessage(err));
      }
      if (!res.ok) {
        const ra = Number(res.headers.get('retry-after'));
        await res.body?.cancel().catch(() => undefined);
        throw new LiveFetchError(`http_${res.status}`, `HTTP ${res.status}`, Number.isFinite(ra) && ra > 0 ? ra * 1000 : undefined);
      }
      let body: unknown;
      try {
        body = await res.json();
      } catch (err) {
        throw new LiveFetchError(timedOut ? 'timeout' : 'malformed', timedOut ? `no answer within ${opts.timeoutMs} ms` : `body is not JSON (${errorMessage(err)})`);
      }
      return parseIntensity(opts.provider, body);
    } finally {
      cancelTimeout();
    }
  };

  const refresh = (): Promise<void> => {
    if (inFlight) return inFlight;
    if (overridden) return Promise.resolve();
    if (opts.provider === 'electricitymaps' && !opts.token) {
      failed = true;
      lastError = 'no_token';
      return Promise.resolve();
    }
    let retryAfterMs: number | undefined;
    inFlight = attempt().then(
      (v) => {
        value = v!;
        valueAtMs = opts.clock.nowMs();
        lastSuccessWallMs = opts.clock.wallMs();
        liveFactors = undefined;
        failed = false;
        lastError = null;
        successes++;
      },
      (err: unknown) => {
        const reason = err instanceof LiveFetchError ? err.reason : 'error';
        retryAfterMs = err instanceof LiveFetchError ? err.retryAfterMs : undefined;
        failed = true;
        lastError = reason;
        failures[reason] = (failures[reason] ?? 0) + 1;
        log.rateLimited('warn', `fail:${reason}`, `live grid intensity unavailable, using the static factor (${opts.fallback.source})`, {
          provider: opts.provider, zone: opts.zone, reason, detail: errorMessage(err),
        });
      },
    ).finally(() => {
      inFlight = undefined;
      if (running) schedule(Math.max(opts.refreshMs, retryAfterMs ?? 0));
    });
    return inFlight;
  };

  const schedule = (delayMs: number) => {
    cancelTimer?.();
    cancelTimer = opts.clock.setTimer(() => { cancelTimer = undefined; void refresh(); }, delayMs);
  };

  const isLive = () => !failed && value !== null && opts.clock.nowMs() - valueAtMs <= maxAgeMs;

  return {
    current() {
      if (!isLive()) return opts.fallback;
      liveFactors ??= {
        region: opts.fallback.region,
        gridGCo2ePerKWh: value!,
        pue: opts.fallback.pue,
        wue: opts.fallback.wue,
        ewif: opts.fallback.ewif,
        source: liveSource,
        resolution: 'live',
        year: new Date(lastSuccessWallMs ?? opts.clock.wallMs()).getUTCFullYear(),
      };
      return liveFactors;
    },
    start() {
      if (running) return;
      running = true;
      void refresh();
    },
    stop() {
      running = false;
      cancelTimer?.();
      cancelTimer = undefined;
    },
    refresh,
    status: () => ({
      provider: opts.provider,
      zone: opts.zone,
      live: isLive(),
      lastValueGCo2ePerKWh: value,
      lastSuccessWallMs,
      lastError,
      failures: { ...failures },
      successes,
    }),
  };
}
