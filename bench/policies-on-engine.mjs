#!/usr/bin/env node
/**
 * The three split policies side by side on the real inference engine (llama.cpp through node-llama-cpp,
 * test/engine/): how close does each policy put a request served among others to what the same request
 * costs alone?
 *
 *   npm run build && bash scripts/install-engine.sh
 *   node bench/policies-on-engine.mjs [--power engine-cpu|estimate] [--queued-prefill] [--warmup-s 90] [--reps 3] [--parallel 4] [--interval-ms 100] [--out FILE]
 *
 * --queued-prefill: the learned agent runs with `--queued-prefill` (this engine computes the prompts of
 * requests that arrive together one after another, as llama.cpp's server does).
 *
 * Power (`--power`):
 *   engine-cpu (default)  20 W plus 100 W per CPU-second of the engine process (all its threads'
 *                         time on a CPU, from /proc/<pid>/task/<tid>/schedstat, in ns), written every
 *                         10 ms as a RAPL counter into a powercap tree of its own, which the agents read
 *                         with `--sensors rapl --powercap-root`. Other processes on the host do not count,
 *                         so it can run on a busy host.
 *   estimate              the agents' own `estimate` sensor (`--cpu-tdp-w 100`): power follows the whole
 *                         host's CPU load, as it would in production on a CPU engine; needs a quiet host.
 *
 * What runs, as users run it (separate processes, the real CLI through bin/ and dist/):
 *   client → inferwatt --attribution learned → inferwatt --attribution tokens → inferwatt --attribution time → engine
 * Three agents in a chain see the same requests at the same times and read the same host power, so their
 * records differ only by policy. Each agent samples the CPU every --interval-ms (100).
 *
 * 1. Warm-up: groups of one to four streamed chat completions of mixed lengths, each group followed by a
 *    pause (what test/quiet/engine-energy.test.ts sends), so that the learned policy can fit.
 * 2. For each shape (four requests, prompt characters × completion tokens), --reps times: each of the four
 *    alone, one after the other, then the four together. Per policy: the energy of each alone and among
 *    the others; batch/alone = Σ among / Σ alone (what serving them together saved or cost: conserved
 *    energy, the same for every policy up to sampling); per request its *share ratio*, (among / Σ among)
 *    / (alone / Σ alone), 1 when the policy divides the batch as the requests' own costs divide; and the
 *    mean |share ratio − 1| over the four.
 *
 * Records are matched across agents by completion tokens (distinct within a shape). Run it on a quiet
 * host: any other process's CPU is counted as the engine's. Raw JSON to bench/results/ (gitignored).
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
// The same seeded PRNG as the quiet test's warm-up (the build is needed anyway: the agents run from dist/).
import { mulberry32 } from '../dist/core/prng.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? args[i + 1] : def;
}
const WARMUP_S = Number(opt('warmup-s', '90'));
const REPS = Number(opt('reps', '3'));
const PARALLEL = Number(opt('parallel', '4'));
const INTERVAL_MS = opt('interval-ms', '100');
const POWER = opt('power', 'engine-cpu');
const QUEUED = args.includes('--queued-prefill');
if (POWER !== 'engine-cpu' && POWER !== 'estimate') throw new Error(`--power must be engine-cpu or estimate, not ${POWER}`);
const OUT = opt('out', join(ROOT, 'bench', 'results', `policies-on-engine-${new Date().toISOString().replace(/[:.]/g, '-')}.json`));
const MODEL = 'inferwatt-random-llama';
const POLICIES = ['learned', 'tokens', 'time'];
const SHAPES = [
  { name: 'short', requests: [[300, 40], [500, 20], [100, 60], [250, 41]] },
  { name: 'long', requests: [[300, 200], [500, 100], [100, 300], [250, 201]] },
];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => ok(port)); });
  });
}

const children = [];
function startProcess(argv, ready) {
  const child = spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  return new Promise((ok, fail) => {
    const timer = setTimeout(() => fail(new Error(`${argv.join(' ')} did not start in 90 s:\n${out}`)), 90_000);
    child.once('exit', (code, sig) => { clearTimeout(timer); fail(new Error(`${argv.join(' ')} exited (${code ?? sig}):\n${out}`)); });
    const poll = async () => {
      const v = await ready(() => out).catch(() => undefined);
      if (v !== undefined) { clearTimeout(timer); ok(v); } else setTimeout(poll, 100);
    };
    poll();
  });
}

/**
 * A powercap tree whose one RAPL zone counts 20 W + 100 W per CPU-second of process `pid`, kept up to date
 * by a child process every 10 ms (an event loop of its own: the bench's requests do not delay it).
 */
function enginePowercap(pid) {
  const root = mkdtempSync(join(tmpdir(), 'inferwatt-engine-powercap-'));
  const zone = join(root, 'intel-rapl:0');
  mkdirSync(zone);
  writeFileSync(join(zone, 'name'), 'package-0\n');
  writeFileSync(join(zone, 'max_energy_range_uj'), '262143328850\n');
  writeFileSync(join(zone, 'energy_uj'), '0\n');
  const script = `
    const fs = require('node:fs');
    const [pid, zone] = process.argv.slice(1);
    const cpuNs = () => {
      let ns = 0;
      for (const t of fs.readdirSync('/proc/' + pid + '/task')) {
        try { ns += Number(fs.readFileSync('/proc/' + pid + '/task/' + t + '/schedstat', 'utf8').split(' ')[0]); } catch {}
      }
      return ns;
    };
    let uj = 0, ns0 = cpuNs(), t0 = process.hrtime.bigint();
    setInterval(() => {
      // The engine has exited (its /proc/<pid>/task is gone): nothing left to count, this writer stops.
      let ns; try { ns = cpuNs(); } catch { process.exit(0); }
      const t = process.hrtime.bigint();
      uj += 20 * Number(t - t0) / 1e3 + 100 * (ns - ns0) / 1e3;
      ns0 = ns; t0 = t;
      fs.writeFileSync(zone + '/energy_uj.tmp', Math.round(uj) + '\\n');
      fs.renameSync(zone + '/energy_uj.tmp', zone + '/energy_uj');
    }, 10);`;
  const child = spawn(process.execPath, ['-e', script, String(pid), zone], { stdio: 'ignore' });
  children.push(child);
  return root;
}

function stopAll() {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGTERM');
}
process.on('SIGINT', () => { stopAll(); process.exit(130); });

async function main() {
  console.log(`policies on the real engine: warm-up ${WARMUP_S} s, ${REPS} reps, engine --parallel ${PARALLEL}, power ${POWER === 'estimate' ? 'the estimate sensor (host CPU load)' : "20 W + 100 W per engine CPU-second (RAPL zone of the bench's own)"} read every ${INTERVAL_MS} ms${QUEUED ? '; learned with --queued-prefill' : ''}; load ${loadavg().map((x) => x.toFixed(2)).join(' ')} on ${cpus().length} CPUs`);
  const engineUrl = await startProcess([join(ROOT, 'test', 'engine', 'server.mjs'), '--port', '0', '--parallel', String(PARALLEL)],
    async (out) => /at (http:\/\/127\.0\.0\.1:\d+)/.exec(out())?.[1]);
  const sensorArgs = POWER === 'estimate'
    ? ['--sensors', 'estimate', '--cpu-tdp-w', '100']
    : ['--sensors', 'rapl', '--powercap-root', enginePowercap(children[0].pid)];
  // Innermost first: time → engine, tokens → time, learned → tokens.
  const agents = {};
  let upstream = engineUrl;
  for (const policy of [...POLICIES].reverse()) {
    const [proxyPort, metricsPort] = [await freePort(), await freePort()];
    const metricsUrl = `http://127.0.0.1:${metricsPort}`;
    await startProcess([join(ROOT, 'bin', 'inferwatt.js'), 'run', ...sensorArgs, '--cpu-interval-ms', INTERVAL_MS,
      '--attribution', policy, ...(policy === 'learned' && QUEUED ? ['--queued-prefill'] : []), '--upstream', upstream, '--listen', `127.0.0.1:${proxyPort}`, '--metrics-listen', `127.0.0.1:${metricsPort}`,
      '--region', 'FR', '--log-level', 'warn'],
    async () => ((await fetch(`${metricsUrl}/healthz`)).ok ? true : undefined));
    agents[policy] = { proxyUrl: `http://127.0.0.1:${proxyPort}`, metricsUrl };
    upstream = agents[policy].proxyUrl;
  }
  const front = agents[POLICIES[0]].proxyUrl;

  async function chat(prompt, completion) {
    const res = await fetch(`${front}/v1/chat/completions`, {
      method: 'POST', headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(prompt) }], max_tokens: completion, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
    });
    await res.text();
    if (res.status !== 200) throw new Error(`chat ${prompt}/${completion}: HTTP ${res.status}`);
  }
  /** Per policy, the energy of the newest records with these completion-token counts. */
  async function energies(shape) {
    const out = {};
    for (const policy of POLICIES) {
      let found;
      for (let i = 0; i < 100 && !found; i++) {
        const { requests } = await (await fetch(`${agents[policy].metricsUrl}/api/requests?limit=${shape.length}`)).json();
        const recs = shape.map(([, c]) => requests.find((r) => r.completionTokens === c));
        if (recs.every((r) => r !== undefined)) found = recs;
        else await sleep(100);
      }
      if (!found) throw new Error(`${policy}: no records for ${JSON.stringify(shape)}`);
      out[policy] = found.map((r) => ({ energyJ: r.energyJ.total, attribution: r.attribution }));
    }
    return out;
  }

  const r = mulberry32(5);
  const t0 = Date.now();
  let warmupRequests = 0;
  while (Date.now() - t0 < WARMUP_S * 1000) {
    const n = r() < 0.4 ? 1 : 2 + Math.floor(r() * 3);
    await Promise.all(Array.from({ length: n }, () => chat(20 + Math.floor(r() * 600), 4 + Math.floor(r() * 60))));
    warmupRequests += n;
    await sleep(200 + r() * 700);
  }
  const models = await (await fetch(`${agents.learned.metricsUrl}/api/models`)).json();
  const pool = models.pools[0];
  const m = pool?.models.find((x) => x.model === MODEL);
  const fmt = (x, d = 3) => (x === null || x === undefined ? '-' : Number(x).toFixed(d));
  console.log(`warm-up: ${warmupRequests} requests; learned: prompt ${fmt(m?.promptJ, 4)} ± ${fmt(m?.promptSe, 4)} J, completion ${fmt(m?.completionJ)} ± ${fmt(m?.completionSe)} J, baseline ${fmt(pool?.baselineW, 1)} W, R² ${fmt(pool?.r2, 2)}, ready ${m?.ready}`);

  const runs = [];
  for (const shape of SHAPES) {
    for (let k = 0; k < REPS; k++) {
      const alone = Object.fromEntries(POLICIES.map((p) => [p, []]));
      for (const [p, c] of shape.requests) {
        await sleep(800);
        await chat(p, c);
        await sleep(300);
        const e = await energies([[p, c]]);
        for (const policy of POLICIES) alone[policy].push(e[policy][0]);
      }
      await sleep(800);
      await Promise.all(shape.requests.map(([p, c]) => chat(p, c)));
      await sleep(300);
      const among = await energies(shape.requests);
      for (const policy of POLICIES) {
        const a = alone[policy].map((x) => x.energyJ);
        const b = among[policy].map((x) => x.energyJ);
        const sa = a.reduce((s, x) => s + x, 0);
        const sb = b.reduce((s, x) => s + x, 0);
        const share = b.map((x, i) => (x / sb) / (a[i] / sa));
        const meanErr = share.reduce((s, x) => s + Math.abs(x - 1), 0) / share.length;
        const attributions = [...new Set([...alone[policy], ...among[policy]].map((x) => x.attribution))];
        runs.push({ shape: shape.name, rep: k, policy, alone: a, among: b, batchOverAlone: sb / sa, shareRatios: share, meanAbsShareError: meanErr, attributions });
        console.log(`${shape.name.padEnd(5)} #${k} ${policy.padEnd(7)} alone ${a.map((x) => x.toFixed(1)).join(' ')} J  among ${b.map((x) => x.toFixed(1)).join(' ')} J  batch/alone ${sb / sa > 0 ? (sb / sa).toFixed(3) : '-'}  share ratios ${share.map((x) => x.toFixed(2)).join(' ')}  mean |err| ${meanErr.toFixed(3)}  (${attributions.join(',')})`);
      }
    }
  }
  console.log('\nmedian over reps of the mean |share ratio − 1| (lower is closer to each request\'s own cost):');
  const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
  const summary = {};
  for (const shape of SHAPES) {
    const row = POLICIES.map((p) => {
      const v = median(runs.filter((x) => x.shape === shape.name && x.policy === p).map((x) => x.meanAbsShareError));
      summary[`${shape.name}/${p}`] = v;
      return `${p} ${v.toFixed(3)}`;
    });
    const ba = median(runs.filter((x) => x.shape === shape.name && x.policy === 'time').map((x) => x.batchOverAlone));
    console.log(`  ${shape.name.padEnd(5)} ${row.join('   ')}   (batch/alone ${ba.toFixed(2)}; requests ${shape.requests.map(([p, c]) => `${p}/${c}`).join(', ')})`);
  }
  mkdirSync(dirname(OUT), { recursive: true });
  writeFileSync(OUT, JSON.stringify({ at: new Date().toISOString(), power: POWER, queuedPrefill: QUEUED, warmupS: WARMUP_S, reps: REPS, parallel: PARALLEL, intervalMs: Number(INTERVAL_MS), loadavg: loadavg(), learned: models, runs, summary }, null, 2));
  console.log(`raw: ${OUT}`);
}

main().then(() => { stopAll(); }, (err) => { console.error(err instanceof Error ? err.message : err); stopAll(); process.exit(1); });
