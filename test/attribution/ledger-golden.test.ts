/**
 * Golden digests of the ledger: every split policy × idle policy × scenario of golden-schedules.ts, a
 * digest of all its records and books compared with the committed value, bit for bit. A change to the
 * ledger that is meant to move no number (a refactor, a speed-up) must leave every digest as it is; one
 * that is meant to change numbers changes the digests of the variants it touches, on purpose, in the
 * same commit, with the reason in its message:
 *
 *   UPDATE_LEDGER_DIGESTS=1 npx vitest run test/attribution/ledger-golden.test.ts
 *
 * rewrites test/attribution/golden/ledger-digests.json; `git diff` then shows which variants moved.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { AttributionPolicy, IdlePolicy } from '../../src/attribution/types.js';
import { SCENARIOS, digest, runGolden, type Scenario } from './golden-schedules.js';

const FILE = join(import.meta.dirname, 'golden', 'ledger-digests.json');
const POLICIES: AttributionPolicy[] = ['time', 'tokens', 'learned'];
const IDLES: IdlePolicy[] = ['unattributed', 'amortize'];
const update = process.env.UPDATE_LEDGER_DIGESTS === '1';
const committed = JSON.parse(readFileSync(FILE, 'utf8')) as Record<string, string>;
const computed: Record<string, string> = {};

afterAll(() => {
  if (update) writeFileSync(FILE, `${JSON.stringify(computed, null, 2)}\n`);
});

/** What each scenario is there to exercise; a digest of a run that never took the path would guard nothing. */
function checkExercised(scenario: Scenario, policy: AttributionPolicy, idle: IdlePolicy, run: ReturnType<typeof runGolden>): void {
  const s = run.ledger.stats();
  const incomplete = run.records.filter((r) => !r.complete).length;
  if (policy === 'learned') {
    // Both classes: models with costs weighed by learned power, the others by their tokens fallback.
    expect(run.records.some((r) => r.attribution === 'learned')).toBe(true);
    expect(run.records.some((r) => r.attribution === 'tokens')).toBe(true);
  }
  switch (scenario) {
    case 'overlap':
      expect(s.unknownPool).toBeGreaterThan(0);
      expect(run.records.length).toBeGreaterThan(1_400);
      break;
    case 'lag':
      expect(s.lagFinalised).toBeGreaterThan(0);
      break;
    case 'late':
      expect(s.lateEvents).toBeGreaterThan(0);
      break;
    case 'stale':
      expect(s.uncoveredPieces).toBeGreaterThan(0);
      expect(incomplete).toBeGreaterThan(0);
      break;
    case 'flush':
      expect(run.records.filter((r) => r.outcome === 'aborted').length).toBeGreaterThan(0);
      break;
    case 'bounds':
      if (policy !== 'time') expect(s.forcedSplits).toBeGreaterThan(0);
      break;
    case 'duplicate-ids':
      expect(new Set(run.records.map((r) => r.id)).size).toBeLessThan(run.records.length);
      break;
    case 'marks':
      expect(s.lagFinalised).toBeGreaterThan(0);
      if (policy !== 'time') expect(s.forcedSplits).toBeGreaterThan(0);
      if (policy === 'learned') {
        // The marks move learned records (and only those): the same run without them differs.
        const plain = new Map(runGolden(scenario, policy, idle, undefined, true).records.map((r) => [`${r.id}@${r.startMs}`, r.energyJ.total]));
        const moved = run.records.filter((r) => r.attribution === 'learned' && plain.get(`${r.id}@${r.startMs}`) !== r.energyJ.total).length;
        expect(moved).toBeGreaterThan(50);
      }
      break;
  }
}

describe('ledger golden digests (every policy × idle mode × scenario, bit for bit)', () => {
  for (const policy of POLICIES) {
    for (const idle of IDLES) {
      for (const scenario of SCENARIOS) {
        const key = `${policy}/${idle}/${scenario}`;
        it(key, () => {
          const run = runGolden(scenario, policy, idle);
          checkExercised(scenario, policy, idle, run);
          const t = run.ledger.totals();
          // Conservation holds in every scenario, whatever the digest says.
          expect(Math.abs(t.attributedJ + t.unattributedJ - t.measuredJ)).toBeLessThanOrEqual(1e-9 * t.measuredJ);
          computed[key] = digest(run);
          if (!update) {
            expect(committed[key], `no committed digest for ${key}: run with UPDATE_LEDGER_DIGESTS=1 and commit it`).toBeDefined();
            expect(computed[key]).toBe(committed[key]);
          }
        });
      }
    }
  }

  it('the digest is deterministic (two runs of one variant agree)', () => {
    expect(digest(runGolden('late', 'tokens', 'amortize'))).toBe(digest(runGolden('late', 'tokens', 'amortize')));
  });
});
