/**
 * The projection against the only figures tied to the article that our data holds
 * (test/fixtures/reference/per_query_reference_points.csv, see its SOURCES.md): per-query energy and water
 * derived from the article's assumptions, and the author's own per-query estimate for ChatGPT that the
 * article's server assumptions come from. Our numbers must round to theirs at the precision they give.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../src/impacts/factor-tables.js';
import { articleInputs, project, type ProjectionInputs } from '../../src/impacts/projection.js';

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
