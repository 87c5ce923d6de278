/** The formats of `inferwatt report --format`. */
import type { Report } from '../types.js';
import { renderCsv } from './csv.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';
import { renderTable } from './table.js';

export const FORMATS = ['table', 'csv', 'json', 'md', 'html'] as const;
export type ReportFormat = (typeof FORMATS)[number];

export function renderReport(r: Report, format: ReportFormat): string {
  switch (format) {
    case 'table': return renderTable(r);
    case 'csv': return renderCsv(r);
    case 'json': return `${JSON.stringify(r, null, 2)}\n`;
    case 'md': return renderMarkdown(r);
    case 'html': return renderHtml(r);
  }
}
