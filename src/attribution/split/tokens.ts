import type { PoolState } from '../pool-state.js';
import { isCount, type Win } from '../window.js';
import { HeldSplit, type WeightRule } from './held-split.js';
import type { SplitContext, SplitOptions, SplitPolicy } from './policy.js';

/**
 * `tokens`: a window whose token counts are known weighs its density d = (promptTokenWeight × prompt +
 * completion) / duration; unknown ones take time shares (held-split.ts has the rule and its integrals).
 */
class TokensRule implements WeightRule {
  constructor(private readonly promptTokenWeight: number) {}

  classify(w: Win): void {
    const d = tokenDensity(w.prompt, w.completion, w.endMs - w.startMs, this.promptTokenWeight);
    w.known = d !== undefined;
    w.density = d ?? 0;
  }
}

/**
 * The `tokens` weight density of a window (weight per ms), or undefined when its tokens are unknown or
 * its duration is not positive (a zero-length window is active in no piece: it gets 0 J). A window's
 * tokens are known when the tap reported promptTokens or completionTokens (a missing one counts as 0:
 * embeddings have no completion; a stream without usage may only count its completion).
 */
export function tokenDensity(
  promptTokens: number | undefined | null,
  completionTokens: number | undefined | null,
  durationMs: number,
  promptTokenWeight: number,
): number | undefined {
  const p = isCount(promptTokens) ? promptTokens : undefined;
  const c = isCount(completionTokens) ? completionTokens : undefined;
  if (p === undefined && c === undefined) return undefined;
  if (!(durationMs > 0)) return undefined;
  return (promptTokenWeight * (p ?? 0) + (c ?? 0)) / durationMs;
}

export function createTokensSplit(ctx: SplitContext, opts: SplitOptions): SplitPolicy {
  const rule = new TokensRule(opts.promptTokenWeight);
  return { name: 'tokens', integralsPerDevice: 3, phases: false, forPool: (P: PoolState) => new HeldSplit(P, ctx, opts, rule) };
}
