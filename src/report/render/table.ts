/** The terminal table of a report: figures per group and in total, intensities, then the method. */
import type { GroupKey, Report } from '../types.js';
import { formatNumber, reportView, type Column } from './view.js';

/** Left-aligned text columns, right-aligned numbers, two spaces apart. */
export function textTable(header: string[], rows: string[][], numeric: boolean[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (numeric[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ').trimEnd();
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

export function figureRows(r: Report, keys: readonly GroupKey[], cols: Column[]): { header: string[]; rows: string[][]; numeric: boolean[] } {
  const header = [...(keys.length ? keys : ['']), ...cols.map((c) => c.header)];
  const cell = (f: Report['totals']) => cols.map((c) => formatNumber(c.get(f), c.int));
  const rows = r.groups.map((g) => [...(keys.length ? keys.map((k) => g[k] ?? '') : ['']), ...cell(g)]);
  rows.push([...(keys.length ? ['TOTAL', ...keys.slice(1).map(() => '')] : ['TOTAL']), ...cell(r.totals)]);
  const numeric = [...(keys.length ? keys : ['']).map(() => false), ...cols.map(() => true)];
  return { header, rows, numeric };
}

export function renderTable(r: Report): string {
  const v = reportView(r);
  const out: string[] = [v.title, ...v.subtitle.map((s) => `  ${s}`), ''];
  const totals = figureRows(r, v.keys, v.totalsColumns);
  out.push(textTable(totals.header, totals.rows, totals.numeric), '');
  const intens = figureRows(r, v.keys, v.intensityColumns);
  out.push(textTable(intens.header, intens.rows, intens.numeric), '');
  for (const s of v.sections) out.push(`${s.title}:`, ...s.lines.map((l) => `  ${l}`), '');
  out.push('Factors:', textTable(v.factorTable.header, v.factorTable.rows, v.factorTable.header.map(() => false)), '');
  out.push('Coverage:', textTable(v.coverageTable.header, v.coverageTable.rows, v.coverageTable.header.map(() => false)), '');
  return out.join('\n');
}
