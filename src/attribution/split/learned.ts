import { errorMessage } from '../../core/errors.js';
import { PoolLearner, type PoolCostReport } from '../learn/pool-learner.js';
import { readLearnState, writeLearnState } from '../learn/state-file.js';
import type { PoolState } from '../pool-state.js';
import type { Win } from '../window.js';
import { HeldSplit, type WeightRule } from './held-split.js';
import type { SplitContext, SplitOptions, SplitPolicy } from './policy.js';
import { tokenDensity } from './tokens.js';

/** The learned state is written to `stateFile` at most this often, ms of the clock (and at shutdown). */
const SAVE_EVERY_MS = 60_000;

/**
 * `learned`: each active window weighs its learned power in its phase, its model's J per token × its
 * tokens per ms: prompt tokens (less the cached ones, which cost their own) over its prefill, from its
 * start to its first byte (from the end of its wait, if it waited while the engine computed earlier
 * prompts: held-split.ts), and completion tokens over its decode, from its first byte to its end, spread
 * as its content chunks were streamed (the proxy's decode marks: between two marks, the share of the
 * chunks streamed between them); one phase carrying both for a non-streamed request. The piece's measured
 * energy (baseline included) is split in proportion, so energy is conserved as under every policy. The costs come from the pool's
 * learner (learn/pool-learner.ts), fitted on the same energy. A window whose model's costs are not known
 * well enough yet, or whose tokens are unknown, falls back to `tokens` (its record says so); in a piece it
 * shares with learned windows it takes the time share (held-split.ts).
 */
class LearnedRule implements WeightRule {
  constructor(private readonly learner: PoolLearner, private readonly promptTokenWeight: number, readonly queuedPrefill: boolean) {}

  classify(w: Win): void {
    const start = w.startMs;
    const end = w.endMs;
    const costs = w.prompt !== undefined || w.completion !== undefined ? this.learner.costs(w.model) : undefined;
    if (costs === undefined || !(end > start)) {
      const d = tokenDensity(w.prompt, w.completion, end - start, this.promptTokenWeight);
      w.known = d !== undefined;
      w.density = d ?? 0;
      return;
    }
    const prompt = w.prompt ?? 0;
    const cached = Math.min(w.cachedPrompt ?? 0, prompt);
    const prefillJ = costs.promptJ * (prompt - cached) + costs.cachedJ * cached;
    const decodeJ = costs.completionJ * (w.completion ?? 0);
    const fb = w.firstByteMs;
    w.learned = true;
    w.dens = undefined;
    if (w.stream && fb !== undefined && fb > start && fb < end) {
      w.density = prefillJ / (fb - w.prefillFromMs);
      w.decodeIntervals((j, a, b, share) => {
        const d = (decodeJ * share) / (b - a);
        if (j === 1) w.densityAfter = d;
        else (w.dens ??= []).push(d);
      });
    } else {
      w.density = (prefillJ + decodeJ) / (end - start);
      w.densityAfter = w.density;
    }
  }
}

/** The held split that also feeds each window to the pool's learner. */
class LearnedSplit extends HeldSplit {
  constructor(
    P: PoolState,
    ctx: SplitContext,
    opts: SplitOptions,
    private readonly learner: PoolLearner,
    private readonly afterAdvance: () => void,
  ) {
    super(P, ctx, opts, new LearnedRule(learner, opts.promptTokenWeight, opts.learn.queuedPrefill));
  }

  override start(w: Win): void {
    this.learner.started(w);
    super.start(w);
  }

  protected override afterEnded(w: Win): void {
    this.learner.ended(w);
  }

  override settle(force: boolean): void {
    super.settle(force);
    this.learner.advance(this.P.cursor);
    this.afterAdvance();
  }
}

export interface LearnedSplitPolicy extends SplitPolicy {
  /** Each pool's learned costs. */
  report(): PoolCostReport[];
}

export function createLearnedSplit(ctx: SplitContext, opts: SplitOptions): LearnedSplitPolicy {
  const learners = new Map<string, PoolLearner>();
  const saved = opts.learnStateFile ? readLearnState(opts.learnStateFile, ctx.logger) : undefined;
  let lastSave = ctx.clock.nowMs();
  const save = (sync: boolean) => {
    if (!opts.learnStateFile) return;
    lastSave = ctx.clock.nowMs();
    const pools = Object.fromEntries([...learners].map(([name, l]) => [name, l.state()]));
    writeLearnState(opts.learnStateFile, pools, sync, ctx.logger);
  };
  return {
    name: 'learned',
    integralsPerDevice: 5,
    phases: true,
    forPool(P) {
      const learner = new PoolLearner(P, ctx.timeline, ctx.clock, opts.learn);
      const s = saved?.[P.name];
      if (s) {
        try { learner.restore(s); } catch (err) { ctx.logger.warn(`learned token costs of pool ${P.name} not restored: ${errorMessage(err)}`, { file: opts.learnStateFile }); }
      }
      learners.set(P.name, learner);
      return new LearnedSplit(P, ctx, opts, learner, () => {
        if (ctx.clock.nowMs() - lastSave >= SAVE_EVERY_MS) save(false);
      });
    },
    report: () => [...learners.values()].map((l) => l.report()),
    flush: () => save(true),
  };
}
