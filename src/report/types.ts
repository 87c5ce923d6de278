/**
 * The report of `inferwatt report` (docs/report.md): totals over a period, per group and in total, with
 * the method stated. Base units in the JSON (J, g, L); the human formats convert at the edge.
 */
export const GROUP_KEYS = ['model', 'tenant', 'pool', 'instance', 'cluster'] as const;
export type GroupKey = (typeof GROUP_KEYS)[number];

/** What a label that a series does not carry (no `cluster` outside a fleet) reads as in a group. */
export const ABSENT_LABEL = '(none)';

export interface Figures {
  requests: number;
  promptTokens: number;
  completionTokens: number;
  /**
   * IT energy: `attributed` to the group's requests (under `amortize` it holds their idle share),
   * `idle` (unattributed energy shared over the groups in proportion to their attributed energy),
   * and `facility` = (attributed + idle) × PUE.
   */
  energyJ: { attributed: number; idle: number; facility: number };
  /**
   * `location`: CO2e of `facility` at the location-based grid intensity in force; `market`: the same
   * energy at the contractual factors (null where none is configured for some of it); `embodied`: the
   * host's embodied emissions by time share (null when not configured).
   */
  co2eGrams: { location: number; market: number | null; embodied: number | null };
  /** On-site (IT kWh × WUE) and off-site (facility kWh × EWIF) water of attributed + idle energy. */
  waterLiters: { onsite: number; offsite: number; total: number };
  /** SCI 1.1, ((E × I) + M) / R: (location + embodied) per query and per 1,000 tokens. */
  sci: { gPerQuery: number | null; gPer1kTokens: number | null };
  /** Per-query and per-1,000-token intensities (IT energy is attributed + idle). */
  intensity: {
    energyJPerQuery: number | null;
    facilityEnergyJPerQuery: number | null;
    co2eGramsPerQuery: number | null;
    waterLitersPerQuery: number | null;
    energyJPer1kTokens: number | null;
    co2eGramsPer1kTokens: number | null;
    waterLitersPer1kTokens: number | null;
  };
}

export type ReportGroup = Partial<Record<GroupKey, string>> & Figures;

export type ReportSource =
  | { kind: 'prometheus'; url: string; match: string | null }
  | { kind: 'records'; files: string[] };

/** One factor the report's figures used, with where it came from. */
export interface FactorUse {
  factor: 'gridGCo2ePerKWh' | 'pue' | 'wue' | 'ewif' | 'market' | 'embodied';
  /** Region id of the agents (`FR`, `aws:us-east-1`, `world`); null for the embodied figure. */
  region: string | null;
  /** The value; for a grid intensity that changed in the period (live), the energy-weighted mean. */
  value: number;
  min: number;
  max: number;
  unit: string;
  /** Short source id as the agents report it (`static:ember`, `electricitymaps:live`), or the configured source. */
  source: string;
  year: number | null;
  /** Full citation from this inferwatt's factor tables, where the value matches a row; else null. */
  citation: string | null;
  /** `location`, or for market factors `supplier-specific` / `residual-mix`. */
  method?: string;
  /** When it was in force within the period (first and last use). */
  firstUsed: string | null;
  lastUsed: string | null;
}

export interface InstanceCoverage {
  instance: string;
  cluster: string;
  job: string;
  /** First and last sample (or record) inside the period. */
  firstSample: string | null;
  lastSample: string | null;
  samples: number;
  /** Typical interval between samples, seconds (the median). */
  intervalS: number | null;
  /** Share of the period covered by samples no further apart than the gap threshold. */
  coveredShare: number;
  /** Unix time its counters started (inferwatt_start_time_seconds), the latest seen; null if not exported. */
  agentStartedAt: string | null;
  restarts: string[];
  gaps: { from: string; to: string; seconds: number; why: string }[];
}

export interface Report {
  period: { from: string; to: string };
  source: ReportSource;
  groupBy: GroupKey[];
  boundary: {
    devices: { kind: string; method: string; count: number }[];
    hosts: number;
    idle: string;
    pue: string;
    embodied: string;
    excluded: string[];
  };
  attribution: { policy: string[]; idle: string[]; note: string };
  factors: FactorUse[];
  groups: ReportGroup[];
  totals: Figures;
  /** Energy and CO2e per step over the period (the HTML charts). */
  timeline: { stepS: number; buckets: { start: string; attributedJ: number; idleJ: number; co2eGrams: number }[] };
  coverage: { instances: InstanceCoverage[]; notes: string[] };
  tool: { name: 'inferwatt'; version: string; generatedAt: string; method: string };
}
