import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import { openChromiumPage, requireChromium, type ChromiumPage } from '../helpers/chromium.js';
import { countColour, decodePng } from '../helpers/png.js';

/**
 * Scenario: the HTML report of a real demo run's records (test/fixtures/records/demo-fr.jsonl; with
 * embodied and market-based factors configured) opened from a file in a real headless Chromium
 * (Debian's). Its four charts render (their bars are on the screenshot, in their colours), nothing
 * is logged as an error, the page asks for nothing but itself, and it prints. The screenshot and the
 * PDF are left in .tmp/ for a human to look at.
 */
const FIXTURE = join(__dirname, '..', 'fixtures', 'records', 'demo-fr.jsonl');
const OUT = resolve(__dirname, '..', '..', '.tmp');
const ATTRIBUTED = '#1f5fa8';
const CO2E = '#2e7d32';
const EMBODIED = '#7b5e3b';

interface ChartBox { label: string; x: number; y: number; width: number; height: number; bars: number }

let page: ChromiumPage;
let fileUrl: string;

beforeAll(async () => {
  requireChromium();
  const dir = mkdtempSync(join(tmpdir(), 'inferwatt-html-'));
  const config = join(dir, 'config.yaml');
  writeFileSync(config, [
    'impacts:',
    '  market:',
    '    - { region: FR, from: "2026-01-01", to: null, gCo2ePerKWh: 21, kind: supplier-specific, source: "example supplier disclosure", year: 2026 }',
    '  embodied: { hostKgCo2e: 3700, lifetimeYears: 5, source: "example server LCA", year: 2024 }',
  ].join('\n'));
  const html = join(dir, 'report.html');
  let err = '';
  const rc = await main(['report', '--records', FIXTURE, '--from', '2026-12-05T00:11:00Z', '--to', '2026-12-05T00:11:30Z', '--by', 'model,tenant', '--format', 'html', '--out', html, '--config', config],
    { stdout: () => {}, stderr: (s) => { err += s; }, env: {} });
  expect(err).toMatch(/wrote .*report\.html \(html, 8 groups, 34 requests\)/);
  expect(rc).toBe(0);
  fileUrl = pathToFileURL(html).href;
  page = await openChromiumPage({ width: 1280, height: 900 });
  await page.open(fileUrl);
}, 60_000);

afterAll(async () => { await page?.close(); }, 30_000);

const chartBoxes = () => page.evaluate<ChartBox[]>(`[...document.querySelectorAll('svg.chart')].map((svg) => {
  const r = svg.getBoundingClientRect();
  const bars = [...svg.querySelectorAll('rect.bar')].filter((b) => { const bb = b.getBoundingClientRect(); return bb.width > 0 && bb.height > 0; }).length;
  return { label: svg.getAttribute('aria-label'), x: r.x + window.scrollX, y: r.y + window.scrollY, width: r.width, height: r.height, bars };
})`);

describe('the HTML report in a real browser', () => {
  it('draws its four charts: their bars are on the screenshot in the series\' colours', async () => {
    const charts = await chartBoxes();
    expect(charts.map((c) => c.label)).toEqual(['IT energy over the period', 'CO2e (location-based) over the period', 'IT energy by group', 'CO2e by group: location-based and embodied']);
    for (const c of charts) {
      expect(c.width, c.label).toBeGreaterThan(600);
      expect(c.bars, c.label).toBeGreaterThan(3);
    }
    const metrics = await page.send<{ cssContentSize: { width: number; height: number } }>('Page.getLayoutMetrics');
    const shot = await page.send<{ data: string }>('Page.captureScreenshot', {
      format: 'png', captureBeyondViewport: true,
      clip: { x: 0, y: 0, width: metrics.cssContentSize.width, height: metrics.cssContentSize.height, scale: 1 },
    });
    const png = Buffer.from(shot.data, 'base64');
    mkdirSync(OUT, { recursive: true });
    writeFileSync(join(OUT, 'report-screenshot.png'), png);
    const img = decodePng(png);
    expect(img.width).toBe(Math.ceil(metrics.cssContentSize.width));
    const [energyTime, co2eTime, energyGroups, co2eGroups] = charts as [ChartBox, ChartBox, ChartBox, ChartBox];
    expect(countColour(img, energyTime, ATTRIBUTED)).toBeGreaterThan(200);
    expect(countColour(img, co2eTime, CO2E)).toBeGreaterThan(200);
    expect(countColour(img, energyGroups, ATTRIBUTED)).toBeGreaterThan(200);
    expect(countColour(img, co2eGroups, CO2E)).toBeGreaterThan(200);
    expect(countColour(img, co2eGroups, EMBODIED)).toBeGreaterThan(200);
    // And not where there is no chart: the page's first 60 px are the title.
    expect(countColour(img, { x: 0, y: 0, width: img.width, height: 60 }, ATTRIBUTED)).toBe(0);
  });

  it('logs no error or warning and asks for nothing but its own file', async () => {
    expect(page.events.errors).toEqual([]);
    expect(page.events.requests).toEqual([fileUrl]);
  });

  it('states the figures and the method as text: cards, totals, SCI, factors with sources, coverage', async () => {
    const text = await page.evaluate<string>('document.body.innerText');
    expect(text).toMatch(/34\s*queries/);
    expect(text).toMatch(/SCI, gCO2e per query/);
    expect(text).toMatch(/Ember yearly electricity data .*\(2024\)/);
    expect(text).toMatch(/example supplier disclosure/);
    expect(text).toMatch(/3700 kgCO2e per host over 5 years/);
    expect(text).toMatch(/Coverage/);
    expect(await page.evaluate<number>('document.querySelectorAll("table").length')).toBe(4);
  });

  it('prints: the charts keep their size in print media and the PDF has pages', async () => {
    await page.send('Emulation.setEmulatedMedia', { media: 'print' });
    const charts = await chartBoxes();
    expect(charts.every((c) => c.width > 500 && c.height > 100 && c.bars > 3)).toBe(true);
    const pdf = await page.send<{ data: string }>('Page.printToPDF', { printBackground: true, preferCSSPageSize: true });
    const bytes = Buffer.from(pdf.data, 'base64');
    writeFileSync(join(OUT, 'report.pdf'), bytes);
    expect(bytes.subarray(0, 5).toString()).toBe('%PDF-');
    const pages = (bytes.toString('latin1').match(/\/Type\s*\/Page\b/g) ?? []).length;
    expect(pages).toBeGreaterThanOrEqual(2);
    expect(pages).toBeLessThanOrEqual(8);
    await page.send('Emulation.setEmulatedMedia', { media: '' });
    expect(page.events.errors).toEqual([]);
  });
});

