/**
 * The contractual factors of `impacts.market` (config/default.yaml) looked up by region and time, for
 * the market-based CO2e of GHG Protocol Scope 2. A supplier-specific factor wins over the residual mix
 * where both cover a time (the Scope 2 quality hierarchy: a contract before the residual mix). No
 * entry for a region and time means no market-based figure for that energy, never a silent fallback
 * to the location-based intensity.
 */
import type { Config } from '../config/schema.js';

export type MarketFactorRow = Config['impacts']['market'][number];

export interface MarketLookup {
  /** Whether any contractual factor is configured at all. */
  readonly configured: boolean;
  at(region: string, tMs: number): MarketFactorRow | undefined;
}

export function createMarketLookup(rows: readonly MarketFactorRow[]): MarketLookup {
  const parsed = rows.map((r) => ({ row: r, region: r.region.toLowerCase(), from: Date.parse(r.from), to: r.to === null ? Infinity : Date.parse(r.to) }));
  return {
    configured: parsed.length > 0,
    at(region, tMs) {
      const key = region.toLowerCase();
      let best: MarketFactorRow | undefined;
      for (const p of parsed) {
        if (p.region !== key || tMs < p.from || tMs >= p.to) continue;
        if (!best || (best.kind === 'residual-mix' && p.row.kind === 'supplier-specific')) best = p.row;
      }
      return best;
    },
  };
}
