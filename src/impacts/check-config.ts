/**
 * The impacts part of configuration checked against the factor tables: the region must be one they know
 * (near matches suggested), the provider one of theirs, each override plausible, and a live provider must
 * be able to serve the region (README "Impacts"). Returns every problem; the agent resolves the same inputs later
 * with createFactorResolver and resolveLiveZone, which then cannot fail.
 */
import { ConfigError } from '../core/errors.js';
import { createFactorResolver, loadFactorTables } from './factor-tables.js';
import { findRegion } from './regions.js';
import { resolveLiveZone, type LiveGridProvider } from './live-grid.js';
import type { FactorOverrides } from './types.js';

export interface ImpactsToCheck {
  /** undefined where the configuration's own value was malformed (already reported by the schema). */
  region?: string | null | undefined;
  provider?: string | null | undefined;
  overrides?: FactorOverrides | undefined;
  live?: { provider: LiveGridProvider | 'none'; zone: string | null } | undefined;
  /** Factor tables directory; default config/factors. */
  dir?: string | undefined;
}

export function checkImpactsConfig(c: ImpactsToCheck): string[] {
  const problems: string[] = [];
  let tables;
  try {
    tables = loadFactorTables(c.dir);
  } catch (err) {
    // Broken tables: every other impacts check depends on them.
    if (err instanceof ConfigError) return [...err.problems];
    throw err;
  }
  try {
    createFactorResolver({
      ...(c.dir !== undefined ? { dir: c.dir } : {}),
      ...(c.region ? { region: c.region } : {}),
      ...(c.provider ? { provider: c.provider } : {}),
      overrides: c.overrides ?? {},
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    for (const p of err.problems) {
      problems.push(/^region "/.test(p) ? `impacts.region (--region, INFERWATT_REGION): ${p}`
        : /^provider "/.test(p) ? `impacts.provider (--provider, INFERWATT_PROVIDER): ${p}`
          : /^override /.test(p) ? `impacts.overrides: ${p}` : p);
    }
  }
  // A region the tables do not know is reported above; asking which live zone it has would only repeat it.
  const regionKnown = !c.region || findRegion(tables, c.region) !== undefined;
  if (c.live && c.live.provider !== 'none' && c.region !== undefined && regionKnown) {
    const zone = resolveLiveZone(c.live.provider, c.live.zone, c.region, tables);
    if ('problem' in zone) problems.push(zone.problem);
  }
  return problems;
}
