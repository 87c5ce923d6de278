/**
 * Inline SVG bar charts for the HTML report: stacked bars over time and horizontal stacked bars by
 * group. Plain strings, no library and no script, so the report opens without a network and prints as
 * it shows. Every text is escaped.
 */
export interface ChartSeries { name: string; color: string }

export const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const fmt = new Intl.NumberFormat('en-US', { maximumSignificantDigits: 3 });

/** A round axis maximum and step: 1, 2 or 5 × 10^k, about four steps. */
export function niceAxis(max: number): { max: number; step: number } {
  if (!(max > 0) || !Number.isFinite(max)) return { max: 1, step: 0.25 };
  const raw = max / 4;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  return { max: Math.ceil(max / step - 1e-9) * step, step };
}

function legend(series: ChartSeries[], x: number, y: number): string {
  let cx = x;
  return series.map((s) => {
    const out = `<rect x="${cx}" y="${y - 9}" width="10" height="10" fill="${s.color}"/><text x="${cx + 14}" y="${y}" class="legend">${escapeXml(s.name)}</text>`;
    cx += 24 + s.name.length * 7;
    return out;
  }).join('');
}

/** Stacked vertical bars, one per time step; `labels` are the steps' start times as they should read. */
export function timeBarsSvg(opts: { title: string; unit: string; labels: string[]; values: number[][]; series: ChartSeries[] }): string {
  const W = 760, H = 280, left = 64, right = 12, top = 34, bottom = 46;
  const plotW = W - left - right, plotH = H - top - bottom;
  const totals = opts.values.map((v) => v.reduce((a, b) => a + b, 0));
  const axis = niceAxis(Math.max(0, ...totals));
  const n = Math.max(1, opts.values.length);
  const slot = plotW / n;
  const barW = Math.max(1, slot * 0.8);
  const y = (v: number) => top + plotH - (v / axis.max) * plotH;
  const parts: string[] = [];
  for (let t = 0; t <= axis.max + axis.step / 2; t += axis.step) {
    parts.push(`<line x1="${left}" x2="${W - right}" y1="${y(t).toFixed(1)}" y2="${y(t).toFixed(1)}" class="grid"/><text x="${left - 6}" y="${(y(t) + 4).toFixed(1)}" class="tick" text-anchor="end">${fmt.format(t)}</text>`);
  }
  opts.values.forEach((vals, i) => {
    let base = 0;
    const x = left + i * slot + (slot - barW) / 2;
    vals.forEach((v, s) => {
      if (!(v > 0)) return;
      const y1 = y(base + v), y0 = y(base);
      parts.push(`<rect class="bar" x="${x.toFixed(2)}" y="${y1.toFixed(2)}" width="${barW.toFixed(2)}" height="${Math.max(0.5, y0 - y1).toFixed(2)}" fill="${opts.series[s]!.color}"><title>${escapeXml(`${opts.labels[i]} ${opts.series[s]!.name}: ${fmt.format(v)} ${opts.unit}`)}</title></rect>`);
      base += v;
    });
  });
  // About six time labels, at the first step and evenly after it.
  const every = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < n; i += every) {
    const label = opts.labels[i] ?? '';
    parts.push(`<text x="${(left + i * slot + slot / 2).toFixed(1)}" y="${H - bottom + 16}" class="tick" text-anchor="middle">${escapeXml(label)}</text>`);
  }
  parts.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${top + plotH}" class="axis"/><line x1="${left}" x2="${W - right}" y1="${top + plotH}" y2="${top + plotH}" class="axis"/>`);
  parts.push(`<text x="${left}" y="18" class="title">${escapeXml(opts.title)} (${escapeXml(opts.unit)})</text>`);
  parts.push(legend(opts.series, left, H - 8));
  return `<svg class="chart" role="img" aria-label="${escapeXml(opts.title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}

/** Horizontal stacked bars, one per group (label), largest first as given. */
export function groupBarsSvg(opts: { title: string; unit: string; labels: string[]; values: number[][]; series: ChartSeries[] }): string {
  const rowH = 22, W = 760, left = 230, right = 90, top = 34;
  const n = Math.max(1, opts.labels.length);
  const H = top + n * rowH + 36;
  const plotW = W - left - right;
  const totals = opts.values.map((v) => v.reduce((a, b) => a + b, 0));
  const axis = niceAxis(Math.max(0, ...totals));
  const x = (v: number) => left + (v / axis.max) * plotW;
  const parts: string[] = [];
  for (let t = 0; t <= axis.max + axis.step / 2; t += axis.step) {
    parts.push(`<line x1="${x(t).toFixed(1)}" x2="${x(t).toFixed(1)}" y1="${top - 4}" y2="${top + n * rowH}" class="grid"/><text x="${x(t).toFixed(1)}" y="${top + n * rowH + 14}" class="tick" text-anchor="middle">${fmt.format(t)}</text>`);
  }
  opts.labels.forEach((label, i) => {
    const yy = top + i * rowH + 3;
    const shown = label.length > 32 ? `${label.slice(0, 31)}…` : label;
    parts.push(`<text x="${left - 8}" y="${yy + 12}" class="label" text-anchor="end">${escapeXml(shown)}<title>${escapeXml(label)}</title></text>`);
    let base = 0;
    opts.values[i]!.forEach((v, s) => {
      if (!(v > 0)) return;
      parts.push(`<rect class="bar" x="${x(base).toFixed(2)}" y="${yy}" width="${Math.max(0.5, x(base + v) - x(base)).toFixed(2)}" height="${rowH - 6}" fill="${opts.series[s]!.color}"><title>${escapeXml(`${label} ${opts.series[s]!.name}: ${fmt.format(v)} ${opts.unit}`)}</title></rect>`);
      base += v;
    });
    parts.push(`<text x="${(x(base) + 4).toFixed(1)}" y="${yy + 12}" class="tick">${fmt.format(totals[i]!)}</text>`);
  });
  parts.push(`<line x1="${left}" x2="${left}" y1="${top - 4}" y2="${top + n * rowH}" class="axis"/>`);
  parts.push(`<text x="${left}" y="18" class="title">${escapeXml(opts.title)} (${escapeXml(opts.unit)})</text>`);
  parts.push(legend(opts.series, left, H - 6));
  return `<svg class="chart" role="img" aria-label="${escapeXml(opts.title)}" viewBox="0 0 ${W} ${H}" width="${W}" height="${H}" xmlns="http://www.w3.org/2000/svg">${parts.join('')}</svg>`;
}
