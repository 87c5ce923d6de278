import { describe, expect, it } from 'vitest';
import { CostFit, nnls } from '../../../src/attribution/learn/cost-fit.js';
import { mulberry32 } from '../../../src/core/prng.js';

/** y = 100 × x0 + 0.5 × x1 + 3 × x2 (+ noise): a baseline and two per-token costs. */
function feed(fit: CostFit, rows: number, seed: number, truth = [100, 0.5, 3], noise = 0, collinear = false): void {
  const r = mulberry32(seed);
  for (let i = 0; i < rows; i++) {
    const x1 = 200 + 1800 * r();
    const x2 = collinear ? x1 / 4 : 5 + 300 * r();
    const y = truth[0]! + truth[1]! * x1 + truth[2]! * x2 + noise * (r() - 0.5) * 2;
    fit.add([0, 1, 2], [1, x1, x2], y);
  }
}

describe('CostFit: online non-negative least squares with forgetting', () => {
  it('recovers the coefficients of noise-free rows exactly, with standard errors near 0', () => {
    const fit = new CostFit(1);
    fit.grow(3);
    feed(fit, 200, 1);
    expect(fit.estimate(0)).toBeCloseTo(100, 6);
    expect(fit.estimate(1)).toBeCloseTo(0.5, 8);
    expect(fit.estimate(2)).toBeCloseTo(3, 7);
    expect(fit.stdError(2)).toBeLessThan(1e-6);
    expect(fit.rows).toBe(200);
  });

  it('with noise, the truth lies within a few standard errors', () => {
    const fit = new CostFit(1);
    fit.grow(3);
    feed(fit, 2_000, 2, [100, 0.5, 3], 200);
    for (const [j, truth] of [[0, 100], [1, 0.5], [2, 3]] as const) {
      expect(Math.abs(fit.estimate(j) - truth)).toBeLessThan(4 * fit.stdError(j));
      expect(fit.stdError(j)).toBeGreaterThan(0);
    }
  });

  it('keeps coefficients non-negative: a negative truth comes out as 0 and the others absorb what they can', () => {
    const fit = new CostFit(1);
    fit.grow(3);
    feed(fit, 300, 3, [100, -0.2, 3]);
    expect(fit.estimate(1)).toBe(0);
    expect(fit.estimate(2)).toBeGreaterThan(0);
  });

  it('collinear features show as large standard errors, not as a confident split', () => {
    const fit = new CostFit(1);
    fit.grow(3);
    feed(fit, 500, 4, [100, 0.5, 3], 50, true);
    const apart = new CostFit(1);
    apart.grow(3);
    feed(apart, 500, 4, [100, 0.5, 3], 50, false);
    expect(fit.stdError(1) / Math.max(fit.estimate(1), 1e-9)).toBeGreaterThan(1);
    expect(fit.stdError(1)).toBeGreaterThan(100 * apart.stdError(1));
  });

  it('forgets: after the truth changes, the estimate follows within a few memory spans', () => {
    const memory = 100; // rows
    const fit = new CostFit(Math.exp(-1 / memory));
    fit.grow(3);
    feed(fit, 1_000, 5, [100, 0.5, 3]);
    expect(fit.estimate(2)).toBeCloseTo(3, 6);
    feed(fit, 5 * memory, 6, [100, 0.5, 6]);
    expect(Math.abs(fit.estimate(2) - 6) / 6).toBeLessThan(0.02);
    expect(fit.rows).toBeLessThan(memory * 1.01);
  });

  it('a feature without data has no estimate and an infinite error; features can be added later', () => {
    const fit = new CostFit(1);
    fit.grow(4);
    feed(fit, 100, 7);
    expect(fit.estimate(3)).toBe(0);
    expect(fit.stdError(3)).toBe(Number.POSITIVE_INFINITY);
    expect(fit.samples(3)).toBe(0);
    fit.grow(6);
    expect(fit.estimate(2)).toBeCloseTo(3, 7);
  });

  it('round-trips its statistics (a state file)', () => {
    const fit = new CostFit(0.99);
    fit.grow(3);
    feed(fit, 300, 8, [100, 0.5, 3], 20);
    const copy = new CostFit(0.99);
    copy.restore(JSON.parse(JSON.stringify(fit.toJSON())));
    for (const j of [0, 1, 2]) {
      expect(copy.estimate(j)).toBe(fit.estimate(j));
      expect(copy.stdError(j)).toBe(fit.stdError(j));
    }
  });

  it('nnls solves a small system with an active bound', () => {
    // Unit diagonal, correlated: the unconstrained solution has a negative second component.
    const A = new Float64Array([1, 0.9, 0.9, 1]);
    const b = new Float64Array([1, 0.5]);
    const x = nnls(A, b, 2);
    expect(x[1]).toBe(0);
    expect(x[0]).toBeCloseTo(1, 9);
  });
});
