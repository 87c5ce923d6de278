/**
 * The `learned` policy against a simulated server whose per-model costs are hidden (learned-sim.ts):
 * the costs it learns, each request's energy against its truth, the fallback before the costs are
 * known, forgetting, collinear traffic, and the state file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { relativeError, runLedger, simulate, type SimModel, type SimRequest } from './learned-sim.js';

// Two models whose prompt tokens cost 8 % and 16 % of a completion token (neither the default 0.2 of
// `tokens`), with different speeds, and requests that vary in length and batch speed.
const MODELS: SimModel[] = [
  { name: 'small', promptJ: 0.04, completionJ: 0.5, prefillSPerToken: 0.0002, decodeSPerToken: 0.015, prompt: [50, 2000], completion: [10, 400] },
  { name: 'large', promptJ: 0.5, completionJ: 3.2, prefillSPerToken: 0.0008, decodeSPerToken: 0.04, prompt: [50, 3000], completion: [10, 300] },
];
const WARMUP_MS = 180_000;

function costsOf(run: ReturnType<typeof runLedger>, model: string) {
  const pool = run.ledger.tokenCosts()![0]!;
  return pool.models.find((m) => m.model === model)!;
}

describe('learned policy: hidden per-model costs, concurrent mixed load', () => {
  for (const staticW of [0, 150]) {
    const reqs = simulate({ models: MODELS, seconds: 600, rate: 2, staticW, streamedShare: 0.7, seed: 11 });
    const learned = runLedger(reqs, staticW, 'learned');

    it(`static ${staticW} W: learns each model's J per completion token within 20 % and per prompt token within 35 %, and the baseline`, () => {
      for (const m of MODELS) {
        const c = costsOf(learned, m.name);
        expect(c.ready).toBe(true);
        expect(c.source).toBe('fit');
        expect(Math.abs(c.completionJ - m.completionJ) / m.completionJ).toBeLessThan(0.2);
        expect(Math.abs(c.promptJ - m.promptJ) / m.promptJ).toBeLessThan(0.35);
        expect(c.samples).toBeGreaterThan(100);
      }
      const base = learned.ledger.tokenCosts()![0]!.baselineW;
      expect(Math.abs(base - staticW)).toBeLessThan(Math.max(15, 0.1 * staticW));
    });

    it(`static ${staticW} W: once learned, each request's energy is within 10 % of its truth, where time and tokens are far off`, () => {
      const onlyLearned = relativeError(reqs, learned, WARMUP_MS, (r) => r.attribution === 'learned');
      expect(onlyLearned.n).toBeGreaterThan(500);
      expect(onlyLearned.err).toBeLessThan(0.1);
      for (const policy of ['time', 'tokens'] as const) {
        expect(relativeError(reqs, runLedger(reqs, staticW, policy), WARMUP_MS).err).toBeGreaterThan(0.3);
      }
    });

    it(`static ${staticW} W: conserves energy`, () => {
      const t = learned.ledger.totals();
      expect(Math.abs(t.attributedJ + t.unattributedJ - t.measuredJ)).toBeLessThanOrEqual(1e-9 * t.measuredJ);
      expect(learned.records.size).toBe(reqs.length);
    });
  }

  it('a decode that changes speed mid-request (the batch changed): with the proxy\'s decode marks requests are within 2 % of their truth, without them more than twice as far off', () => {
    const reqs = simulate({ models: MODELS, seconds: 600, rate: 2, staticW: 100, streamedShare: 1, seed: 13, unevenDecode: true });
    const withMarks = relativeError(reqs, runLedger(reqs, 100, 'learned', {}, true), WARMUP_MS, (r) => r.attribution === 'learned');
    const without = relativeError(reqs, runLedger(reqs, 100, 'learned'), WARMUP_MS, (r) => r.attribution === 'learned');
    // Seen: 0.7 % with marks, 2.9 % without (the same J per token either way: only the overlap with others is wrong).
    expect(withMarks.n).toBeGreaterThan(500);
    expect(withMarks.err).toBeLessThan(0.02);
    expect(without.err).toBeGreaterThan(2 * withMarks.err);
  });

  it('falls back to tokens until a model is ready: the first records say "tokens", later ones "learned"', () => {
    const reqs = simulate({ models: MODELS, seconds: 300, rate: 2, staticW: 100, streamedShare: 0.7, seed: 12 });
    const run = runLedger(reqs, 100, 'learned');
    const first = reqs.slice(0, 20).map((q) => run.records.get(q.id)!.attribution);
    expect(first.every((a) => a === 'tokens')).toBe(true);
    const late = reqs.filter((q) => q.start > 200_000).map((q) => run.records.get(q.id)!.attribution);
    expect(late.filter((a) => a === 'learned').length / late.length).toBeGreaterThan(0.9);
  });

  it('a prior from configuration (attribution.tokenCosts) is used from the first request', () => {
    // 12 s: fewer buckets than the fit needs before it is used, so the prior carries every request.
    const reqs = simulate({ models: MODELS, seconds: 12, rate: 2, staticW: 0, streamedShare: 1, seed: 13 });
    const priors = MODELS.map((m) => ({ model: m.name, promptJ: m.promptJ, completionJ: m.completionJ }));
    const run = runLedger(reqs, 0, 'learned', { learn: { priors } });
    expect([...run.records.values()].every((r) => r.attribution === 'learned')).toBe(true);
    expect(costsOf(run, 'small').source).toBe('prior');
    // With the true costs and every request streamed, each request gets its own energy.
    expect(relativeError(reqs, run, 0).err).toBeLessThan(0.01);
  });

  it('forgets: costs that double mid-run are followed within minutes', () => {
    const reqs = simulate({ models: MODELS, seconds: 1_500, rate: 2, staticW: 100, streamedShare: 0.7, seed: 14, changeAtS: 600, changeFactor: 2 });
    const run = runLedger(reqs, 100, 'learned');
    for (const m of MODELS) {
      const c = costsOf(run, m.name);
      expect(Math.abs(c.completionJ - 2 * m.completionJ) / (2 * m.completionJ)).toBeLessThan(0.2);
    }
  });

  it('collinear traffic (non-streamed, completion always a quarter of the prompt) shows high uncertainty and keeps the fallback', () => {
    const reqs = simulate({ models: MODELS.slice(0, 1), seconds: 600, rate: 2, staticW: 100, streamedShare: 0, seed: 15, collinear: 4 });
    const run = runLedger(reqs, 100, 'learned');
    const c = costsOf(run, 'small');
    expect(c.ready).toBe(false);
    expect(c.source).toBe('none');
    expect(Math.max(c.completionSe! / c.completionJ, c.promptSe! / Math.max(c.promptJ, 0.1 * c.completionJ))).toBeGreaterThan(0.25);
    expect([...run.records.values()].every((r) => r.attribution === 'tokens')).toBe(true);
  });

  it('the learned state survives a restart through the state file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'inferwatt-learn-'));
    try {
      const file = join(dir, 'state.json');
      const reqs = simulate({ models: MODELS, seconds: 400, rate: 2, staticW: 100, streamedShare: 0.7, seed: 16 });
      const first = runLedger(reqs, 100, 'learned', { learnStateFile: file });
      expect(costsOf(first, 'large').ready).toBe(true);
      // A new agent on new traffic: ready at once, from the file.
      const again: SimRequest[] = simulate({ models: MODELS, seconds: 20, rate: 2, staticW: 100, streamedShare: 0.7, seed: 17 });
      const second = runLedger(again, 100, 'learned', { learnStateFile: file });
      expect(second.records.get(again[0]!.id)!.attribution).toBe('learned');
      expect(costsOf(second, 'large').completionJ).toBeCloseTo(costsOf(first, 'large').completionJ, 1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
