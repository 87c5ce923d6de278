import type { Clock } from '../../core/clock.js';
import type { EnergyTimeline } from '../../energy/types.js';
import type { PoolState } from '../pool-state.js';
import type { Win } from '../window.js';
import { CostFit } from './cost-fit.js';

/**
 * What a token costs on one pool, learned from what the pool measures (docs/attribution.md, "Learned
 * token costs"). Time is cut into buckets (1 s by default); each bucket in which a request ran gives one
 * equation, once every request that overlapped it has ended (their token counts are known then):
 *
 *   pool energy of the bucket = baseline W × its seconds
 *                             + Σ over models m ( J per prompt token of m × prompt tokens of m processed in it
 *                                               + J per completion token of m × completion tokens of m in it
 *                                               + J per cached prompt token of m × cached prompt tokens in it )
 *
 * A streamed request's prompt tokens are spread evenly over its prefill (start to first byte), its
 * completion tokens over its decode (first byte to end) as its content chunks were streamed (between two
 * of the proxy's decode marks, the share of the chunks streamed between them); a non-streamed request
 * carries both over its whole window. Prompt tokens the server served from its cache skip prefill: they are a feature of their
 * own. The coefficients are fitted with forgetting and kept non-negative (cost-fit.ts); a model is
 * *ready* once enough buckets saw it and its costs' standard errors are small.
 *
 * A bucket is not used when a request in it reported no token counts (its energy has no explanation) or
 * when a model beyond `maxModels` ran in it. Buckets wait at most `holdMs` for their requests to end; a
 * request longer than that takes the buckets it spans out of the fit.
 *
 * Over 300 lines: bucketing, readiness, priors and the saved state all index the same per-model feature
 * columns of the fit (PER_MODEL per model after the baseline), which this file alone lays out.
 */
export interface LearnOptions {
  /** Bucket length, ms: one equation per bucket in which a request ran. */
  readonly bucketMs: number;
  /** Forgetting: a bucket's weight falls by e every memoryS seconds of buckets with traffic. */
  readonly memoryS: number;
  /** Buckets (forgetting-weighted) a model must have been seen in before its costs are used. */
  readonly minSamples: number;
  /** Largest relative standard error of a model's costs for them to be used (0.25 = 25 %). */
  readonly maxUncertainty: number;
  /** Models learned per pool; buckets with others are left out. */
  readonly maxModels: number;
  /** Longest a bucket waits for the requests that overlap it to end, ms. */
  readonly holdMs: number;
  /** Costs to use for a model until its fit is ready (`attribution.tokenCosts`, or `inferwatt calibrate --out`). */
  readonly priors: readonly TokenCostPrior[];
  /** The engine computes the prompts of requests that arrive together one after another: a request's prefill starts at the end of its wait (held-split.ts). */
  readonly queuedPrefill: boolean;
}

export interface TokenCostPrior {
  /** The pool (upstream) it applies to; every pool when absent. */
  readonly pool?: string;
  readonly model: string;
  readonly promptJ: number;
  readonly completionJ: number;
  readonly cachedJ?: number;
}

/** The costs the `learned` policy weighs a request with, J per token. */
export interface TokenCosts {
  readonly promptJ: number;
  readonly completionJ: number;
  readonly cachedJ: number;
}

export interface ModelCostReport {
  model: string;
  promptJ: number;
  promptSe: number | null;
  completionJ: number;
  completionSe: number | null;
  cachedJ: number;
  cachedSe: number | null;
  /** Buckets (forgetting-weighted) in which the model's requests ran. */
  samples: number;
  /** The policy weighs this model's requests by these costs (else they fall back to `tokens`). */
  ready: boolean;
  /** Where the costs come from: the live fit, the configured prior, or nothing yet. */
  source: 'fit' | 'prior' | 'none';
}

export interface PoolCostReport {
  pool: string;
  baselineW: number;
  baselineSe: number | null;
  /** Buckets in the fit (forgetting-weighted). */
  rows: number;
  /** Share of the buckets' energy variance the fit explains (null before it can say). */
  r2: number | null;
  /** Buckets left out (a request without token counts, too many models, or held past holdMs). */
  skipped: number;
  models: ModelCostReport[];
}

export const DEFAULT_LEARN_OPTIONS: LearnOptions = {
  bucketMs: 1_000,
  memoryS: 300,
  minSamples: 30,
  maxUncertainty: 0.25,
  maxModels: 50,
  holdMs: 600_000,
  priors: [],
  queuedPrefill: false,
};

/** Features per model: uncached prompt, completion, cached prompt tokens; feature 0 is the baseline. */
const PER_MODEL = 3;
/** The fit is solved at most this often per pool, ms of the clock. */
const SOLVE_EVERY_MS = 1_000;
/** Forgetting of the per-model phase timings (seconds per prompt and per completion token), per streamed request. */
const TIMING_DECAY = 0.99;

class Bucket {
  /** Requests started in it whose end is not known yet. */
  open = 0;
  active = false;
  unusable = false;
  /** Per model index, PER_MODEL token counts (fractions: tokens spread over time). */
  readonly feats = new Map<number, number[]>();
  constructor(readonly idx: number) {}
}

export class PoolLearner {
  private readonly fit: CostFit;
  private readonly index = new Map<string, number>();
  private readonly names: string[] = [];
  private readonly buckets = new Map<number, Bucket>();
  /** The lowest bucket not final yet. */
  private head = Number.NaN;
  /** Requests started in buckets dropped by the hold bound that have not ended: later buckets wait for them. */
  private droppedOpen = 0;
  private skipped = 0;
  private lastSolveMs = Number.NEGATIVE_INFINITY;
  /** Per model index, the costs the policy uses (undefined: not ready, no prior). */
  private usable: (TokenCosts | undefined)[] = [];
  /** Per model index, whether its fit was ready at the last solve (readiness has hysteresis, see fitReady). */
  private fitWasReady: boolean[] = [];
  private readonly priors = new Map<string, TokenCostPrior>();
  /** Per model index, forgetting-weighted sums of streamed requests' prefill and decode ms and token counts. */
  private readonly timings: ({ pMs: number; p: number; cMs: number; c: number } | undefined)[] = [];

  constructor(
    private readonly P: PoolState,
    private readonly timeline: EnergyTimeline,
    private readonly clock: Clock,
    private readonly opts: LearnOptions,
  ) {
    this.fit = new CostFit(Math.exp(-opts.bucketMs / 1000 / opts.memoryS));
    this.fit.grow(1);
    for (const p of opts.priors) if (p.pool === undefined || p.pool === P.name) this.priors.set(p.model, p);
    for (const model of this.priors.keys()) this.modelIndex(model);
    this.refresh();
  }

  /** The costs to weigh a request of `model` with, or undefined while they are not known well enough. */
  costs(model: string | undefined): TokenCosts | undefined {
    const i = this.index.get(model ?? '');
    return i === undefined ? undefined : this.usable[i];
  }

  /** w's start was processed. */
  started(w: Win): void {
    // One already ended has given its tokens (`ended`), unless the held split deferred its end to its first byte.
    if (w.ended && !w.endDeferred) return;
    const idx = this.bucketOf(w.startMs);
    this.bucket(Number.isNaN(this.head) ? idx : Math.max(idx, this.head)).open++;
    w.learnBucket = Number.isNaN(this.head) ? idx : Math.max(idx, this.head);
  }

  /** The proxy ended w: its token counts are known; they join the buckets it overlapped. */
  ended(w: Win): void {
    if (w.learnBucket >= 0) {
      const b = this.buckets.get(w.learnBucket);
      if (b !== undefined) b.open--;
      else this.droppedOpen = Math.max(0, this.droppedOpen - 1); // its bucket was dropped by the hold bound
      w.learnBucket = -1;
    }
    const start = w.startMs;
    const end = w.endMs;
    if (!(end > start)) return;
    const knownTokens = w.prompt !== undefined || w.completion !== undefined;
    const m = knownTokens && w.outcome !== 'error' ? this.modelIndex(w.model ?? '') : -1;
    if (m < 0) {
      // No explanation for its energy (no usage, or a model past the bound): its buckets are left out.
      this.spread(start, end, -1, 0, 0, 0);
      return;
    }
    const prompt = w.prompt ?? 0;
    const cached = Math.min(w.cachedPrompt ?? 0, prompt);
    const fb = w.firstByteMs;
    if (w.stream && fb !== undefined && fb > start && fb < end) {
      this.spread(w.prefillFromMs, fb, m, prompt - cached, 0, cached);
      const c = w.completion ?? 0;
      w.decodeIntervals((_j, a, b, share) => this.spread(a, b, m, 0, c * share, 0));
      this.time(m, fb - start, prompt - cached, end - fb, w.completion ?? 0);
    } else {
      // Prefill comes first, but the response does not say when it ended. Its model's streamed requests
      // do: their seconds per prompt and per completion token give this request's prefill share. With
      // none seen yet, its tokens are spread over the whole window (one phase carrying both).
      const t = this.timings[m];
      const c = w.completion ?? 0;
      const pre = t !== undefined && t.p > 0 && t.c > 0 ? (prompt - cached) * (t.pMs / t.p) : 0;
      const dec = t !== undefined && t.p > 0 && t.c > 0 ? c * (t.cMs / t.c) : 0;
      if (pre > 0 && dec > 0) {
        const cut = start + ((end - start) * pre) / (pre + dec);
        this.spread(start, cut, m, prompt - cached, 0, cached);
        this.spread(cut, end, m, 0, c, 0);
      } else {
        this.spread(start, end, m, prompt - cached, c, cached);
      }
    }
  }

  /** The pool is processed up to `until`: buckets whose requests have all ended become equations. */
  advance(until: number): void {
    if (Number.isNaN(this.head)) return;
    const B = this.opts.bucketMs;
    // Nothing held: skip the idle stretch at once.
    if (this.buckets.size === 0) this.head = Math.max(this.head, Math.floor(until / B));
    let added = false;
    while ((this.head + 1) * B <= until) {
      const b = this.buckets.get(this.head);
      if (b !== undefined && (b.open > 0 || this.droppedOpen > 0)) {
        if (until - (this.head + 1) * B <= this.opts.holdMs) break;
        // Held past the bound: its requests' later buckets cannot be complete either until they end.
        this.droppedOpen += b.open;
        this.skipped++;
      } else if (b !== undefined && b.active) {
        if (b.unusable) this.skipped++;
        else added = this.addRow(b) || added;
      }
      this.buckets.delete(this.head);
      this.head++;
    }
    if (added && this.clock.nowMs() - this.lastSolveMs >= SOLVE_EVERY_MS) this.refresh();
  }

  report(): PoolCostReport {
    // What the report says is what the policy uses from now on: the costs in use follow the latest fit.
    this.refresh();
    const se = (j: number) => { const v = this.fit.stdError(j); return Number.isFinite(v) ? v : null; };
    return {
      pool: this.P.name,
      baselineW: this.fit.estimate(0),
      baselineSe: se(0),
      rows: this.fit.rows,
      r2: Number.isFinite(this.fit.r2()) ? this.fit.r2() : null,
      skipped: this.skipped,
      models: this.names.map((model, i) => {
        const [jp, jc, jx] = [1 + PER_MODEL * i, 2 + PER_MODEL * i, 3 + PER_MODEL * i];
        const fitted = this.fitWasReady[i] === true;
        const prior = this.priors.get(model);
        const use = this.usable[i];
        const fromFit = fitted || prior === undefined;
        return {
          model,
          promptJ: fromFit ? this.fit.estimate(jp) : use!.promptJ,
          promptSe: fromFit ? se(jp) : null,
          completionJ: fromFit ? this.fit.estimate(jc) : use!.completionJ,
          completionSe: fromFit ? se(jc) : null,
          cachedJ: fromFit ? this.fit.estimate(jx) : use!.cachedJ,
          cachedSe: fromFit ? se(jx) : null,
          samples: Math.max(this.fit.samples(jp), this.fit.samples(jc)),
          ready: use !== undefined,
          source: fitted ? 'fit' : prior ? 'prior' : 'none',
        };
      }),
    };
  }

  /** The statistics behind the fit, for a state file. */
  state(): { models: string[]; fit: ReturnType<CostFit['toJSON']> } {
    return { models: [...this.names], fit: this.fit.toJSON() };
  }

  /** Restores a state() of an earlier run, matching models by name (priors may have indexed them in another order). */
  restore(s: { models: string[]; fit: ReturnType<CostFit['toJSON']> }): void {
    if (s.fit.k !== 1 + PER_MODEL * s.models.length) throw new Error(`state has ${s.fit.k} features for ${s.models.length} models`);
    const at = [0];
    for (const m of s.models) {
      const i = this.modelIndex(m);
      if (i < 0) throw new Error(`state has more models than maxModels (${this.opts.maxModels})`);
      for (let q = 0; q < PER_MODEL; q++) at.push(1 + PER_MODEL * i + q);
    }
    const k = this.fit.size;
    const S = new Array<number>(k * k).fill(0);
    const r = new Array<number>(k).fill(0);
    const cnt = new Array<number>(k).fill(0);
    for (let a = 0; a < s.fit.k; a++) {
      r[at[a]!] = s.fit.r[a]!;
      cnt[at[a]!] = s.fit.cnt[a]!;
      for (let b = 0; b < s.fit.k; b++) S[at[a]! * k + at[b]!] = s.fit.S[a * s.fit.k + b]!;
    }
    this.fit.restore({ k, S, r, cnt, yy: s.fit.yy, ysum: s.fit.ysum, n: s.fit.n });
    this.refresh();
  }

  private refresh(): void {
    this.lastSolveMs = this.clock.nowMs();
    this.fit.solve();
    // Once per model, against the readiness of the previous solve (fitReady's hysteresis reads it).
    const fitted = this.names.map((_, i) => this.fitReady(i));
    this.fitWasReady = fitted.map((f) => f !== undefined);
    this.usable = this.names.map((model, i) => {
      const f = fitted[i];
      if (f !== undefined) return f;
      const p = this.priors.get(model);
      return p ? { promptJ: p.promptJ, completionJ: p.completionJ, cachedJ: p.cachedJ ?? 0 } : undefined;
    });
  }

  /**
   * Model i's fitted costs if they are known well enough: enough buckets, small standard errors. With
   * hysteresis: a model that was ready stays so until its errors pass 1.5 × maxUncertainty (or its
   * buckets fall under half of minSamples), so that its records do not flip between `learned` and
   * `tokens` while its errors hover at the bound.
   */
  private fitReady(i: number): TokenCosts | undefined {
    const f = this.fit;
    const [jp, jc, jx] = [1 + PER_MODEL * i, 2 + PER_MODEL * i, 3 + PER_MODEL * i];
    const was = this.fitWasReady[i] === true;
    if (Math.max(f.samples(jp), f.samples(jc)) < this.opts.minSamples * (was ? 0.5 : 1)) return undefined;
    const cc = f.estimate(jc);
    const cp = f.estimate(jp);
    const u = this.opts.maxUncertainty * (was ? 1.5 : 1);
    if (!(cc > 0) || !(f.stdError(jc) <= u * cc)) return undefined;
    // A prompt cost near 0 is known well enough when its error is small against the completion cost.
    if (!(f.stdError(jp) <= u * Math.max(cp, 0.1 * cc))) return undefined;
    return { promptJ: cp, completionJ: cc, cachedJ: f.samples(jx) > 0 ? f.estimate(jx) : 0 };
  }

  private modelIndex(model: string): number {
    let i = this.index.get(model);
    if (i !== undefined) return i;
    if (this.names.length >= this.opts.maxModels) return -1;
    i = this.names.length;
    this.index.set(model, i);
    this.names.push(model);
    this.usable.push(undefined);
    this.fit.grow(1 + PER_MODEL * this.names.length);
    return i;
  }

  private bucketOf(t: number): number {
    return Math.floor(t / this.opts.bucketMs);
  }

  private bucket(idx: number): Bucket {
    let b = this.buckets.get(idx);
    if (b === undefined) {
      b = new Bucket(idx);
      this.buckets.set(idx, b);
      if (Number.isNaN(this.head) || idx < this.head) this.head = idx;
    }
    return b;
  }

  /** Spreads tokens evenly over [a, b) into the buckets not final yet (model -1: marks them unusable). */
  private spread(a: number, b: number, model: number, prompt: number, completion: number, cached: number): void {
    if (!(b > a)) return;
    const B = this.opts.bucketMs;
    const dur = b - a;
    for (let idx = this.bucketOf(a); idx * B < b; idx++) {
      if (!Number.isNaN(this.head) && idx < this.head) continue; // final already (a late request)
      const bk = this.bucket(idx);
      bk.active = true;
      if (model < 0) { bk.unusable = true; continue; }
      const f = (Math.min(b, (idx + 1) * B) - Math.max(a, idx * B)) / dur;
      let v = bk.feats.get(model);
      if (v === undefined) { v = [0, 0, 0]; bk.feats.set(model, v); }
      v[0] = v[0]! + prompt * f;
      v[1] = v[1]! + completion * f;
      v[2] = v[2]! + cached * f;
    }
  }

  /** A streamed request of model m: its prefill and decode times against its token counts. */
  private time(m: number, prefillMs: number, prompt: number, decodeMs: number, completion: number): void {
    if (!(prompt > 0 && completion > 0)) return;
    const t = (this.timings[m] ??= { pMs: 0, p: 0, cMs: 0, c: 0 });
    t.pMs = TIMING_DECAY * t.pMs + prefillMs;
    t.p = TIMING_DECAY * t.p + prompt;
    t.cMs = TIMING_DECAY * t.cMs + decodeMs;
    t.c = TIMING_DECAY * t.c + completion;
  }

  /** The bucket's equation into the fit; false when the timeline cannot say its energy. */
  private addRow(b: Bucket): boolean {
    const B = this.opts.bucketMs;
    let y = 0;
    for (const id of this.P.ids) {
      const e = this.timeline.energyBetween(id, b.idx * B, (b.idx + 1) * B);
      if (e === undefined || !Number.isFinite(e)) { this.skipped++; return false; }
      y += e;
    }
    const idx = [0];
    const x = [B / 1000];
    for (const [m, v] of b.feats) {
      for (let q = 0; q < PER_MODEL; q++) {
        if (v[q] === 0) continue;
        idx.push(1 + PER_MODEL * m + q);
        x.push(v[q]!);
      }
    }
    this.fit.add(idx, x, y);
    return true;
  }
}
