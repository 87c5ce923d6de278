/**
 * The host's CPU load for the estimate sensor: the busy share of the CPU time counted by the kernel
 * since the previous reading, from the aggregate `cpu` line of /proc/stat (proc(5)):
 *
 *   cpu  user nice system idle iowait irq softirq steal guest guest_nice      (USER_HZ ticks)
 *   load = Δ(user + nice + system + irq + steal + guest) / Δ(the same + idle)
 *
 * the fields and formula of systeminformation's currentLoad(), which this replaces: on Linux that
 * function runs `execSync('cat /proc/stat 2>/dev/null | grep cpu')` on every call, a shell and two
 * processes spawned synchronously, which froze the event loop (and every request through the proxy)
 * four times a second at the default 250 ms interval (bench/whole-agent.mjs, docs/bench.md: p99 with one
 * connection 8.1 ms before, 4.0 ms after; CPU per request 4 % lower). Reading the file is one synchronous
 * read of a procfs file (no disk), as the RAPL sensor does for the same reason. iowait counts as idle,
 * as there.
 *
 * Where /proc/stat cannot be read when the reader is created (macOS, Windows), the same sums come from
 * `os.cpus()` (no steal or guest there). The first reading gives the load since boot, and a reading less
 * than MIN_WINDOW_MS after the last new one repeats it, both as systeminformation's did: the counters
 * advance in 10 ms ticks (USER_HZ 100), so a 100 ms window on 2 CPUs holds 20 of them and its load moves
 * in 5 % steps; at a 100 ms sampling interval, the calibrate and learned tests on the real engine
 * (test/quiet/engine-energy.test.ts) missed their 15 % bound with a new value every 100 ms (twice: 16.5,
 * 16.9 %) and met it with one every 200 ms (10 %), as with systeminformation.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';

export interface CpuTimes {
  /** Busy ticks: user + nice + system + irq + steal + guest. */
  busy: number;
  /** busy + idle. */
  total: number;
}

/** The aggregate `cpu` line of a /proc/stat text, or undefined when there is none. */
export function parseProcStat(text: string): CpuTimes | undefined {
  if (!text.startsWith('cpu ')) return undefined;
  const eol = text.indexOf('\n');
  const f = text.slice(4, eol < 0 ? undefined : eol).trim().split(/\s+/).map(Number);
  // user nice system idle [iowait irq softirq steal guest guest_nice]: the first four exist on every kernel
  if (f.length < 4 || f.some((x) => !Number.isFinite(x))) return undefined;
  const [user = 0, nice = 0, system = 0, idle = 0, , irq = 0, , steal = 0, guest = 0] = f;
  const busy = user + nice + system + irq + steal + guest;
  return { busy, total: busy + idle };
}

function osCpuTimes(): CpuTimes {
  let busy = 0;
  let idle = 0;
  for (const c of cpus()) {
    busy += c.times.user + c.times.nice + c.times.sys + c.times.irq;
    idle += c.times.idle;
  }
  return { busy, total: busy + idle };
}

/** A reading this soon after the last new one repeats it (systeminformation's rule). */
export const MIN_WINDOW_MS = 200;

export interface CpuLoadOptions {
  /** Default /proc/stat. */
  procStat?: string;
  /** Reads the file (tests); default readFileSync. */
  readText?: (path: string) => string;
  /** Monotonic ms (the sensor's clock); default performance.now. */
  nowMs?: () => number;
}

/**
 * Returns a reader of the load in [0, 1] since its previous new reading (at least MIN_WINDOW_MS ago;
 * sooner, the previous value again). When no tick has passed, it repeats the previous value too.
 */
export function createCpuLoadReader(opts: CpuLoadOptions = {}): () => Promise<number> {
  const path = opts.procStat ?? '/proc/stat';
  const readText = opts.readText ?? ((p: string) => readFileSync(p, 'latin1'));
  const fromProc = (): CpuTimes => {
    const t = parseProcStat(readText(path));
    if (!t) throw new Error(`${path}: no aggregate "cpu" line`);
    return t;
  };
  // Chosen once: the two sources count in different units (ticks, ms), so they never mix in one delta.
  let times: () => CpuTimes;
  try {
    fromProc();
    times = fromProc;
  } catch {
    times = osCpuTimes;
  }
  const nowMs = opts.nowMs ?? (() => performance.now());
  let prev: CpuTimes = { busy: 0, total: 0 };
  let last = 0;
  let lastAtMs = -Infinity;
  return async () => {
    const t = nowMs();
    if (t - lastAtMs < MIN_WINDOW_MS) return last;
    lastAtMs = t;
    const now = times();
    const dTotal = now.total - prev.total;
    if (dTotal > 0) last = Math.min(1, Math.max(0, (now.busy - prev.busy) / dTotal));
    prev = now;
    return last;
  };
}
