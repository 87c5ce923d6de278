/**
 * The projection against the figures tied to the article that our data holds:
 * - test/fixtures/reference/per_query_reference_points.csv (see its SOURCES.md): per-query energy and water
 *   derived from the article's assumptions, and the author's own per-query estimate for ChatGPT that the
 *   article's server assumptions come from. Our numbers must round to theirs at the precision they give.
 * - test/fixtures/reference/ludvigsen_2023_published.csv: every figure the article prints. `inferwatt project
 *   --preset article` must print each one as the article does, in --json and in its text, computed from the
 *   article's inputs; where the article's own arithmetic slips, the output must say so (docs/projection.md).
 */
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { runProjectCommand } from '../../src/commands/project.js';
import { parseCsv } from '../../src/impacts/factor-tables.js';
import { articleInputs } from '../../src/impacts/article.js';
import { project, type ProjectionInputs } from '../../src/impacts/projection.js';

const csv = parseCsv(readFileSync(new URL('../fixtures/reference/per_query_reference_points.csv', import.meta.url), 'utf8'));
function row(what: string): Record<string, string> {
  const r = csv.rows.find((x) => x.what === what);
  if (!r) throw new Error(`reference row "${what}" is missing from the fixture`);
  return r;
}
/** Rounds to the number of decimals that `published` is written with. */
function roundLike(value: number, published: string): number {
  const decimals = published.includes('.') ? published.split('.')[1]!.length : 0;
  return Number(value.toFixed(decimals));
}

describe('the article preset against the reference points', () => {
  const implied = row('Ludvigsen 2023 ubiquitous-GenAI implied');
  const r = project(articleInputs());

  it('facility Wh per query rounds to the published 2.47 Wh', () => {
    expect(implied.unit).toBe('Wh');
    expect(roundLike(r.energy.facilityWhPerQuery, implied.energy!)).toBe(Number(implied.energy));
  });

  it('IT Wh per query and PUE are those the row states (IT 2.17 Wh x PUE 1.14)', () => {
    const m = /IT ([\d.]+) Wh x PUE ([\d.]+)/.exec(implied.boundary!);
    expect(m).not.toBeNull();
    expect(roundLike(r.energy.itWhPerQuery, m![1]!)).toBe(Number(m![1]));
    expect(r.energy.facilityWhPerQuery / r.energy.itWhPerQuery).toBeCloseTo(Number(m![2]), 12);
  });

  it("water per query is the row's 10 mL", () => {
    const ml = Number(/([\d.]+) mL water\/query/.exec(implied.other_impacts!)![1]);
    expect(r.waterLiters.perQuery * 1000).toBeCloseTo(ml, 9);
  });
});

describe("the author's ChatGPT estimate (method 1) from the same server assumptions", () => {
  // 3,617 HGX x 6.5 kW x 50-75% x 24 x PUE 1.18 / 195M gives 1.7-2.6 Wh a query (facility).
  const ref = row('Ludvigsen 2023 ChatGPT per query (method 1)');
  const [low, high] = ref.energy!.split('-') as [string, string];
  const at = (utilization: number): number => {
    const base = articleInputs();
    const inputs: ProjectionInputs = { ...base, pue: 1.18, energy: { ...(base.energy as Extract<ProjectionInputs['energy'], { kind: 'server' }>), utilization } };
    return project(inputs).energy.facilityWhPerQuery;
  };

  it('50 % utilisation gives the low end, 75 % the high end', () => {
    expect(ref.boundary).toContain('PUE 1.18');
    expect(roundLike(at(0.5), low)).toBe(Number(low));
    expect(roundLike(at(0.75), high)).toBe(Number(high));
  });
});

// -------------------------------------------------------------------------------------------------
// The article's printed table, row by row

const published = parseCsv(readFileSync(new URL('../fixtures/reference/ludvigsen_2023_published.csv', import.meta.url), 'utf8')).rows;

interface ArticleRow { quantity: string; label: string; value: number; unit: string; printed: string }

async function projectArticle(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runProjectCommand(['--preset', 'article', ...argv], { stdout: (x) => { out += x; }, stderr: (x) => { err += x; } });
  return { code, out, err };
}

/**
 * The figure of `printed_as` (before any parenthesis) and the precision it is printed to: its decimals, or
 * for an "about" figure its last non-zero digit ("about 15,800": hundreds); "billion" and "%" scale it.
 */
function figureOf(printedAs: string): { text: string; value: number; step: number } {
  const text = printedAs.split(' (')[0]!.trim();
  const m = /^(about )?([\d,]+(?:\.\d+)?)( billion| %)?$/.exec(text);
  if (!m) throw new Error(`cannot read the figure of "${printedAs}"`);
  const digits = m[2]!.replace(/,/g, '');
  const scale = m[3] === ' billion' ? 1e9 : m[3] === ' %' ? 0.01 : 1;
  let step = digits.includes('.') ? 10 ** -digits.split('.')[1]!.length : 1;
  if (m[1] && !digits.includes('.')) step = 10 ** /0*$/.exec(digits)![0].length;
  return { text, value: Number(digits) * scale, step: step * scale };
}
const atPrecision = (x: number, step: number): number => Math.round(x / step);
const esc = (x: string) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

/**
 * The two rows where inferwatt does not print the article's figure, each with what must hold instead.
 * Every other row must be printed exactly as the article prints it.
 */
const DIFFERENCES: Record<string, (ours: ArticleRow, csv: Record<string, string>, text: string) => void> = {
  // 94,817,123,100 kWh × 484 g = 45,891,487.58 t: the article cuts it to 45,891,487 where its other
  // figures are rounded (embodied 7,206,176.92 → 7,206,177); we round.
  operational_per_year: (ours, csv, text) => {
    expect(ours.value - Number(csv.value)).toBeGreaterThanOrEqual(0);
    expect(ours.value - Number(csv.value)).toBeLessThan(1);
    expect(ours.printed).toBe('45,891,488');
    expect(text).toMatch(/operational: .*45,891,487\.58 t.*the article prints 45,891,487/);
  },
  // The article prints 1,114,000 t; about 95 TWh × 12 g is 1,140,000 t, which is what its own "about
  // 104,000 Danes" (at 11 t each) follows from.
  all_wind_operational: (ours, csv, text) => {
    expect(csv.printed_as).toMatch(/about 104,000 Danes/);
    expect(ours.value).toBeCloseTo(95e9 * 12 / 1e6, 6);
    expect(ours.printed).toBe('about 1,140,000');
    expect(text).toMatch(new RegExp(`^  ${esc(ours.label)} +about 1,140,000 tCO2e \\(about 104,000 Danes\\)`, 'm'));
    expect(text).toMatch(/all on wind: .*the article prints 1,114,000 t/);
  },
};

describe("inferwatt project --preset article reproduces the article's printed table (ludvigsen_2023_published.csv)", () => {
  let rows: ArticleRow[];
  let text: string;
  beforeAll(async () => {
    const json = await projectArticle(['--json']);
    expect(json.code).toBe(0);
    rows = (JSON.parse(json.out) as { article: { rows: ArticleRow[] } }).article.rows;
    const plain = await projectArticle([]);
    expect(plain.code).toBe(0);
    text = plain.out;
  });

  it('has one line for each row of the article, in its order', () => {
    expect(published.length).toBe(19);
    expect(rows.map((r) => r.quantity)).toEqual(published.map((r) => r.quantity));
  });

  for (const csv of published) {
    it(`${csv.quantity}: ${csv.printed_as}`, () => {
      const ours = rows.find((r) => r.quantity === csv.quantity)!;
      expect(ours, csv.quantity).toBeDefined();
      const fig = figureOf(csv.printed_as!);
      // The article's figure is its own value at the printed precision (a check of the fixture itself).
      expect(atPrecision(Number(csv.value), fig.step)).toBe(atPrecision(fig.value, fig.step));
      const differs = DIFFERENCES[csv.quantity!];
      if (differs) { differs(ours, csv, text); return; }
      expect(atPrecision(ours.value, fig.step)).toBe(atPrecision(fig.value, fig.step));
      expect(ours.printed).toBe(fig.text);
      expect(text).toMatch(new RegExp(`^  ${esc(ours.label)} +${esc(fig.text)}( |$)`, 'm'));
    });
  }

  it('prints the parenthetical figures the article gives with two of its rows', () => {
    expect(text).toMatch(/^ {2}facility energy per year +94,817,123,100 kWh \(about 95 TWh\)/m);
    expect(text).toMatch(/^ {2}Danes' yearly emissions +4,303,541 \(at 11 tCO2e each\)/m);
    expect(text).toMatch(/^ {2}adults' drinking water +328,125,000 adults \(at 1,168 L a year each\)/m);
    expect(text).toMatch(/^ {2}wind turbines to supply it +about 15,800 \(at 6 GWh a year each\)/m);
  });

  it('says where it follows the article\'s arithmetic rather than its text', () => {
    expect(text).toMatch(/training: 10 models a year.*its text lists nine makers \(nine would give 5,606 t\)/);
    expect(text).toMatch(/servers: .*1,947,615\.38.*not rounded/);
    expect(text).toMatch(/about 95 TWh: .*wind/);
    expect(text).toMatch(/adults: .*its body text says 328,135,000/);
  });

  it('is computed from the inputs: halving the users halves the fleet, the energy and the water', async () => {
    const half = JSON.parse((await projectArticle(['--json', '--users', '1.75e9'])).out) as { article: { rows: ArticleRow[] } };
    const value = (rs: ArticleRow[], q: string) => rs.find((r) => r.quantity === q)!.value;
    for (const q of ['daily_queries', 'servers_needed', 'gpus_needed', 'it_energy_per_year', 'operational_per_year', 'water_per_year', 'adults_drinking_water_equivalent']) {
      expect(value(half.article.rows, q), q).toBeCloseTo(value(rows, q) / 2, 3);
    }
  });
});
