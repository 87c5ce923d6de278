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
 * `os.cpus()` (no steal or guest there). The first reading gives the load since boot, as
 * systeminformation's did.
 *
 * Every reading is new: the load of exactly the time since the previous one. systeminformation repeated
 * a reading taken less than 200 ms after the last new one; at a 100 ms interval that shifts half of the
 * readings by one interval, and power then lags the work by 100–200 ms. The learned policy's fit on the
 * real engine (test/quiet/engine-energy.test.ts, warm-up traffic, 2 vCPUs, 100 ms) reached R² 0.55 with
 * that rule and 0.84 without it, and its J per prompt token doubled (0.013 to 0.027: prefill bursts are
 * short, and the lag moved their energy onto the decode that follows). The counters advance in 10 ms
 * ticks (USER_HZ 100), so a 100 ms window on 2 CPUs holds 20 of them and its load moves in 5 % steps:
 * coarse, but every tick is counted once, so energy over any span is exact to a tick. When no tick has
 * passed, the previous value is repeated.
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

export interface CpuLoadOptions {
  /** Default /proc/stat. */
  procStat?: string;
  /** Reads the file (tests); default readFileSync. */
  readText?: (path: string) => string;
}

/** Returns a reader of the load in [0, 1] since its previous reading (the previous value when no tick has passed). */
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
  let prev: CpuTimes = { busy: 0, total: 0 };
  let last = 0;
  return async () => {
    const now = times();
    const dTotal = now.total - prev.total;
    if (dTotal > 0) last = Math.min(1, Math.max(0, (now.busy - prev.busy) / dTotal));
    prev = now;
    return last;
  };
}
