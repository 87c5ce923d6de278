#!/usr/bin/env node
/**
 * The agent's own cost (issue 2, "Measure"): `inferwatt run` sampling 8 GPUs at 10 Hz through the
 * fake nvidia-smi and RAPL at 4 Hz, for 5 minutes: CPU % of one core and RSS of the agent process,
 * the CPU of its nvidia-smi child apart, and, side by side in the same run, the naive way
 * (bench/naive-nvidia-smi.mjs: one nvidia-smi spawned per sample) as a ratio naive/agent.
 *
 *   npm run build
 *   node bench/agent-cost.mjs [--duration-s 300] [--warmup-s 10] [--scrape-s 15] [--gpus 8]
 *        [--interval-ms 100] [--cpu-interval-ms 250] [--no-naive] [--with-nvml] [--with-baseline] [--out FILE]
 *
 * What runs, all as separate processes so that /proc accounts each apart:
 *   - the agent, the real CLI: node bin/inferwatt.js run --sensors nvidia-smi,rapl --nvidia-smi
 *     test/helpers/fake-nvidia-smi.mjs (FAKE_NVSMI_GPUS=8, H100 capture, power.draw.instant 625.68 W)
 *     --powercap-root <copy of the recorded tree> --interval-ms 100 --cpu-interval-ms 250 --proxy=false
 *     --metrics-listen 127.0.0.1:<free port> --log-level warn
 *   - a RAPL mover: this script with `--role rapl-mover`, advancing package-0 at 65 W and its core
 *     subzone at 40 W (wrapping at max_energy_range_uj), files replaced atomically every 50 ms
 *   - the naive reference, reading the same fake and the same tree
 *   - with --with-nvml: a second agent with --sensors nvml,rapl against the stand-in libnvidia-ml.so.1
 *     (test/native/fake-nvml.c built with gcc; 8 GPUs at 625.68 W through the energy counter)
 *   - with --with-baseline: a third agent with --sensors rapl only, the agent's fixed cost without GPUs
 * Every second: utime+stime and VmRSS of each from /proc/<pid>/stat and /proc/<pid>/status; child CPU =
 * cutime+cstime (children reaped) + utime+stime of live children. CPU % is over [warmup, end].
 * Every --scrape-s seconds /metrics is scraped as Prometheus would; GPU energy growth is checked against
 * gpus × 625.68 W. Raw JSON goes to bench/results/ (gitignored); a summary table to stdout.
 *
 * The fake nvidia-smi is a Node script: its CPU (the agent's child, and each naive spawn) is the fake's
 * cost, not the real tool's. Plain JS, nothing imported from src/ (the agent runs through bin/ + dist/).
 */
import { execFileSync, spawn } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, writeFileSync, cpSync, chmodSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return def;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
}
const has = (name) => args.includes(`--${name}`);

// The capture's power.draw.instant for the H100 (test/fixtures/nvidia-smi/extracted/…/load__query-gpu.csv).
const CAPTURE_POWER_W = 625.68;
const CAPTURE = join(ROOT, 'test/fixtures/nvidia-smi/extracted/linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');
const FAKE_SMI = join(ROOT, 'test/helpers/fake-nvidia-smi.mjs');
const RECORDED_POWERCAP = join(ROOT, 'test/fixtures/powercap/node_exporter-sys/class/powercap');
const PACKAGE_W = 65;
const CORE_W = 40;

// ---------------------------------------------------------------------------------------------------
/** Advances the tree's counters at fixed watts from the wall clock, so the rate is exact whatever the tick. */
async function raplMover(root) {
  const zones = [['intel-rapl:0', PACKAGE_W], ['intel-rapl:0:0', CORE_W]].map(([dir, w]) => {
    const file = join(root, dir, 'energy_uj');
    return { file, w, startUj: Number(readFileSync(file, 'utf8')), maxUj: Number(readFileSync(join(root, dir, 'max_energy_range_uj'), 'utf8')) };
  });
  const t0 = process.hrtime.bigint();
  const tick = () => {
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    for (const z of zones) {
      const uj = Math.floor(z.startUj + z.w * 1e6 * s) % z.maxUj;
      // A new file renamed over the old one: the agent never reads a half-written number.
      writeFileSync(`${z.file}.tmp`, `${uj}\n`);
      renameSync(`${z.file}.tmp`, z.file);
    }
  };
  setInterval(tick, 50);
  process.on('SIGTERM', () => process.exit(0));
}

// ---------------------------------------------------------------------------------------------------
const TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());

function procStat(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    // Fields from 3 (state): utime is field 14, stime 15, cutime 16, cstime 17 (proc(5)).
    return { utime: Number(f[11]), stime: Number(f[12]), cutime: Number(f[13]), cstime: Number(f[14]) };
  } catch { return undefined; }
}
function rssKb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch { return undefined; }
}
function childrenOf(pid) {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch { return []; }
}
function cmdline(pid) {
  try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' '); } catch { return ''; }
}

/** One reading of a process and its direct children, CPU in ticks. */
function probe(pid) {
  const st = procStat(pid);
  if (!st) return undefined;
  const kids = childrenOf(pid).map((k) => ({ pid: k, st: procStat(k), rssKb: rssKb(k), cmd: cmdline(k).slice(0, 160) })).filter((k) => k.st);
  return {
    selfTicks: st.utime + st.stime,
    childTicks: st.cutime + st.cstime + kids.reduce((a, k) => a + k.st.utime + k.st.stime, 0),
    rssKb: rssKb(pid),
    children: kids.map((k) => ({ pid: k.pid, ticks: k.st.utime + k.st.stime, rssKb: k.rssKb, cmd: k.cmd })),
  };
}

function freePort() {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => res(port)); });
  });
}

/** Parses the lines of a Prometheus text exposition we need: name{labels} value. */
function parseMetrics(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+)\{([^}]*)\} (\S+)/.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[2].matchAll(/(\w+)="([^"]*)"/g)].map((x) => [x[1], x[2]]));
    out.push({ name: m[1], labels, value: Number(m[3]) });
  }
  return out;
}
async function scrape(port) {
  const wallS = Date.now() / 1000;
  try {
    const r = await fetch(`http://127.0.0.1:${port}/metrics`);
    const ms = parseMetrics(await r.text());
    const gpuE = ms.filter((x) => x.name === 'inferwatt_device_energy_joules_total' && x.labels.kind === 'gpu');
    const cpuE = ms.filter((x) => x.name === 'inferwatt_device_energy_joules_total' && x.labels.kind === 'cpu');
    const last = Object.fromEntries(ms.filter((x) => x.name === 'inferwatt_sensor_last_sample_timestamp_seconds').map((x) => [x.labels.sensor, x.value]));
    const gpuP = ms.filter((x) => x.name === 'inferwatt_device_power_watts' && x.labels.kind === 'gpu').map((x) => x.value);
    return {
      wallS, status: r.status, gpus: gpuE.length,
      gpuEnergyJ: gpuE.reduce((a, x) => a + x.value, 0), cpuEnergyJ: cpuE.reduce((a, x) => a + x.value, 0),
      gpuPowerW: gpuP, lastSampleS: last,
      errors: ms.filter((x) => x.name === 'inferwatt_sensor_errors_total' && x.value > 0).map((x) => ({ ...x.labels, value: x.value })),
    };
  } catch (err) { return { wallS, error: String(err) }; }
}

function buildFakeNvml() {
  const src = join(ROOT, 'test/native/fake-nvml.c');
  const dir = join(ROOT, '.tmp', 'bench-agent-cost');
  mkdirSync(dir, { recursive: true });
  const lib = join(dir, 'libnvidia-ml.so.1');
  if (!existsSync(lib) || statSync(lib).mtimeMs < statSync(src).mtimeMs) {
    execFileSync('gcc', ['-shared', '-fPIC', '-O2', '-Wall', '-pthread', '-o', `${lib}.tmp`, src]);
    renameSync(`${lib}.tmp`, lib);
  }
  return lib;
}

const pct = (ticks, s) => (100 * ticks / TCK) / s;
const f = (x, d = 2) => (x === undefined || !Number.isFinite(x) ? 'n/a' : x.toFixed(d));

async function main() {
  const DURATION_S = Number(opt('duration-s', '300'));
  const WARMUP_S = Number(opt('warmup-s', String(Math.min(10, DURATION_S / 4))));
  const SCRAPE_S = Number(opt('scrape-s', '15'));
  const GPUS = Number(opt('gpus', '8'));
  const INTERVAL_MS = Number(opt('interval-ms', '100'));
  const CPU_INTERVAL_MS = Number(opt('cpu-interval-ms', '250'));
  const NAIVE = !has('no-naive');
  const NVML = has('with-nvml');
  const BASELINE = has('with-baseline');
  if (!existsSync(join(ROOT, 'dist', 'cli.js'))) {
    console.error('dist/cli.js is missing: run `npm run build` first (the bench runs the real CLI).');
    process.exit(2);
  }
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const resultsDir = join(ROOT, 'bench', 'results');
  mkdirSync(resultsDir, { recursive: true });
  const outFile = opt('out', join(resultsDir, `agent-cost-${stamp}.json`));

  // A writable copy of the recorded powercap tree (package-0 with a core subzone), moved by a separate process.
  const base = mkdtempSync(join(tmpdir(), 'inferwatt-bench-powercap-'));
  const powercap = join(base, 'powercap');
  cpSync(RECORDED_POWERCAP, powercap, { recursive: true });
  for (const d of readdirSync(powercap)) for (const file of readdirSync(join(powercap, d))) chmodSync(join(powercap, d, file), 0o644);

  const env = { ...process.env, FAKE_NVSMI_GPUS: String(GPUS), FAKE_NVSMI_CAPTURE: CAPTURE };
  delete env.FAKE_NVSMI_MODE;
  const procs = {};
  const logs = {};
  const start = (name, argv, extraEnv = {}) => {
    const log = join(resultsDir, `agent-cost-${stamp}.${name}.log`);
    logs[name] = log;
    const p = spawn(process.execPath, argv, { cwd: ROOT, env: { ...env, ...extraEnv }, stdio: ['ignore', 'pipe', 'pipe'] });
    const w = createWriteStream(log);
    p.stdout.pipe(w); p.stderr.pipe(w);
    p.stdoutText = '';
    p.stdout.on('data', (b) => { p.stdoutText += b; });
    p.exited = new Promise((r) => p.once('exit', (code, signal) => r({ code, signal })));
    procs[name] = p;
    return p;
  };

  const machine = {
    cpus: cpus().length, cpuModel: cpus()[0]?.model, node: process.version, kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim(),
    loadavgStart: loadavg(),
  };
  start('mover', [fileURLToPath(import.meta.url), '--role', 'rapl-mover', '--root', powercap]);

  const agentPort = await freePort();
  const agentArgs = (sensors, port, extra = []) => ['bin/inferwatt.js', 'run', '--sensors', sensors, ...extra,
    '--powercap-root', powercap, '--interval-ms', String(INTERVAL_MS), '--cpu-interval-ms', String(CPU_INTERVAL_MS),
    '--proxy=false', '--metrics-listen', `127.0.0.1:${port}`, '--log-level', 'warn'];
  const agentCmd = agentArgs('nvidia-smi,rapl', agentPort, ['--nvidia-smi', 'test/helpers/fake-nvidia-smi.mjs']);
  start('agent', agentCmd);
  const targets = { agent: { port: agentPort, command: ['node', ...agentCmd] } };
  if (NVML) {
    const lib = buildFakeNvml();
    const cfg = join(base, 'fake-nvml.conf');
    const lines = [`count=${GPUS}`, 'driver=590.48.01'];
    for (let i = 0; i < GPUS; i++) {
      // energy_per_ms in mJ per ms, i.e. watts: the counter grows at the capture's power.
      lines.push(`gpu${i}.name=NVIDIA H100 80GB HBM3`, `gpu${i}.power_mw=${Math.round(CAPTURE_POWER_W * 1000)}`,
        `gpu${i}.limit_mw=700000`, `gpu${i}.energy_per_ms=${CAPTURE_POWER_W}`);
    }
    writeFileSync(cfg, `${lines.join('\n')}\n`);
    const nvmlPort = await freePort();
    const nvmlCmd = agentArgs('nvml,rapl', nvmlPort, ['--nvml-lib', lib]);
    start('nvml', nvmlCmd, { FAKE_NVML_CONFIG: cfg });
    targets.nvml = { port: nvmlPort, command: ['node', ...nvmlCmd] };
  }
  if (BASELINE) {
    // The same agent without any GPU sensor: its fixed cost (Node, express, prom-client, RAPL at 4 Hz).
    const basePort = await freePort();
    const baseCmd = agentArgs('rapl', basePort);
    start('baseline', baseCmd);
    targets.baseline = { port: basePort, command: ['node', ...baseCmd] };
  }
  if (NAIVE) {
    const naiveCmd = ['bench/naive-nvidia-smi.mjs', '--nvidia-smi', FAKE_SMI, '--interval-ms', String(INTERVAL_MS),
      '--powercap-root', powercap, '--cpu-interval-ms', String(CPU_INTERVAL_MS)];
    start('naive', naiveCmd);
    targets.naive = { command: ['node', ...naiveCmd] };
  }
  const measured = Object.keys(targets);
  console.error(`agent-cost: ${DURATION_S} s (warm-up ${WARMUP_S} s), ${GPUS} GPUs at ${1000 / INTERVAL_MS} Hz, RAPL at ${1000 / CPU_INTERVAL_MS} Hz; `
    + `measuring ${measured.join(', ')}; load average at start ${machine.loadavgStart.map((x) => x.toFixed(2)).join(' ')}`);

  const t0 = performance.now();
  const series = Object.fromEntries(measured.map((n) => [n, []]));
  const scrapes = Object.fromEntries(measured.filter((n) => targets[n].port).map((n) => [n, []]));
  let nextScrapeS = WARMUP_S;
  const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
  for (let k = 0; ; k++) {
    const dueMs = k * 1000;
    const waitMs = dueMs - (performance.now() - t0);
    if (waitMs > 0) await sleep(waitMs);
    const tS = (performance.now() - t0) / 1000;
    for (const n of measured) {
      const p = probe(procs[n].pid);
      if (p) series[n].push({ tS, ...p, children: p.children.length ? p.children : undefined });
    }
    if (tS + 1e-3 >= nextScrapeS) {
      nextScrapeS += SCRAPE_S;
      for (const n of Object.keys(scrapes)) scrapes[n].push({ tS, ...(await scrape(targets[n].port)) });
    }
    for (const n of measured) {
      if (procs[n].exitCode !== null || procs[n].signalCode !== null) {
        console.error(`agent-cost: ${n} exited early (${procs[n].exitCode ?? procs[n].signalCode}); see ${logs[n]}`);
      }
    }
    if (tS >= DURATION_S) break;
  }
  // A last scrape at the very end (unless one was just taken), then the sampler's own counts.
  for (const n of Object.keys(scrapes)) {
    const tS = (performance.now() - t0) / 1000;
    if (tS - (scrapes[n].at(-1)?.tS ?? -Infinity) >= 1) scrapes[n].push({ tS, ...(await scrape(targets[n].port)) });
  }
  const apiSensors = {};
  for (const n of Object.keys(scrapes)) {
    try { apiSensors[n] = await (await fetch(`http://127.0.0.1:${targets[n].port}/api/sensors`)).json(); } catch (err) { apiSensors[n] = { error: String(err) }; }
  }
  machine.loadavgEnd = loadavg();

  // Stop everything (SIGTERM: the agent stops cleanly; the naive prints its summary).
  const exits = {};
  for (const [n, p] of Object.entries(procs)) { p.kill('SIGTERM'); }
  for (const [n, p] of Object.entries(procs)) {
    exits[n] = await Promise.race([p.exited, sleep(10_000).then(() => ({ timeout: true }))]);
    if (exits[n].timeout) p.kill('SIGKILL');
  }
  rmSync(base, { recursive: true, force: true });

  // ---- summary ----
  const summary = {};
  for (const n of measured) {
    const s = series[n];
    const w = s.filter((x) => x.tS >= WARMUP_S);
    if (w.length < 2) { summary[n] = { error: 'too few samples' }; continue; }
    const a = w[0]; const b = w[w.length - 1];
    const spanS = b.tS - a.tS;
    const rss = w.map((x) => x.rssKb).filter((x) => x !== undefined);
    const childRss = w.flatMap((x) => (x.children ?? []).map((c) => c.rssKb)).filter((x) => x !== undefined);
    // Per-second CPU to see the spread (each point has 1/TCK = 10 ms resolution, i.e. ±1 % of a core per second).
    const perSec = w.slice(1).map((x, i) => pct(x.selfTicks - w[i].selfTicks, x.tS - w[i].tS));
    summary[n] = {
      windowS: spanS,
      cpuPct: pct(b.selfTicks - a.selfTicks, spanS),
      cpuPctPerSecondP95: [...perSec].sort((x, y) => x - y)[Math.floor(0.95 * (perSec.length - 1))],
      childCpuPct: pct(b.childTicks - a.childTicks, spanS),
      rssMbMean: rss.reduce((x, y) => x + y, 0) / rss.length / 1024,
      rssMbMax: Math.max(...rss) / 1024,
      rssMbMaxInclWarmup: Math.max(...s.map((x) => x.rssKb ?? 0)) / 1024,
      // The peak comes in the first half-minute (start-up, before the first full GCs); after a minute RSS is flat.
      rssMbMaxAfter60s: w.some((x) => x.tS >= 60) ? Math.max(...w.filter((x) => x.tS >= 60).map((x) => x.rssKb ?? 0)) / 1024 : undefined,
      rssMbStart: rss[0] / 1024, rssMbEnd: rss[rss.length - 1] / 1024,
      childRssMbMax: childRss.length ? Math.max(...childRss) / 1024 : undefined,
      childPids: [...new Set(w.flatMap((x) => (x.children ?? []).map((c) => c.pid)))].length,
      cpuSecondsStartup: s.length ? (w[0].selfTicks / TCK) : undefined,
    };
  }
  const energy = {};
  for (const [n, sc] of Object.entries(scrapes)) {
    if (n === 'baseline') continue;
    const ok = sc.filter((x) => x.status === 200 && x.gpus === GPUS);
    if (ok.length < 2) { energy[n] = { error: 'fewer than two good scrapes', scrapes: sc.length }; continue; }
    const a = ok[0]; const b = ok[ok.length - 1];
    const sensor = n === 'nvml' ? 'nvml' : 'nvidia-smi';
    const expW = GPUS * CAPTURE_POWER_W;
    const intervals = ok.slice(1).map((x, i) => (x.gpuEnergyJ - ok[i].gpuEnergyJ) / (expW * (x.wallS - ok[i].wallS)));
    energy[n] = {
      scrapes: sc.length, goodScrapes: ok.length,
      expectedW: expW,
      // Time base 1: when Prometheus scraped (jitter up to one sample interval at each end).
      ratioWall: (b.gpuEnergyJ - a.gpuEnergyJ) / (expW * (b.wallS - a.wallS)),
      // Time base 2: the sensor's last good sample, which the counter is as of.
      ratioSampleTs: (b.gpuEnergyJ - a.gpuEnergyJ) / (expW * (b.lastSampleS[sensor] - a.lastSampleS[sensor])),
      intervalRatioMin: Math.min(...intervals), intervalRatioMax: Math.max(...intervals),
      cpuRatioWall: (b.cpuEnergyJ - a.cpuEnergyJ) / (PACKAGE_W * (b.wallS - a.wallS)),
      gpuPowerWLast: b.gpuPowerW,
      sensorErrorsLast: b.errors,
    };
  }
  let naiveRun;
  if (NAIVE) {
    try { naiveRun = JSON.parse(procs.naive.stdoutText.trim().split('\n').pop()); } catch { naiveRun = undefined; }
  }
  const agentSampler = apiSensors.agent?.active?.find?.((s) => s.name === 'nvidia-smi')?.sampler;
  const ratios = {};
  if (NAIVE && summary.agent?.cpuPct && summary.naive?.cpuPct) {
    ratios.naiveOverAgentCpu = summary.naive.cpuPct / summary.agent.cpuPct;
    ratios.naiveOverAgentCpuInclChildren = (summary.naive.cpuPct + summary.naive.childCpuPct) / (summary.agent.cpuPct + summary.agent.childCpuPct);
    const naiveHz = naiveRun ? naiveRun.gpuSamples / naiveRun.elapsedS : undefined;
    ratios.naiveAchievedHz = naiveHz;
    // Per GPU sample, i.e. scaled to the same 10 Hz: the naive run cannot keep 10 Hz when a spawn takes longer.
    if (naiveHz) ratios.naiveOverAgentCpuPerSample = (summary.naive.cpuPct / naiveHz) / (summary.agent.cpuPct / (1000 / INTERVAL_MS));
    if (naiveHz) ratios.naiveOverAgentCpuPerSampleInclChildren = ((summary.naive.cpuPct + summary.naive.childCpuPct) / naiveHz)
      / ((summary.agent.cpuPct + summary.agent.childCpuPct) / (1000 / INTERVAL_MS));
  }
  const targetsMet = summary.agent ? { cpuUnder1Pct: summary.agent.cpuPct < 1, rssUnder80Mb: summary.agent.rssMbMax < 80 } : undefined;
  const result = {
    when: new Date().toISOString(), machine, settings: { DURATION_S, WARMUP_S, SCRAPE_S, GPUS, INTERVAL_MS, CPU_INTERVAL_MS, capturePowerW: CAPTURE_POWER_W, packageW: PACKAGE_W },
    commands: Object.fromEntries(Object.entries(targets).map(([n, t]) => [n, t.command.join(' ')])),
    summary, ratios, energy, targetsMet, naiveRun, agentSampler, apiSensors, exits, logs, scrapes, series,
  };
  writeFileSync(outFile, `${JSON.stringify(result, null, 1)}\n`);

  const rows = [['process', 'CPU % of a core', 'p95 per-second', 'RSS MB mean / max / max after 60 s', 'child CPU %', 'child RSS MB']];
  for (const n of measured) {
    const s = summary[n];
    rows.push([n, f(s.cpuPct, 3), f(s.cpuPctPerSecondP95, 1), `${f(s.rssMbMean, 1)} / ${f(s.rssMbMax, 1)} / ${f(s.rssMbMaxAfter60s, 1)}`, f(s.childCpuPct, 2), f(s.childRssMbMax, 1)]);
  }
  const width = rows[0].map((_, i) => Math.max(...rows.map((r) => String(r[i]).length)));
  for (const r of rows) console.log(r.map((c, i) => String(c).padEnd(width[i])).join('  '));
  if (NAIVE) {
    console.log(`naive: ${naiveRun ? `${naiveRun.gpuSamples} samples in ${f(naiveRun.elapsedS, 0)} s (${f(ratios.naiveAchievedHz, 2)} Hz achieved, ${naiveRun.gpuSkipped} ticks skipped)` : 'no summary'}`);
    console.log(`ratio naive/agent CPU: ${f(ratios.naiveOverAgentCpu, 1)} (process only), ${f(ratios.naiveOverAgentCpuInclChildren, 1)} (incl. children); `
      + `per GPU sample: ${f(ratios.naiveOverAgentCpuPerSample, 1)} (process only), ${f(ratios.naiveOverAgentCpuPerSampleInclChildren, 1)} (incl. children)`);
  }
  for (const [n, e] of Object.entries(energy)) {
    console.log(`${n} energy: GPU measured/expected ${f(e.ratioWall, 5)} (scrape times), ${f(e.ratioSampleTs, 5)} (sample timestamps), `
      + `per ${SCRAPE_S} s interval ${f(e.intervalRatioMin, 4)}–${f(e.intervalRatioMax, 4)}; CPU package ${f(e.cpuRatioWall, 4)}; ${e.error ?? ''}`);
  }
  if (agentSampler) console.log(`agent sampler (nvidia-smi): ${JSON.stringify(agentSampler)}`);
  console.log(`targets (agent < 1 % of a core, < 80 MB RSS): ${JSON.stringify(targetsMet)}`);
  console.log(`load average start ${machine.loadavgStart.map((x) => x.toFixed(2)).join(' ')}, end ${machine.loadavgEnd.map((x) => x.toFixed(2)).join(' ')}; raw: ${outFile}`);
}

// Last, so that every top-level const above is initialised.
if (opt('role') === 'rapl-mover') await raplMover(opt('root'));
else await main();
