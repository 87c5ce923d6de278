/**
 * The full citation (source and data year) of the factors an agent reported, from this inferwatt's
 * factor tables (config/factors): the agents export short source ids (`static:ember`) and values,
 * the tables hold the citations. A value that no row gives (an override, a live intensity, tables of
 * another version) gets no citation rather than a wrong one.
 */
import { createFactorResolver, PROVIDERS } from '../impacts/factor-tables.js';
import type { FactorOrigin } from '../impacts/types.js';
import type { FactorsInForce } from './accumulator.js';
import type { CiteFactors } from './build-report.js';

const same = (a: number, b: number) => Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(a), Math.abs(b));
const cite = (o: FactorOrigin) => ({ text: `${o.source}${o.year !== undefined ? ` (${o.year})` : ''}${o.from ? ` [${o.from}]` : ''}`, year: o.year ?? null });

export function createFactorCiter(dir?: string): CiteFactors {
  const cache = new Map<string, ReturnType<CiteFactors>>();
  return (f: FactorsInForce) => {
    const key = JSON.stringify([f.region, f.source, f.gridGCo2ePerKWh, f.pue, f.wue, f.ewif]);
    const hit = cache.get(key);
    if (hit) return hit;
    const out: ReturnType<CiteFactors> = {};
    // PUE and WUE depend on the provider, which the agents do not export: the provider whose row gives the same values.
    for (const provider of PROVIDERS) {
      let r;
      try {
        r = createFactorResolver({ ...(dir ? { dir } : {}), ...(f.region !== 'world' ? { region: f.region } : {}), provider });
      } catch {
        break; // a region these tables do not know: no citation
      }
      if (!out.gridGCo2ePerKWh && f.source.startsWith('static:') && same(r.gridGCo2ePerKWh, f.gridGCo2ePerKWh)) out.gridGCo2ePerKWh = cite(r.details.gridGCo2ePerKWh);
      if (!out.ewif && same(r.ewif, f.ewif)) out.ewif = cite(r.details.ewif);
      if (!out.pue && same(r.pue, f.pue) && same(r.wue, f.wue)) {
        out.pue = cite(r.details.pue);
        out.wue = cite(r.details.wue);
      }
    }
    cache.set(key, out);
    return out;
  };
}
