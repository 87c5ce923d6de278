/**
 * Fixed, generated request schedules that exercise every path of the ledger, for the golden digests
 * (ledger-golden.test.ts): overlapping and nested windows over several pools and device kinds, sensors
 * that lag past the bound, window events older than what was processed, a device lost for good and one
 * that comes back, windows still open at flush, the `tokens` hold bounds, duplicate request ids, and
 * decode marks (as the proxy sends them on a 250 ms grid) and queued prefills with the hold bounds and a
 * lagging sensor.
 *
 * Each scenario is a list of calls at given times on a fake clock, driven in time order: readings
 * appended to the timeline, windows opened, given a first byte, updated and ended, and `advance()` as
 * the sampler's onSample would call it. A digest of every record and of the books is then compared bit
 * for bit (numbers as JSON writes them, which round-trips a double exactly).
 */
import { createHash } from 'node:crypto';
import { createLedger, type Ledger, type LedgerOptions } from '../../src/attribution/ledger.js';
import type { AttributedRequest, AttributionPolicy, IdlePolicy, WindowHandle } from '../../src/attribution/types.js';
import { createFakeClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { mulberry32 } from '../../src/core/prng.js';
import { createEnergyTimeline } from '../../src/energy/timeline.js';
import type { DeviceInfo, DeviceKind } from '../../src/sensors/types.js';

export const SCENARIOS = ['overlap', 'lag', 'late', 'stale', 'flush', 'bounds', 'duplicate-ids', 'marks'] as const;
export type Scenario = (typeof SCENARIOS)[number];

interface GenWindow {
  id: string;
  pool: string;
  start: number;
  firstByte: number | undefined;
  end: number;
  model: string | undefined;
  tenant: string | undefined;
  prompt: number | undefined;
  completion: number | undefined;
  status: number | undefined;
  outcome: 'ok' | 'error' | 'aborted';
  /** Called this long after the event's time (a proxy late to report, or a clamped event). */
  openDelay: number;
  endDelay: number;
  /** Left open at the end: the flush ends it. */
  open: boolean;
  /** Content chunks streamed in all (`marks` only). */
  chunks: number | undefined;
}

type Call =
  | { at: number; order: number; k: 'reading'; device: string; t: number; energyJ: number }
  | { at: number; order: number; k: 'open'; w: GenWindow }
  | { at: number; order: number; k: 'first'; w: GenWindow }
  | { at: number; order: number; k: 'mark'; w: GenWindow; t: number; chunks: number }
  | { at: number; order: number; k: 'end'; w: GenWindow };

const SPAN_MS = 12_000;

interface Plan {
  devices: DeviceInfo[];
  pools: Record<string, string[]>;
  calls: Call[];
  endAt: number;
  options: Partial<LedgerOptions>;
  advanceEvery: number;
}

function plan(scenario: Scenario, seed: number): Plan {
  const r = mulberry32(seed);
  const rm = mulberry32(seed + 1);
  const kinds: DeviceKind[] = ['gpu', 'gpu', 'cpu', 'dram', 'gpu'];
  const devices = kinds.map((kind, i): DeviceInfo => ({ id: `${kind}${i}`, kind, method: 'counter', sensor: 'simulated', name: `d${i}` }));
  const pools: Record<string, string[]> = { a: [devices[0]!.id, devices[2]!.id, devices[3]!.id], b: [devices[1]!.id, devices[4]!.id] };
  const poolNames = Object.keys(pools);
  const calls: Call[] = [];
  let order = 0;

  // Readings: each device every 80-250 ms (sometimes a few ms apart), power 0-700 W, counters not at 0.
  for (const [i, d] of devices.entries()) {
    let t = r() * 200;
    let j = r() * 1e5;
    // lag: device 0 delivers nothing from 4 s to 7.5 s, then the whole stretch at once (later than the bound).
    // stale: device 1 is lost at 3 s for good; device 2 stops at 2 s and comes back at 9 s.
    const deliveredLate = (scenario === 'lag' || scenario === 'marks') && i === 0;
    const lostAt = scenario === 'stale' && i === 1 ? 3_000 : Number.POSITIVE_INFINITY;
    const gap = scenario === 'stale' && i === 2 ? [2_000, 9_000] : undefined;
    while (t < SPAN_MS + 1_000) {
      const dt = r() < 0.08 ? r() * 3 + 0.01 : 80 + r() * 170;
      const watts = r() < 0.1 ? 0 : r() * 700;
      t += dt;
      j += (watts * dt) / 1000;
      if (t >= lostAt) break;
      if (gap && t >= gap[0]! && t < gap[1]!) continue;
      const at = deliveredLate && t >= 4_000 && t < 7_500 ? 7_500 : t;
      calls.push({ at, order: order++, k: 'reading', device: d.id, t, energyJ: j });
    }
  }

  const count = scenario === 'overlap' ? 1_500 : 600;
  for (let i = 0; i < count; i++) {
    const start = r() * SPAN_MS;
    const u = r();
    const dur = u < 0.1 ? 0 : u < 0.5 ? r() * 250 : u < 0.9 ? r() * 2_500 : r() * 6_000;
    const end = Math.min(start + dur, SPAN_MS);
    const tk = r();
    const fb = r();
    const w: GenWindow = {
      id: scenario === 'duplicate-ids' && r() < 0.2 ? `w${Math.floor(r() * 40)}` : `w${i}`,
      pool: scenario === 'overlap' && r() < 0.02 ? 'nowhere' : poolNames[Math.floor(r() * poolNames.length)]!,
      start,
      firstByte: fb < 0.3 ? undefined : start + (end - start) * (fb < 0.5 ? 1 : r()),
      end,
      model: r() < 0.1 ? undefined : `m${Math.floor(r() * 4)}`,
      tenant: r() < 0.5 ? undefined : `t${Math.floor(r() * 3)}`,
      prompt: tk < 0.6 ? Math.floor(r() * 3_000) : tk < 0.7 ? 0 : undefined,
      completion: tk < 0.5 ? Math.floor(r() * 1_200) : tk < 0.75 ? 0 : undefined,
      status: r() < 0.1 ? undefined : r() < 0.9 ? 200 : 500,
      outcome: r() < 0.85 ? 'ok' : r() < 0.5 ? 'error' : 'aborted',
      openDelay: scenario === 'late' && r() < 0.3 ? r() * 900 : 0,
      endDelay: scenario === 'late' && r() < 0.3 ? r() * 900 : 0,
      open: scenario === 'flush' && r() < 0.15,
      chunks: undefined,
    };
    calls.push({ at: w.start + w.openDelay, order: order++, k: 'open', w });
    if (w.firstByte !== undefined) calls.push({ at: Math.max(w.firstByte, w.start + w.openDelay), order: order++, k: 'first', w });
    if (scenario === 'marks' && w.firstByte !== undefined) {
      // On the proxy's grid, chunks streamed unevenly (a power law of the time since the first byte), sent
      // a little after each boundary; from a generator of their own, so the other draws stay the same.
      const total = Math.floor(rm() * 400);
      const g = 0.3 + 2.5 * rm();
      const fb = w.firstByte;
      for (let t = (Math.floor(fb / 250) + 1) * 250; t < w.end; t += 250) {
        calls.push({ at: t + rm() * 30, order: order++, k: 'mark', w, t, chunks: Math.floor(total * ((t - fb) / (w.end - fb)) ** g) });
      }
      w.chunks = total;
    }
    if (!w.open) calls.push({ at: Math.max(w.end + w.endDelay, w.start + w.openDelay), order: order++, k: 'end', w });
  }
  calls.sort((a, b) => a.at - b.at || a.order - b.order);

  const options: Partial<LedgerOptions> = {
    lagBoundMs: 2_000, staleDeviceMs: 5_000, amortizeWindowMs: 1_500, promptTokenWeight: 0.3,
    // `learned`: two models with fixed costs, two that fall back to `tokens`; the learner runs all the same.
    learn: { priors: [{ model: 'm0', promptJ: 0.05, completionJ: 0.8 }, { model: 'm1', promptJ: 0.4, completionJ: 2.2 }], minSamples: Number.POSITIVE_INFINITY },
  };
  if (scenario === 'bounds' || scenario === 'marks') Object.assign(options, { maxHeldSegments: 40, maxHoldMs: 700 });
  // marks: prefills queued as well (a window waits for the pool's latest first byte before its own).
  if (scenario === 'marks') Object.assign(options, { learn: { ...options.learn, queuedPrefill: true } });
  // flush: stop in the middle of the traffic, amortization windows and held segments still open.
  const endAt = scenario === 'flush' ? SPAN_MS * 0.7 : SPAN_MS + 2_000;
  return { devices, pools, calls, endAt, options, advanceEvery: scenario === 'overlap' ? 7 : 23 };
}

export interface GoldenRun {
  records: AttributedRequest[];
  ledger: Ledger;
}

/** `withoutMarks`: the same run with the decode marks left out (to show that they move the numbers). */
export function runGolden(scenario: Scenario, policy: AttributionPolicy, idle: IdlePolicy, seed = 20261204, withoutMarks = false): GoldenRun {
  const p = plan(scenario, seed);
  const clock = createFakeClock(0);
  const timeline = createEnergyTimeline({ devices: p.devices });
  const ledger = createLedger({ timeline, clock, logger: silentLogger, pools: p.pools, policy, idle, ...p.options });
  const records: AttributedRequest[] = [];
  ledger.onFinal((rec) => records.push(rec));
  const handles = new Map<GenWindow, WindowHandle>();
  let n = 0;
  for (const c of p.calls) {
    if (c.at > p.endAt) break;
    if (c.at > clock.nowMs()) clock.advance(c.at - clock.nowMs());
    switch (c.k) {
      case 'reading':
        timeline.append({ device: c.device, tMs: c.t, energyJ: c.energyJ });
        break;
      case 'open': {
        const w = c.w;
        const h = ledger.open({ id: w.id, pool: w.pool, startMs: w.start, ...(w.model ? { model: w.model } : {}), ...(w.tenant ? { tenant: w.tenant } : {}), api: 'openai.chat' });
        // Two in three stream (not drawn from the generator: the schedules of the first variants stay as they were).
        h.update({ stream: n % 3 !== 0 });
        handles.set(w, h);
        break;
      }
      case 'first':
        handles.get(c.w)!.firstByte(c.w.firstByte!);
        break;
      case 'mark':
        if (!withoutMarks) handles.get(c.w)!.progress!(c.t, c.chunks);
        break;
      case 'end': {
        const h = handles.get(c.w)!;
        h.update(c.w.chunks === undefined || withoutMarks ? { promptTokens: c.w.prompt, completionTokens: c.w.completion } : { promptTokens: c.w.prompt, completionTokens: c.w.completion, chunks: c.w.chunks });
        h.end({ endMs: c.w.end, outcome: c.w.outcome, ...(c.w.status !== undefined ? { status: c.w.status } : {}) });
        break;
      }
    }
    if (++n % p.advanceEvery === 0) ledger.advance();
  }
  if (p.endAt > clock.nowMs()) clock.advance(p.endAt - clock.nowMs());
  ledger.advance();
  ledger.flush();
  return { records, ledger };
}

/** A record as canonical JSON: keys sorted, so the digest depends on the values only. */
function canonical(v: unknown): string {
  if (v === null || typeof v !== 'object') return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  const o = v as Record<string, unknown>;
  return `{${Object.keys(o).sort().map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`).join(',')}}`;
}

/**
 * sha256 over every record (sorted by id, then start, then end: the order of delivery may change with
 * the code's structure, the records may not), the books and the counters.
 */
export function digest(run: GoldenRun): string {
  const h = createHash('sha256');
  const lines = run.records.map(canonical).sort();
  for (const l of lines) h.update(`${l}\n`);
  const t = run.ledger.totals();
  h.update(canonical({ ...t }));
  const costs = run.ledger.tokenCosts();
  if (costs !== undefined) h.update(canonical(costs));
  const s = run.ledger.stats();
  h.update(canonical({
    lateEvents: s.lateEvents, forcedSplits: s.forcedSplits, lagFinalised: s.lagFinalised,
    uncoveredPieces: s.uncoveredPieces, unknownPool: s.unknownPool, ignoredCalls: s.ignoredCalls,
    heldSegments: s.heldSegments, pendingWindows: s.pendingWindows,
  }));
  return h.digest('hex');
}
