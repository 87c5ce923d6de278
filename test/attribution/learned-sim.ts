/**
 * A simulated inference server and its GPU, with hidden per-model costs, for the `learned` policy.
 *
 * Requests of several models arrive at random, overlap, and run a prefill phase (their prompt tokens)
 * then a decode phase (their completion tokens); a streamed request's first byte ends its prefill, a
 * non-streamed one sends everything at its end. While a request is in a phase it draws its model's
 * J per token × its tokens per second in that phase; the GPU's power is the sum over the requests in
 * flight plus a static power. Token rates vary from request to request (batching), so power is not a
 * function of the model alone. The timeline gets the GPU's cumulative energy every 100 ms, exactly.
 *
 * With `unevenDecode`, a request's decode runs at two speeds (the batch changed: others joined or left),
 * the first `mid` tokens at one, the rest at another; the proxy's decode marks (`runLedger` with `marks`)
 * then say how its chunks came, on the proxy's 250 ms grid.
 *
 * Each request's true energy is its own draw plus a share of the static power in proportion to its draw
 * (the convention every split policy follows: the measured energy of a piece is split by weight).
 */
import { createLedger, type Ledger, type LedgerOptions } from '../../src/attribution/ledger.js';
import type { AttributedRequest, AttributionPolicy, WindowHandle } from '../../src/attribution/types.js';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { mulberry32 } from '../../src/core/prng.js';
import { createEnergyTimeline } from '../../src/energy/timeline.js';
import type { EnergyTimeline } from '../../src/energy/types.js';

export interface SimModel {
  name: string;
  /** Hidden truth, J per token. */
  promptJ: number;
  completionJ: number;
  /** Mean seconds per prompt token (prefill) and per completion token (decode). */
  prefillSPerToken: number;
  decodeSPerToken: number;
  /** Prompt and completion lengths: uniform in [lo, hi]. */
  prompt: [number, number];
  completion: [number, number];
}

export interface SimRequest {
  id: string;
  model: SimModel;
  start: number;
  firstByte: number;
  end: number;
  stream: boolean;
  prompt: number;
  completion: number;
  /** Power in each phase, W (J per ms × 1000); decode at decodeW until `mid` (its first midTokens), then at decodeW2. */
  prefillW: number;
  decodeW: number;
  mid: number;
  midTokens: number;
  decodeW2: number;
  trueJ: number;
}

export interface SimOptions {
  models: SimModel[];
  seconds: number;
  /** Requests per second (Poisson). */
  rate: number;
  staticW: number;
  streamedShare: number;
  seed: number;
  /** From this second on, each model's costs are multiplied by this (forgetting test). */
  changeAtS?: number;
  changeFactor?: number;
  /** Every request's completion is prompt / this (prompt and completion move together). */
  collinear?: number;
  /** Each decode runs at two speeds, 4× apart at most (a batch that changed mid-request). */
  unevenDecode?: boolean;
}

export function simulate(o: SimOptions): SimRequest[] {
  const r = mulberry32(o.seed);
  const reqs: SimRequest[] = [];
  let t = 0;
  let i = 0;
  const uni = ([lo, hi]: [number, number]) => Math.round(lo + r() * (hi - lo));
  while (true) {
    t += (-Math.log(1 - r()) / o.rate) * 1000;
    if (t > o.seconds * 1000) break;
    const model = o.models[Math.floor(r() * o.models.length)]!;
    const prompt = uni(model.prompt);
    const completion = o.collinear ? Math.max(1, Math.round(prompt / o.collinear)) : uni(model.completion);
    // Batching: this request's token rates vary by a factor of up to 2 either way.
    const speed = 0.5 + 1.5 * r();
    const prefillMs = prompt * model.prefillSPerToken * 1000 * speed;
    const decodeMs = completion * model.decodeSPerToken * 1000 * speed;
    const f = o.changeAtS !== undefined && t >= o.changeAtS * 1000 ? (o.changeFactor ?? 1) : 1;
    const fb = t + prefillMs;
    const q: SimRequest = {
      id: `r${i++}`, model, start: t, firstByte: fb, end: fb + decodeMs,
      stream: r() < o.streamedShare, prompt, completion,
      prefillW: prefillMs > 0 ? (f * model.promptJ * prompt) / prefillMs * 1000 : 0,
      decodeW: decodeMs > 0 ? (f * model.completionJ * completion) / decodeMs * 1000 : 0,
      mid: fb + decodeMs, midTokens: completion, decodeW2: 0,
      trueJ: 0,
    };
    if (o.unevenDecode && completion > 1) {
      // Its first midTokens at `speed`, the rest at speed × s2 (0.25-4): the same J per token, another power.
      q.midTokens = Math.max(1, Math.floor(completion * (0.2 + 0.6 * r())));
      const s2 = 0.25 * 16 ** r();
      const ms1 = q.midTokens * model.decodeSPerToken * 1000 * speed;
      const ms2 = (completion - q.midTokens) * model.decodeSPerToken * 1000 * speed * s2;
      q.mid = fb + ms1;
      q.end = q.mid + ms2;
      q.decodeW = (f * model.completionJ * q.midTokens) / ms1 * 1000;
      q.decodeW2 = (f * model.completionJ * (completion - q.midTokens)) / ms2 * 1000;
    }
    reqs.push(q);
  }
  // True energies: sweep the phase boundaries; in each stretch the static power goes by draw.
  const cuts = [...new Set(reqs.flatMap((q) => [q.start, q.firstByte, q.mid, q.end]))].sort((a, b) => a - b);
  const drawAt = (q: SimRequest, a: number) =>
    a >= q.start && a < q.firstByte ? q.prefillW : a >= q.firstByte && a < q.mid ? q.decodeW : a >= q.mid && a < q.end ? q.decodeW2 : 0;
  let active: SimRequest[] = [];
  let next = 0;
  const byStart = [...reqs].sort((a, b) => a.start - b.start);
  for (let k = 0; k + 1 < cuts.length; k++) {
    const a = cuts[k]!;
    const b = cuts[k + 1]!;
    while (next < byStart.length && byStart[next]!.start <= a) active.push(byStart[next++]!);
    active = active.filter((q) => q.end > a);
    const dyn = active.reduce((s, q) => s + drawAt(q, a), 0);
    for (const q of active) {
      const d = drawAt(q, a);
      q.trueJ += ((d + (dyn > 0 ? (o.staticW * d) / dyn : 0)) * (b - a)) / 1000;
    }
  }
  return reqs;
}

/** GPU cumulative energy at t (ms), J. */
function cumulativeJ(reqs: readonly SimRequest[], staticW: number, t: number): number {
  let j = (staticW * t) / 1000;
  for (const q of reqs) {
    if (q.start >= t) continue;
    j += (q.prefillW * Math.max(0, Math.min(t, q.firstByte) - q.start)) / 1000;
    j += (q.decodeW * Math.max(0, Math.min(t, q.mid) - q.firstByte)) / 1000;
    j += (q.decodeW2 * Math.max(0, Math.min(t, q.end) - q.mid)) / 1000;
  }
  return j;
}

export interface SimRun {
  ledger: Ledger;
  timeline: EnergyTimeline;
  records: Map<string, AttributedRequest>;
}

/** Content chunks (one per token) a request had streamed by t. */
function chunksBy(q: SimRequest, t: number): number {
  if (t <= q.mid) return Math.floor((q.midTokens * (t - q.firstByte)) / (q.mid - q.firstByte));
  return q.midTokens + Math.floor(((q.completion - q.midTokens) * (t - q.mid)) / (q.end - q.mid));
}

/**
 * Drives a ledger with the requests on a fake clock, readings every 100 ms, as the proxy and the sampler
 * would; with `marks`, a streamed request also sends the proxy's decode marks (250 ms grid) and its chunks.
 */
export function runLedger(reqs: readonly SimRequest[], staticW: number, policy: AttributionPolicy, extra: Partial<LedgerOptions> = {}, marks = false): SimRun {
  const clock = createFakeClock(0);
  const timeline = createEnergyTimeline({ devices: [{ id: 'gpu0', kind: 'gpu', method: 'counter', sensor: 'simulated', name: 'sim' }] });
  const ledger = createLedger({ timeline, clock, logger: silentLogger, pools: { default: ['gpu0'] }, policy, idle: 'unattributed', ...extra });
  const records = new Map<string, AttributedRequest>();
  ledger.onFinal((rec) => records.set(rec.id, rec));
  type Ev = { t: number; k: number; q?: SimRequest; chunks?: number };
  const evs: Ev[] = [];
  const endT = Math.max(...reqs.map((q) => q.end), 0) + 1_000;
  for (let t = 0; t <= endT; t += 100) evs.push({ t, k: 0 });
  for (const q of reqs) {
    evs.push({ t: q.start, k: 1, q }, { t: q.firstByte, k: 2, q }, { t: q.end, k: 3, q });
    if (marks && q.stream) {
      for (let g = (Math.floor(q.firstByte / 250) + 1) * 250; g < q.end; g += 250) evs.push({ t: g, k: 2.5, q, chunks: chunksBy(q, g) });
    }
  }
  // Sorted by time; at equal times a request's start, first byte and end in that order, readings first.
  evs.sort((a, b) => a.t - b.t || a.k - b.k);
  const handles = new Map<SimRequest, WindowHandle>();
  for (const ev of evs) {
    if (ev.t > clock.nowMs()) clock.advance(ev.t - clock.nowMs());
    const q = ev.q;
    if (ev.k === 0) {
      timeline.append({ device: 'gpu0', tMs: ev.t, energyJ: cumulativeJ(reqs, staticW, ev.t) });
      ledger.advance();
    } else if (ev.k === 1) {
      const h = ledger.open({ id: q!.id, pool: 'default', startMs: q!.start, model: q!.model.name });
      h.update({ stream: q!.stream });
      handles.set(q!, h);
    } else if (ev.k === 2) {
      // A non-streamed response sends its first byte with the rest, at its end.
      if (q!.stream) handles.get(q!)!.firstByte(q!.firstByte);
    } else if (ev.k === 2.5) {
      handles.get(q!)!.progress!(ev.t, ev.chunks!);
    } else {
      const h = handles.get(q!)!;
      if (!q!.stream) h.firstByte(q!.end);
      h.update(marks && q!.stream ? { promptTokens: q!.prompt, completionTokens: q!.completion, chunks: q!.completion } : { promptTokens: q!.prompt, completionTokens: q!.completion });
      h.end({ endMs: q!.end, outcome: 'ok', status: 200 });
    }
  }
  ledger.advance();
  ledger.flush();
  return { ledger, timeline, records };
}

/** Σ |attributed − true| / Σ true over the requests that started at or after `fromMs` (and pass `keep`). */
export function relativeError(reqs: readonly SimRequest[], run: SimRun, fromMs: number, keep: (rec: AttributedRequest) => boolean = () => true): { err: number; n: number } {
  let diff = 0;
  let truth = 0;
  let n = 0;
  for (const q of reqs) {
    if (q.start < fromMs) continue;
    const rec = run.records.get(q.id);
    if (!rec || !keep(rec)) continue;
    diff += Math.abs(rec.energyJ.total - q.trueJ);
    truth += q.trueJ;
    n++;
  }
  return { err: diff / truth, n };
}
