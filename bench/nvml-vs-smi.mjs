#!/usr/bin/env node
/**
 * nvml vs nvidia-smi: what a sample costs, and what the energy counter gains on short requests.
 *
 *   node bench/nvml-vs-smi.mjs [--seconds 15] [--gpus 8] [--hz 10] [--skip-cost] [--skip-accuracy]
 *
 * Part 1, cost: 8 GPUs read at 10 Hz for --seconds by (a) the nvml sensor in its default async mode,
 * (b) the nvml sensor in sync mode, both against the stand-in libnvidia-ml.so.1 (test/native/fake-nvml.c),
 * and (c) the nvidia-smi sensor reading test/helpers/fake-nvidia-smi.mjs (FAKE_NVSMI_GPUS=8, H100 capture).
 * Reported: CPU % of one core of this process (user+system, minus an idle baseline with the same timer),
 * and for nvidia-smi the child's CPU too. The fake nvidia-smi is a Node script, so its child cost says
 * little about the real binary; the parent-side cost (spawn plumbing, line parsing) is comparable.
 *
 * Part 2, accuracy (a model, no hardware): a GPU whose power jumps every 50 ms to a uniform random level
 * in [100, 700] W. Sensors sample every 100 ms at a random phase. Counter: cumulative energy as the
 * hardware counter reports it, refreshed every U ms (U = 20 and 100; NVIDIA documents no period).
 * Integrated: power gauge samples integrated by trapezoids, the gauge being either instantaneous or a
 * 1 s moving average (what nvmlDeviceGetPowerUsage / power.draw report on Ampere and newer, per
 * nvidia-smi --help-query-gpu). Request energy = cumulative energy at end − at start, linearly
 * interpolated between samples (as src/energy's timeline does). Error against the exact integral,
 * over 2000 random requests per duration.
 *
 * The TypeScript sources are bundled on the fly with esbuild into .tmp/bench-nvml/ (no build step).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const flag = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : def;
};
const SECONDS = flag('seconds', 15);
const GPUS = flag('gpus', 8);
const HZ = flag('hz', 10);
const WORK = join(ROOT, '.tmp', 'bench-nvml');
mkdirSync(WORK, { recursive: true });

async function loadSources() {
  const outdir = join(WORK, 'build');
  await build({
    entryPoints: {
      nvml: join(ROOT, 'src/sensors/nvml.ts'),
      smi: join(ROOT, 'src/sensors/nvidia-smi.ts'),
      clock: join(ROOT, 'src/core/clock.ts'),
      logger: join(ROOT, 'src/core/logger.ts'),
    },
    bundle: true, platform: 'node', format: 'esm', outdir, packages: 'external', logLevel: 'warning',
  });
  const imp = (n) => import(pathToFileURL(join(outdir, `${n}.js`)).href);
  return { nvml: await imp('nvml'), smi: await imp('smi'), clock: await imp('clock'), logger: await imp('logger') };
}

function buildFakeNvml() {
  const lib = join(WORK, 'lib', 'libnvidia-ml.so.1');
  mkdirSync(dirname(lib), { recursive: true });
  execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-pthread', '-o', `${lib}.tmp`, join(ROOT, 'test/native/fake-nvml.c')]);
  renameSync(`${lib}.tmp`, lib);
  return lib;
}

const cpuMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };
function childCpuMs(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const tck = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
    return ((Number(f[11]) + Number(f[12])) * 1000) / tck; // utime, stime
  } catch { return undefined; }
}

/** Runs `tick` at HZ for SECONDS; returns CPU ms of this process over that time and readings seen. */
async function runLoop(tick) {
  const periodMs = 1000 / HZ;
  let readings = 0;
  const c0 = cpuMs();
  const t0 = performance.now();
  for (let next = t0; performance.now() - t0 < SECONDS * 1000; ) {
    readings += await tick();
    next += periodMs;
    const wait = next - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  }
  const wallMs = performance.now() - t0;
  return { cpuMs: cpuMs() - c0, wallMs, readings };
}

async function costPart(src) {
  const lib = buildFakeNvml();
  const cfg = join(WORK, 'fake-nvml.conf');
  const lines = [`count=${GPUS}`];
  for (let i = 0; i < GPUS; i++) lines.push(`gpu${i}.energy_per_ms=0.35`, `gpu${i}.power_mw=350000`, `gpu${i}.limit_mw=700000`);
  writeFileSync(cfg, lines.join('\n') + '\n');
  process.env.FAKE_NVML_CONFIG = cfg;
  const clock = src.clock.createSystemClock();
  const logger = src.logger.createLogger({ level: 'warn' });
  const pct = (ms, wall) => ((100 * ms) / wall).toFixed(3);

  const idle = await runLoop(async () => 0);
  const perRead = [];
  const rows = [['idle timer (baseline)', pct(idle.cpuMs, idle.wallMs), '', '', '']];

  for (const callMode of ['async', 'sync']) {
    const res = await src.nvml.probeNvml({ libPath: lib, clock, logger, callMode });
    if (!res.ok) throw new Error(res.reason);
    const r = await runLoop(async () => (await res.sensor.read()).length);
    // The timer runs are near the noise floor; a tight loop gives the CPU per read() precisely.
    const N = 3000;
    const c0 = cpuMs();
    for (let i = 0; i < N; i++) await res.sensor.read();
    perRead.push(`nvml (${callMode}): ${((1000 * (cpuMs() - c0)) / N).toFixed(1)} µs CPU per read() of ${GPUS} GPUs`
      + ` → ${((100 * HZ * (cpuMs() - c0)) / N / 1000).toFixed(3)} % of a core at ${HZ} Hz`);
    await res.sensor.close();
    rows.push([`nvml (${callMode})`, pct(r.cpuMs, r.wallMs), pct(r.cpuMs - idle.cpuMs * (r.wallMs / idle.wallMs), r.wallMs), '', r.readings]);
  }

  process.env.FAKE_NVSMI_GPUS = String(GPUS);
  process.env.FAKE_NVSMI_CAPTURE = join(ROOT, 'test/fixtures/nvidia-smi/extracted/linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');
  const smiPath = join(ROOT, 'test/helpers/fake-nvidia-smi.mjs');
  const res = await src.smi.probeNvidiaSmi({ path: smiPath, intervalMs: 1000 / HZ, clock, logger });
  if (!res.ok) throw new Error(res.reason);
  // The loop child: the newest child of this process running the fake.
  const findChild = () => {
    try {
      const out = execFileSync('pgrep', ['-P', String(process.pid), '-n']).toString().trim();
      return out ? Number(out) : undefined;
    } catch { return undefined; }
  };
  await new Promise((r) => setTimeout(r, 1000)); // let the loop child start and settle
  const child = findChild();
  const ch0 = child ? childCpuMs(child) : undefined;
  const r = await runLoop(async () => (await res.sensor.read()).length);
  const ch1 = child ? childCpuMs(child) : undefined;
  await res.sensor.close();
  const childPct = ch0 !== undefined && ch1 !== undefined ? pct(ch1 - ch0, r.wallMs) : 'n/a';
  rows.push(['nvidia-smi loop (fake, Node child)', pct(r.cpuMs, r.wallMs), pct(r.cpuMs - idle.cpuMs * (r.wallMs / idle.wallMs), r.wallMs), childPct, r.readings]);

  console.log(`\n## Cost: ${GPUS} GPUs at ${HZ} Hz for ${SECONDS} s (CPU % of one core)`);
  console.log('| reader | this process | minus idle baseline | child process | readings |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) console.log(`| ${row.join(' | ')} |`);
  for (const line of perRead) console.log(`\n${line}`);
}

// ---- Part 2: the accuracy model ----
function rng(seed) { // mulberry32: deterministic runs
  let a = seed >>> 0;
  return () => { a = (a + 0x6d2b79f5) >>> 0; let t = a; t = Math.imul(t ^ (t >>> 15), t | 1); t ^= t + Math.imul(t ^ (t >>> 7), t | 61); return ((t ^ (t >>> 14)) >>> 0) / 4294967296; };
}

function accuracyPart() {
  const rand = rng(42);
  const STEP_MS = 50;
  const TOTAL_MS = 600_000;
  const levels = Float64Array.from({ length: TOTAL_MS / STEP_MS + 1 }, () => 100 + 600 * rand());
  // Exact cumulative energy (J) at t ms: piecewise-constant power.
  const cum = new Float64Array(levels.length + 1);
  for (let i = 0; i < levels.length; i++) cum[i + 1] = cum[i] + (levels[i] * STEP_MS) / 1000;
  const exactE = (t) => { const i = Math.floor(t / STEP_MS); return cum[i] + (levels[i] * (t - i * STEP_MS)) / 1000; };
  const instP = (t) => levels[Math.floor(t / STEP_MS)];
  const avgP = (t) => (t < 1000 ? exactE(t) / Math.max(t, 1) * 1000 : (exactE(t) - exactE(t - 1000))); // 1 s moving average, W

  const SAMPLE_MS = 100;
  const phase = rand() * SAMPLE_MS;
  const times = [];
  for (let t = 1000 + phase; t < TOTAL_MS - 1000; t += SAMPLE_MS) times.push(t);

  const series = (valueAt) => ({ t: times, e: times.map(valueAt) });
  const counterSeries = (U) => series((t) => exactE(Math.floor(t / U) * U));
  const integratedSeries = (p) => {
    const e = [0];
    for (let i = 1; i < times.length; i++) e.push(e[i - 1] + ((p(times[i - 1]) + p(times[i])) / 2) * (times[i] - times[i - 1]) / 1000);
    return { t: times, e };
  };
  const at = (s, t) => { // linear interpolation, as the timeline does
    let lo = 0, hi = s.t.length - 1;
    while (hi - lo > 1) { const mid = (lo + hi) >> 1; if (s.t[mid] <= t) lo = mid; else hi = mid; }
    const f = (t - s.t[lo]) / (s.t[hi] - s.t[lo]);
    return s.e[lo] + f * (s.e[hi] - s.e[lo]);
  };
  const methods = [
    ['counter, updates every 20 ms', counterSeries(20)],
    ['counter, updates every 100 ms', counterSeries(100)],
    ['integrated, instantaneous power', integratedSeries(instP)],
    ['integrated, 1 s averaged power', integratedSeries(avgP)],
  ];
  console.log('\n## Accuracy: power changes every 50 ms (100–700 W), samples every 100 ms, 2000 requests per duration');
  console.log('| method | 0.1 s: mean abs err | p95 | 0.5 s: mean | p95 | 2 s: mean | p95 |');
  console.log('|---|---|---|---|---|---|---|');
  const durations = [100, 500, 2000];
  const starts = durations.map((d) => Array.from({ length: 2000 }, () => 2000 + rand() * (TOTAL_MS - 6000 - d)));
  for (const [name, s] of methods) {
    const cells = [];
    durations.forEach((d, k) => {
      const errs = starts[k].map((t0) => {
        const truth = exactE(t0 + d) - exactE(t0);
        return Math.abs((at(s, t0 + d) - at(s, t0)) - truth) / truth;
      }).sort((a, b) => a - b);
      const mean = errs.reduce((a, b) => a + b, 0) / errs.length;
      cells.push(`${(100 * mean).toFixed(1)} %`, `${(100 * errs[Math.floor(errs.length * 0.95)]).toFixed(1)} %`);
    });
    console.log(`| ${name} | ${cells.join(' | ')} |`);
  }
}

const src = args.includes('--skip-cost') ? undefined : await loadSources();
if (src) await costPart(src);
if (!args.includes('--skip-accuracy')) accuracyPart();
console.log(`\nnode ${process.version}, ${new Date().toISOString()}`);
