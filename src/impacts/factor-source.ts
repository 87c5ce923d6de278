import type { Clock } from '../core/clock.js';
import { ConfigError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { Service } from '../core/service.js';
import { createFactorResolver, loadFactorTables } from './factor-tables.js';
import { createLiveGridIntensity, resolveLiveZone } from './live-grid.js';
import type { Factors } from './types.js';

/** The impacts settings the factors need (the configuration's `impacts` section). */
export interface FactorSourceOptions {
  readonly region: string | null;
  readonly provider: 'self-hosted' | 'aws' | 'gcp' | 'azure' | null;
  readonly overrides: Readonly<Record<string, number | null>>;
  readonly live: {
    readonly provider: 'none' | 'electricitymaps' | 'gb-carbon-intensity';
    readonly zone: string | null;
    readonly token: string | null;
    readonly baseUrl: string | null;
    readonly refreshMs: number;
    readonly timeoutMs: number;
  };
}

/**
 * The impact factors in force: the region's static factors (overrides → region table → world average),
 * or, with a live provider, its grid intensity, refreshed on its own cadence and falling back to the
 * static factor whenever it fails. `service` (live only) starts and stops the refreshing.
 */
export interface FactorSource {
  current(): Factors;
  readonly service: Service | undefined;
}

export function createFactorSource(opts: FactorSourceOptions, deps: { clock: Clock; logger: Logger; fetch?: typeof fetch }): FactorSource {
  const overrides = Object.fromEntries(Object.entries(opts.overrides).filter(([, v]) => v !== null)) as Record<string, number>;
  const staticFactors = createFactorResolver({
    ...(opts.region ? { region: opts.region } : {}),
    ...(opts.provider ? { provider: opts.provider } : {}),
    overrides,
    logger: deps.logger.child('factors'),
  });
  const l = opts.live;
  if (l.provider === 'none') return { current: () => staticFactors, service: undefined };
  // Validated with the rest of the configuration (config/validate.ts): only a hand-made configuration gets here wrong.
  const zone = resolveLiveZone(l.provider, l.zone, opts.region, loadFactorTables());
  if ('problem' in zone) throw new ConfigError([zone.problem]);
  const live = createLiveGridIntensity({
    provider: l.provider,
    zone: zone.zone,
    ...(l.token ? { token: l.token } : {}),
    ...(l.baseUrl ? { baseUrl: l.baseUrl } : {}),
    refreshMs: l.refreshMs,
    timeoutMs: l.timeoutMs,
    clock: deps.clock, logger: deps.logger.child('live-grid'),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    fallback: staticFactors,
  });
  return { current: () => live.current(), service: { name: 'live grid intensity', start: () => live.start(), stop: () => live.stop() } };
}
