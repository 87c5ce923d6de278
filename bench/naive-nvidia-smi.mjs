#!/usr/bin/env node
/**
 * The naive way, kept as the reference for bench/agent-cost.mjs: the same sampling as the agent
 * (GPU power at 10 Hz, RAPL at 4 Hz, energy integrated) done by spawning
 * `nvidia-smi --query-gpu=… --format=csv,noheader,nounits` once per sample, as many scripts and
 * exporters do. inferwatt instead keeps one long-lived `nvidia-smi … -lms N` child (issue 2).
 *
 *   node bench/naive-nvidia-smi.mjs --nvidia-smi PATH [--interval-ms 100] [--powercap-root DIR]
 *        [--cpu-interval-ms 250] [--duration-s N]
 *
 * It never overlaps itself: when the previous nvidia-smi has not answered by the next tick, that tick
 * is skipped and counted (overlapping spawns would pile up on a slow host). Energy per GPU is the
 * trapezoid integral of power.draw.instant (power.draw when absent) over the answer times.
 * On SIGTERM/SIGINT (or after --duration-s) it prints one JSON line with its counts and energies on
 * stdout and exits. Plain Node, no dependency, nothing from src/.
 */
import { execFile } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return def;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
}
const SMI = opt('nvidia-smi', 'nvidia-smi');
const INTERVAL_MS = Number(opt('interval-ms', '100'));
const CPU_INTERVAL_MS = Number(opt('cpu-interval-ms', '250'));
const POWERCAP_ROOT = opt('powercap-root', undefined);
const DURATION_S = opt('duration-s', undefined);
// The same fields the agent asks for (seen in its child's command line): power.draw.instant is the
// un-averaged reading on drivers that have it (nvidia-smi --help-query-gpu).
const QUERY = ['--query-gpu=index,power.draw.instant,power.draw', '--format=csv,noheader,nounits'];

const t0 = performance.now();
const stats = {
  gpuTicks: 0, gpuSamples: 0, gpuSkipped: 0, gpuFailures: 0, gpuParseErrors: 0,
  cpuSamples: 0, cpuFailures: 0,
  gpuEnergyJ: {}, cpuEnergyJ: {}, firstGpuSampleS: undefined, lastGpuSampleS: undefined,
};
const lastGpu = new Map(); // index → { tMs, powerW }

// ---- GPU: one nvidia-smi per sample ----
let inFlight = false;
function gpuTick() {
  stats.gpuTicks++;
  if (inFlight) { stats.gpuSkipped++; return; }
  inFlight = true;
  execFile(SMI, QUERY, { timeout: 5000 }, (err, stdout) => {
    inFlight = false;
    const tMs = performance.now();
    if (err) { stats.gpuFailures++; return; }
    let rows = 0;
    for (const line of stdout.split('\n')) {
      if (!line.trim()) continue;
      const [idx, instant, avg] = line.split(',').map((s) => s.trim());
      const p = Number.parseFloat(instant);
      const powerW = Number.isFinite(p) ? p : Number.parseFloat(avg); // `[N/A]` parses to NaN: absent, not zero
      if (!/^\d+$/.test(idx ?? '') || !Number.isFinite(powerW)) { stats.gpuParseErrors++; continue; }
      const prev = lastGpu.get(idx);
      if (prev) stats.gpuEnergyJ[idx] = (stats.gpuEnergyJ[idx] ?? 0) + ((prev.powerW + powerW) / 2) * ((tMs - prev.tMs) / 1000);
      lastGpu.set(idx, { tMs, powerW });
      rows++;
    }
    if (rows > 0) {
      stats.gpuSamples++;
      const s = (tMs - t0) / 1000;
      stats.firstGpuSampleS ??= s;
      stats.lastGpuSampleS = s;
    }
  });
}

// ---- CPU: RAPL package zones, read directly (counters, wrap at max_energy_range_uj) ----
const zones = [];
if (POWERCAP_ROOT !== undefined) {
  for (const dir of readdirSync(POWERCAP_ROOT)) {
    // Top-level intel-rapl:N zones only (package-N); subzones (core, uncore, dram) are inside them or apart.
    if (!/^intel-rapl:\d+$/.test(dir)) continue;
    const z = join(POWERCAP_ROOT, dir);
    let max;
    try { max = Number(readFileSync(join(z, 'max_energy_range_uj'), 'utf8')); } catch { max = undefined; }
    zones.push({ dir, name: readFileSync(join(z, 'name'), 'utf8').trim(), file: join(z, 'energy_uj'), maxUj: max, lastUj: undefined });
  }
}
function cpuTick() {
  for (const z of zones) {
    let uj;
    try { uj = Number(readFileSync(z.file, 'utf8')); } catch { stats.cpuFailures++; continue; }
    if (!Number.isFinite(uj)) { stats.cpuFailures++; continue; }
    if (z.lastUj !== undefined) {
      let d = uj - z.lastUj;
      if (d < 0 && z.maxUj !== undefined) d += z.maxUj;
      if (d >= 0) stats.cpuEnergyJ[z.name] = (stats.cpuEnergyJ[z.name] ?? 0) + d / 1e6;
    }
    z.lastUj = uj;
  }
  stats.cpuSamples++;
}

// Fixed cadence on the monotonic clock (no drift from the callbacks' own time).
function every(periodMs, fn) {
  let n = 0;
  let timer;
  const next = () => {
    n++;
    timer = setTimeout(() => { fn(); next(); }, Math.max(0, t0 + n * periodMs - performance.now()));
  };
  next();
  return () => clearTimeout(timer);
}
const stops = [every(INTERVAL_MS, gpuTick)];
if (zones.length > 0) stops.push(every(CPU_INTERVAL_MS, cpuTick));

let done = false;
function finish() {
  if (done) return;
  done = true;
  for (const s of stops) s();
  process.stdout.write(`${JSON.stringify({ ...stats, elapsedS: (performance.now() - t0) / 1000, intervalMs: INTERVAL_MS, cpuIntervalMs: CPU_INTERVAL_MS })}\n`);
  // Let a last nvidia-smi finish (or time out) on its own; do not wait for it.
  setTimeout(() => process.exit(0), 50);
}
process.on('SIGTERM', finish);
process.on('SIGINT', finish);
if (DURATION_S !== undefined) setTimeout(finish, Number(DURATION_S) * 1000);
