/**
 * A report as one self-contained HTML file: inline CSS and SVG charts, no script, no external font,
 * image or style, and a Content-Security-Policy that forbids any fetch, so that it opens the same
 * offline, attached to an e-mail or archived with a disclosure. Print styles keep each chart and table
 * on one page and in black on white.
 */
import type { Figures, Report, ReportGroup } from '../types.js';
import { escapeXml as esc, groupBarsSvg, timeBarsSvg, type ChartSeries } from './svg-charts.js';
import { figureRows } from './table.js';
import { formatNumber, reportView } from './view.js';

const COLORS = { attributed: '#1f5fa8', idle: '#9db7d5', co2e: '#2e7d32', market: '#b26a00', embodied: '#7b5e3b' };
/** Bars per by-group chart; the rest are summed into one bar. */
const MAX_GROUP_BARS = 15;

const CSS = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #111; background: #fff; margin: 24px auto; max-width: 1100px; padding: 0 16px; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 8px; border-bottom: 1px solid #ccc; padding-bottom: 2px; }
ul.meta { list-style: none; padding: 0; margin: 0 0 12px; color: #333; }
.cards { display: flex; flex-wrap: wrap; gap: 10px; margin: 12px 0; }
.card { border: 1px solid #ccc; border-radius: 6px; padding: 8px 12px; min-width: 140px; }
.card .v { font-size: 20px; font-weight: 600; } .card .k { color: #444; font-size: 12px; }
table { border-collapse: collapse; font-size: 12px; margin: 6px 0 12px; }
th, td { border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; } th { background: #f2f2f2; text-align: left; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; } tr.total td { font-weight: 600; background: #fafafa; }
.wide { overflow-x: auto; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 4px 0 8px; }
svg .grid { stroke: #e3e3e3; stroke-width: 1; } svg .axis { stroke: #555; stroke-width: 1; }
svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill: #222; } svg .title { font-size: 13px; font-weight: 600; }
section { break-inside: avoid; page-break-inside: avoid; }
footer { margin-top: 24px; color: #555; font-size: 12px; }
@media print {
  body { margin: 0; max-width: none; font-size: 11px; }
  .wide { overflow: visible; } table { font-size: 9px; } h2 { break-after: avoid; page-break-after: avoid; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
}
@page { size: A4 landscape; margin: 12mm; }
`;

function htmlTable(header: string[], rows: string[][], numeric: boolean[], totalLast = false): string {
  const head = `<tr>${header.map((h) => `<th>${esc(h)}</th>`).join('')}</tr>`;
  const body = rows.map((r, i) => `<tr${totalLast && i === rows.length - 1 ? ' class="total"' : ''}>${r.map((c, j) => `<td${numeric[j] ? ' class="n"' : ''}>${esc(c)}</td>`).join('')}</tr>`).join('');
  return `<div class="wide"><table><thead>${head}</thead><tbody>${body}</tbody></table></div>`;
}

function groupName(r: Report, g: ReportGroup): string {
  return r.groupBy.length ? r.groupBy.map((k) => g[k] ?? '').join(' · ') : 'all';
}

/** The largest groups by `size`, the rest summed into one "n others" row. */
function topGroups(r: Report, size: (f: Figures) => number, parts: ((f: Figures) => number)[]): { labels: string[]; values: number[][] } {
  const sorted = [...r.groups].sort((a, b) => size(b) - size(a));
  const shown = sorted.slice(0, MAX_GROUP_BARS);
  const rest = sorted.slice(MAX_GROUP_BARS);
  const labels = shown.map((g) => groupName(r, g));
  const values = shown.map((g) => parts.map((p) => p(g)));
  if (rest.length) {
    labels.push(`${rest.length} others`);
    values.push(parts.map((p) => rest.reduce((s, g) => s + p(g), 0)));
  }
  return { labels, values };
}

/** Time labels as short as the period allows: the time of day within one day, the day for daily steps. */
export function timeLabels(isos: string[], stepS: number): string[] {
  const days = new Set(isos.map((s) => s.slice(0, 10)));
  return isos.map((s) => {
    if (stepS >= 86_400) return s.slice(0, 10);
    const time = stepS < 60 ? s.slice(11, 19) : s.slice(11, 16);
    return days.size <= 1 ? time : `${s.slice(5, 10)} ${time}`;
  });
}

function stepName(stepS: number): string {
  if (stepS % 86_400 === 0) return stepS === 86_400 ? 'day' : `${stepS / 86_400} days`;
  if (stepS % 3600 === 0) return stepS === 3600 ? 'hour' : `${stepS / 3600} h`;
  if (stepS % 60 === 0) return stepS === 60 ? 'minute' : `${stepS / 60} min`;
  return `${stepS} s`;
}

export function renderHtml(r: Report): string {
  const v = reportView(r);
  const eu = v.energyUnit;
  const cu = v.co2eUnit;
  const t = r.totals;
  const energySeries: ChartSeries[] = [{ name: 'attributed', color: COLORS.attributed }, { name: 'idle', color: COLORS.idle }];
  const labels = timeLabels(r.timeline.buckets.map((b) => b.start), r.timeline.stepS);
  const per = `${eu.name} per ${stepName(r.timeline.stepS)}, UTC`;
  const charts = [
    timeBarsSvg({ title: 'IT energy over the period', unit: per, labels, values: r.timeline.buckets.map((b) => [b.attributedJ / eu.per, b.idleJ / eu.per]), series: energySeries }),
    timeBarsSvg({ title: 'CO2e (location-based) over the period', unit: `${cu.name} per ${stepName(r.timeline.stepS)}, UTC`, labels, values: r.timeline.buckets.map((b) => [b.co2eGrams / cu.per]), series: [{ name: 'CO2e location-based', color: COLORS.co2e }] }),
  ];
  const eg = topGroups(r, (f) => f.energyJ.facility, [(f) => f.energyJ.attributed / eu.per, (f) => f.energyJ.idle / eu.per]);
  charts.push(groupBarsSvg({ title: 'IT energy by group', unit: eu.name, labels: eg.labels, values: eg.values, series: energySeries }));
  const withEmbodied = t.co2eGrams.embodied !== null;
  const cg = topGroups(r, (f) => f.co2eGrams.location + (f.co2eGrams.embodied ?? 0), [(f) => f.co2eGrams.location / cu.per, ...(withEmbodied ? [(f: Figures) => (f.co2eGrams.embodied ?? 0) / cu.per] : [])]);
  charts.push(groupBarsSvg({
    title: withEmbodied ? 'CO2e by group: location-based and embodied' : 'CO2e (location-based) by group', unit: cu.name, labels: cg.labels, values: cg.values,
    series: [{ name: 'location-based', color: COLORS.co2e }, ...(withEmbodied ? [{ name: 'embodied', color: COLORS.embodied }] : [])],
  }));

  const cards: [string, string][] = [
    ['queries', formatNumber(t.requests, true)],
    [`facility energy, ${eu.name}`, formatNumber(t.energyJ.facility / eu.per)],
    [`CO2e location-based, ${cu.name}`, formatNumber(t.co2eGrams.location / cu.per)],
    [`CO2e market-based, ${cu.name}`, t.co2eGrams.market === null ? 'not configured' : formatNumber(t.co2eGrams.market / cu.per)],
    ['SCI, gCO2e per query', formatNumber(t.sci.gPerQuery)],
    ['SCI, gCO2e per 1,000 tokens', formatNumber(t.sci.gPer1kTokens)],
    ['water, L', formatNumber(t.waterLiters.total)],
  ];
  const totals = figureRows(r, v.keys, v.totalsColumns);
  const intens = figureRows(r, v.keys, v.intensityColumns);
  const body = [
    `<header><h1>${esc(v.title)}</h1><ul class="meta">${v.subtitle.map((s) => `<li>${esc(s)}</li>`).join('')}</ul></header>`,
    `<section class="cards">${cards.map(([k, val]) => `<div class="card"><div class="v">${esc(val)}</div><div class="k">${esc(k)}</div></div>`).join('')}</section>`,
    ...charts.map((c) => `<section>${c}</section>`),
    `<section><h2>Totals</h2>${htmlTable(totals.header, totals.rows, totals.numeric, true)}</section>`,
    `<section><h2>SCI and intensities</h2>${htmlTable(intens.header, intens.rows, intens.numeric, true)}</section>`,
    ...v.sections.map((s) => `<section><h2>${esc(s.title)}</h2><ul>${s.lines.map((l) => `<li>${esc(l)}</li>`).join('')}</ul></section>`),
    `<section><h2>Factors</h2>${htmlTable(v.factorTable.header, v.factorTable.rows, v.factorTable.header.map(() => false))}</section>`,
    `<section><h2>Coverage</h2>${htmlTable(v.coverageTable.header, v.coverageTable.rows, v.coverageTable.header.map(() => false))}</section>`,
    `<footer>${esc(`Generated by inferwatt ${r.tool.version} at ${r.tool.generatedAt}. The figures are views of the agents' counters (or records), not estimates made at report time.`)}</footer>`,
  ].join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(`${v.title} ${r.period.from} – ${r.period.to}`)}</title>
<style>${CSS}</style>
</head>
<body>
${body}
</body>
</html>
`;
}
