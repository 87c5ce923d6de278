/**
 * Impact factors and results (docs/design.md#impacts). Units are in the names: gCO2e per kWh, liters per kWh.
 * WUE is on-site water per IT kWh; EWIF is off-site water (electricity generation) per facility kWh.
 */
export type FactorResolution = 'override' | 'region' | 'world' | 'live';

export interface Factors {
  /** The region id the factors were resolved for (`FR`, `US-CAL-CISO`, `aws:us-east-1`), or `world`. */
  region: string;
  gridGCo2ePerKWh: number;
  /** Power usage effectiveness: facility energy / IT energy (≥ 1). */
  pue: number;
  /** On-site water usage effectiveness, L per IT kWh. */
  wue: number;
  /** Off-site energy water intensity factor, L per facility kWh. */
  ewif: number;
  /**
   * Short, bounded id of where the grid intensity came from (a metric label): `static:ember`,
   * `static:electricitymaps`, `static:egrid`, `static:world`, `override`, `electricitymaps:live`,
   * `gb-carbon-intensity:live`.
   */
  source: string;
  /** Data year of the grid intensity, when known. */
  year?: number;
  /** How the grid intensity was chosen (the other factors' origins are in `ResolvedFactors.details`). */
  resolution: FactorResolution;
}

export interface FactorOrigin {
  value: number;
  unit: string;
  resolution: FactorResolution;
  /** Full citation from the table row, or `override`. */
  source: string;
  /** The table row that supplied the value (`FR`, `aws`, `aws:us-east-1`, `world`). */
  from: string;
  year?: number;
}

export interface ResolvedFactors extends Factors {
  details: { gridGCo2ePerKWh: FactorOrigin; pue: FactorOrigin; wue: FactorOrigin; ewif: FactorOrigin };
  /** Things the operator should know (no region configured → world average). Empty when none. */
  warnings: string[];
}

export interface WaterLiters {
  onsite: number;
  offsite: number;
  total: number;
}

export interface Impacts {
  co2eGrams: number;
  waterLiters: WaterLiters;
}

export type FactorOverrides = Partial<Pick<Factors, 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif'>>;

/** The factors in force at a moment, as the metrics show them (inferwatt_factor_info, the grid intensity) and reports read them back. */
export interface FactorsInForce {
  region: string;
  source: string;
  year: number | null;
  gridGCo2ePerKWh: number;
  pue: number;
  wue: number;
  ewif: number;
}
