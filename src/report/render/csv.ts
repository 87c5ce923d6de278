/**
 * A report as CSV (RFC 4180): a header, one row per group, then one `total` row; base units and full
 * precision, empty where a figure is null (not configured, or no queries to divide by).
 */
import type { Figures, Report } from '../types.js';

const COLUMNS: [string, (f: Figures) => number | null][] = [
  ['requests', (f) => f.requests],
  ['prompt_tokens', (f) => f.promptTokens],
  ['completion_tokens', (f) => f.completionTokens],
  ['energy_attributed_j', (f) => f.energyJ.attributed],
  ['energy_idle_j', (f) => f.energyJ.idle],
  ['energy_facility_j', (f) => f.energyJ.facility],
  ['co2e_location_g', (f) => f.co2eGrams.location],
  ['co2e_market_g', (f) => f.co2eGrams.market],
  ['co2e_embodied_g', (f) => f.co2eGrams.embodied],
  ['water_onsite_l', (f) => f.waterLiters.onsite],
  ['water_offsite_l', (f) => f.waterLiters.offsite],
  ['water_total_l', (f) => f.waterLiters.total],
  ['sci_g_per_query', (f) => f.sci.gPerQuery],
  ['sci_g_per_1k_tokens', (f) => f.sci.gPer1kTokens],
  ['energy_j_per_query', (f) => f.intensity.energyJPerQuery],
  ['facility_energy_j_per_query', (f) => f.intensity.facilityEnergyJPerQuery],
  ['co2e_g_per_query', (f) => f.intensity.co2eGramsPerQuery],
  ['water_l_per_query', (f) => f.intensity.waterLitersPerQuery],
  ['energy_j_per_1k_tokens', (f) => f.intensity.energyJPer1kTokens],
  ['co2e_g_per_1k_tokens', (f) => f.intensity.co2eGramsPer1kTokens],
  ['water_l_per_1k_tokens', (f) => f.intensity.waterLitersPer1kTokens],
];

export const CSV_COLUMNS = COLUMNS.map(([name]) => name);

const field = (s: string) => (/[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
const value = (x: number | null) => (x === null ? '' : String(x));

export function renderCsv(r: Report): string {
  const header = ['row', ...r.groupBy, ...CSV_COLUMNS];
  const line = (kind: string, keys: string[], f: Figures) => [kind, ...keys, ...COLUMNS.map(([, get]) => value(get(f)))].map(field).join(',');
  const rows = r.groups.map((g) => line('group', r.groupBy.map((k) => g[k] ?? ''), g));
  rows.push(line('total', r.groupBy.map(() => ''), r.totals));
  return `${[header.join(','), ...rows].join('\r\n')}\r\n`;
}
