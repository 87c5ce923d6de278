/**
 * What every human format of a report shows, in one place: the columns with their units (chosen once
 * per report, from its totals), the method sections and the factor and coverage tables. The table,
 * Markdown and HTML renderers only lay these out. Numbers stay in base units in the JSON and the CSV.
 */
import { J_PER_KWH, J_PER_WH } from '../../core/units.js';
import { SCI_CITATION } from '../create-report.js';
import type { Figures, GroupKey, Report } from '../types.js';

export interface Column {
  header: string;
  get(f: Figures): number | null;
  int?: boolean;
}

export interface Unit { name: string; per: number }

export function energyUnit(maxJ: number): Unit {
  if (maxJ >= 3.6e9) return { name: 'MWh', per: 3.6e9 };
  if (maxJ >= J_PER_KWH) return { name: 'kWh', per: J_PER_KWH };
  return { name: 'Wh', per: J_PER_WH };
}

export function co2eUnit(maxG: number): Unit {
  if (maxG >= 1e6) return { name: 't', per: 1e6 };
  if (maxG >= 1e3) return { name: 'kg', per: 1e3 };
  return { name: 'g', per: 1 };
}

const sig = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 4 });
const int = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });

/** 4 significant digits, grouped; tiny values in exponent form; null as an en dash (not applicable or not configured). */
export function formatNumber(x: number | null, asInt = false): string {
  if (x === null) return '–';
  if (!Number.isFinite(x)) return String(x);
  if (asInt) return int.format(x);
  if (x !== 0 && Math.abs(x) < 1e-4) return x.toExponential(3).replace(/\.?0+e/, 'e');
  return sig.format(x);
}

const scaled = (get: (f: Figures) => number | null, u: Unit) => (f: Figures) => { const v = get(f); return v === null ? null : v / u.per; };

export interface ReportView {
  title: string;
  subtitle: string[];
  keys: GroupKey[];
  totalsColumns: Column[];
  intensityColumns: Column[];
  sections: { title: string; lines: string[] }[];
  factorTable: { header: string[]; rows: string[][] };
  coverageTable: { header: string[]; rows: string[][] };
  energyUnit: Unit;
  co2eUnit: Unit;
}

export function reportView(r: Report): ReportView {
  const t = r.totals;
  const eu = energyUnit(Math.max(t.energyJ.facility, t.energyJ.attributed + t.energyJ.idle));
  const cu = co2eUnit(Math.max(t.co2eGrams.location, t.co2eGrams.market ?? 0, t.co2eGrams.embodied ?? 0));
  const totalsColumns: Column[] = [
    { header: 'requests', get: (f) => f.requests, int: true },
    { header: 'prompt tokens', get: (f) => f.promptTokens, int: true },
    { header: 'completion tokens', get: (f) => f.completionTokens, int: true },
    { header: `attributed ${eu.name}`, get: scaled((f) => f.energyJ.attributed, eu) },
    { header: `idle ${eu.name}`, get: scaled((f) => f.energyJ.idle, eu) },
    { header: `facility ${eu.name}`, get: scaled((f) => f.energyJ.facility, eu) },
    { header: `CO2e location ${cu.name}`, get: scaled((f) => f.co2eGrams.location, cu) },
    { header: `CO2e market ${cu.name}`, get: scaled((f) => f.co2eGrams.market, cu) },
    { header: `embodied ${cu.name}`, get: scaled((f) => f.co2eGrams.embodied, cu) },
    { header: 'water on-site L', get: (f) => f.waterLiters.onsite },
    { header: 'water off-site L', get: (f) => f.waterLiters.offsite },
  ];
  const intensityColumns: Column[] = [
    { header: 'SCI gCO2e/query', get: (f) => f.sci.gPerQuery },
    { header: 'SCI gCO2e/1k tokens', get: (f) => f.sci.gPer1kTokens },
    { header: 'J/query', get: (f) => f.intensity.energyJPerQuery },
    { header: 'facility J/query', get: (f) => f.intensity.facilityEnergyJPerQuery },
    { header: 'gCO2e/query', get: (f) => f.intensity.co2eGramsPerQuery },
    { header: 'mL/query', get: (f) => (f.intensity.waterLitersPerQuery === null ? null : f.intensity.waterLitersPerQuery * 1000) },
    { header: 'J/1k tokens', get: (f) => f.intensity.energyJPer1kTokens },
    { header: 'gCO2e/1k tokens', get: (f) => f.intensity.co2eGramsPer1kTokens },
    { header: 'mL/1k tokens', get: (f) => (f.intensity.waterLitersPer1kTokens === null ? null : f.intensity.waterLitersPer1kTokens * 1000) },
  ];
  const src = r.source.kind === 'prometheus'
    ? `Prometheus ${r.source.url}${r.source.match ? ` {${r.source.match}}` : ' (every agent)'}`
    : `records ${r.source.files.join(', ')}`;
  const b = r.boundary;
  const devices = b.devices.length ? b.devices.map((d) => `${d.count} × ${d.kind} (${d.method})`).join(', ') : 'none reported';
  const sections = [
    {
      title: 'Boundary',
      lines: [
        `Hosts: ${b.hosts}; measured devices: ${devices}.`,
        `Idle energy: ${b.idle}.`,
        `PUE: ${b.pue}.`,
        `Embodied: ${b.embodied}.`,
        `Outside the boundary: ${b.excluded.join('; ')}.`,
      ],
    },
    { title: 'Attribution', lines: [`${r.attribution.note}.`] },
    {
      title: 'Method',
      lines: [
        `Totals: ${r.tool.method}.`,
        'CO2e location-based: the agents\' own CO2e of attributed energy (converted as each request finished) plus idle facility energy at the grid intensity in force at each sample; market-based: facility energy at the contractual factors configured (impacts.market), null where some energy has none.',
        'SCI = ((E × I) + M) / R, with E × I the location-based CO2e of facility energy (attributed + idle, PUE included) and M the embodied share; R = queries, or 1,000 tokens (prompt + completion). Market-based measures are excluded from SCI, as the specification requires.',
        `Specification: ${SCI_CITATION}.`,
      ],
    },
  ];
  if (r.coverage.notes.length) sections.push({ title: 'Notes', lines: r.coverage.notes.map((n) => `${n}.`.replace(/\.\.$/, '.')) });
  const factorTable = {
    header: ['factor', 'region', 'value', 'unit', 'source', 'year', 'citation', 'in force'],
    rows: r.factors.map((f) => [
      f.factor === 'gridGCo2ePerKWh' ? 'grid intensity (location)' : f.factor === 'market' ? `market (${f.method})` : f.factor,
      f.region ?? '–',
      f.min !== f.max ? `${formatNumber(f.value)} (mean; ${formatNumber(f.min)}–${formatNumber(f.max)})` : formatNumber(f.value),
      f.unit, f.source, f.year === null ? '–' : String(f.year), f.citation ?? '–',
      f.firstUsed ? `${f.firstUsed} – ${f.lastUsed}` : 'period',
    ]),
  };
  const coverageTable = {
    header: ['instance', 'cluster', 'first sample', 'last sample', 'samples', 'interval s', 'covered', 'restarts', 'gaps'],
    rows: r.coverage.instances.map((c) => [
      c.instance, c.cluster, c.firstSample ?? '–', c.lastSample ?? '–', formatNumber(c.samples, true), formatNumber(c.intervalS),
      `${formatNumber(c.coveredShare * 100)} %`, c.restarts.length ? c.restarts.join('; ') : 'none',
      c.gaps.length ? c.gaps.map((g) => `${g.from} – ${g.to} (${formatNumber(g.seconds)} s: ${g.why})`).join('; ') : 'none',
    ]),
  };
  return {
    title: 'inferwatt report',
    subtitle: [
      `Period: ${r.period.from} – ${r.period.to}`,
      `Source: ${src}`,
      `Grouped by: ${r.groupBy.length ? r.groupBy.join(', ') : 'nothing (totals only)'}`,
      `inferwatt ${r.tool.version}, generated ${r.tool.generatedAt}`,
    ],
    keys: r.groupBy,
    totalsColumns, intensityColumns, sections, factorTable, coverageTable, energyUnit: eu, co2eUnit: cu,
  };
}
