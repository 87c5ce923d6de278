/**
 * Energy → CO2e and water (docs/design.md#impacts). Pure; called once per finished request record.
 *
 *   facility energy = IT energy × PUE
 *   CO2e (g)        = facility kWh × grid intensity (gCO2e/kWh), location-based
 *   water (L)       = IT kWh × WUE (on-site) + facility kWh × EWIF (off-site)
 *
 * PUE is applied once: on-site WUE is defined per IT kWh (The Green Grid's WUE = site water / IT energy),
 * so multiplying it by facility energy would count the overhead twice — the trap weaker tools fall into.
 * EWIF is per kWh generated, and the grid generates the facility's whole draw, so it takes facility kWh.
 */
import { joulesToKWh } from '../core/units.js';
import type { Factors, Impacts } from './types.js';

export function computeImpacts(energyJ: number, f: Pick<Factors, 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif'>): Impacts {
  const itKWh = joulesToKWh(energyJ);
  const facilityKWh = itKWh * f.pue;
  const onsite = itKWh * f.wue;
  const offsite = facilityKWh * f.ewif;
  return {
    co2eGrams: facilityKWh * f.gridGCo2ePerKWh,
    waterLiters: { onsite, offsite, total: onsite + offsite },
  };
}

const MS_PER_YEAR = 365 * 24 * 3600 * 1000;

/**
 * Embodied (manufacturing) CO2e charged to a span of use: the device's embodied kgCO2e spread evenly over
 * its service life, charged by the share of that life the span takes (docs/design.md, impacts: "by the share of time").
 * Years are 365 days. Returns grams.
 */
export function embodiedGrams(deviceKgCo2e: number, lifetimeYears: number, durationMs: number): number {
  // A lifetime of 0 or less has no meaning; NaN makes the mistake visible instead of a silent 0.
  if (!(lifetimeYears > 0)) return NaN;
  return (deviceKgCo2e * 1000 * durationMs) / (lifetimeYears * MS_PER_YEAR);
}

/** The `factors` object of a request record (docs/design.md): exactly these fields, nothing per-request. */
export function toRecordFactors(f: Factors): Pick<Factors, 'region' | 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif' | 'source'> {
  return { region: f.region, gridGCo2ePerKWh: f.gridGCo2ePerKWh, pue: f.pue, wue: f.wue, ewif: f.ewif, source: f.source };
}
