/** A report as Markdown, for a model card or a disclosure appendix. */
import type { Report } from '../types.js';
import { figureRows } from './table.js';
import { reportView } from './view.js';

const esc = (s: string) => s.replace(/\|/g, '\\|').replace(/\n/g, ' ');

export function mdTable(header: string[], rows: string[][], numeric: boolean[]): string {
  return [
    `| ${header.map(esc).join(' | ')} |`,
    `|${numeric.map((n) => (n ? '---:' : ':---')).join('|')}|`,
    ...rows.map((r) => `| ${r.map(esc).join(' | ')} |`),
  ].join('\n');
}

export function renderMarkdown(r: Report): string {
  const v = reportView(r);
  const out: string[] = [`# ${v.title}`, '', ...v.subtitle.map((s) => `- ${s}`), ''];
  const totals = figureRows(r, v.keys, v.totalsColumns);
  out.push('## Totals', '', mdTable(totals.header, totals.rows, totals.numeric), '');
  const intens = figureRows(r, v.keys, v.intensityColumns);
  out.push('## SCI and intensities', '', mdTable(intens.header, intens.rows, intens.numeric), '');
  for (const s of v.sections) out.push(`## ${s.title}`, '', ...s.lines.map((l) => `- ${l}`), '');
  out.push('## Factors', '', mdTable(v.factorTable.header, v.factorTable.rows, v.factorTable.header.map(() => false)), '');
  out.push('## Coverage', '', mdTable(v.coverageTable.header, v.coverageTable.rows, v.coverageTable.header.map(() => false)), '');
  return out.join('\n');
}
