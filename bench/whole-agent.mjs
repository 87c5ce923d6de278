#!/usr/bin/env node
/**
 * The whole agent against a bare Node proxy (issue 15): `inferwatt run` as a user starts it (the built
 * CLI, its default configuration, a fake nvidia-smi replaying the H100 capture), side by side with the
 * bare proxy of bench/proxy/bare-proxy.mjs, both in front of the same upstream.
 *
 *   npm run build
 *   node bench/whole-agent.mjs [--gpus 8,1] [--records off,on] [--policies time,tokens] [--rounds 5]
 *        [--round-s 3] [--warmup-s 4] [--connections 32] [--serial-rounds 2] [--profile-s 0]
 *        [--base DIR] [--agent DIR] [--with-proxy-only] [--agent-args "--sensors nvidia-smi"] [--out FILE]
 *
 * Processes, each its own PID so that /proc accounts each apart:
 *   - upstream: this script with `--role upstream`, a node:http server answering every request with a
 *     small vLLM-shaped chat completion (the body of bench/proxy/proxy.bench.ts);
 *   - bare: this script with `--role bare`, the reference proxy (node:http + keep-alive agent + pipe);
 *   - agent: `node bin/inferwatt.js run --upstream <upstream> --listen 127.0.0.1:0
 *     --metrics-listen 127.0.0.1:0 --nvidia-smi test/helpers/fake-nvidia-smi.mjs [--attribution tokens]
 *     [--records <tmp file>]`, everything else at its default (sensors auto: nvml is absent, so
 *     nvidia-smi at 10 Hz; RAPL where the host has it, else the CPU estimate; log level info), with
 *     FAKE_NVSMI_GPUS=<n> and FAKE_NVSMI_CAPTURE=<the H100 capture>. One agent per configuration;
 *   - with --with-proxy-only (diagnostic): the agent's proxy alone (createProxy from its dist/, the agent's
 *     default proxy options, a tracker that only counts), the part that bench/proxy/ measures;
 *   - with --base DIR: a second agent, the same command from another built checkout (DIR/bin/inferwatt.js,
 *     DIR/dist), for a before/after of a change in the same run (`agent/base` ratios); --agent DIR runs
 *     the agent from another built checkout than this one;
 *   - load: wrk (Debian's package: `apt-get install -y wrk`), one thread, --connections keep-alive
 *     connections, POST /v1/chat/completions with `{"model":"bench"}`: a closed loop in C, so the load
 *     generator does not take its CPU from the proxies' JavaScript.
 * Per configuration: the agent starts and becomes ready (/readyz), each target gets --warmup-s of load,
 * then --rounds sets of --round-s rounds: one round per target in each set, the order rotated from set
 * to set. Ratios (agent/bare throughput and CPU, added p50/p99) are taken within a set; the output gives
 * their median and range over the sets. CPU per request: utime+stime of the process from
 * /proc/<pid>/stat over the round (and of its main thread alone, /proc/<pid>/task/<pid>/stat), divided by
 * the requests wrk completed; the agent's fake nvidia-smi is its own process and not counted, the
 * agent's 10 Hz sampling is. Then --serial-rounds sets with one connection (latency without queueing).
 * With --profile-s N: after the rounds, a separate agent (8 GPUs, default config) and then a separate
 * bare proxy run under `node --cpu-prof` with N s of the same load; bench/cpu-profile-split.mjs
 * summarizes the samples of the loaded seconds by owner (ledger, metrics, record store, proxy, …).
 * Everything shares the host's cores: read the ratios within a pair, not absolute figures across runs.
 * Plain JS, nothing imported from src/ (the agent runs through bin/ + dist/). Raw JSON: bench/results/.
 */
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { loadavg, tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createBareProxy } from './proxy/bare-proxy.mjs';
import { splitProfile, formatSplit } from './cpu-profile-split.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SELF = fileURLToPath(import.meta.url);
const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return def;
  return args[i].includes('=') ? args[i].slice(args[i].indexOf('=') + 1) : args[i + 1];
}
const list = (s) => String(s).split(',').map((x) => x.trim()).filter(Boolean);

const CAPTURE = join(ROOT, 'test/fixtures/nvidia-smi/extracted/linux-x86_64__nvidia-h100-80gb-hbm3__590.48.01');
const FAKE_SMI = join(ROOT, 'test/helpers/fake-nvidia-smi.mjs');
// A compact chat completion as vLLM sends it (shape of test/fixtures/llm-responses/vllm/*.json).
const JSON_BODY = Buffer.from(
  '{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"total_tokens":21,"completion_tokens":9}}',
);
const PATH = '/v1/chat/completions';
// wrk's Lua: the request, and one JSON line with the figures at the end (latencies in µs).
const WRK_LUA = `
wrk.method = "POST"
wrk.body = '{"model":"bench"}'
wrk.headers["Content-Type"] = "application/json"
done = function(s, latency, requests)
  local e = s.errors
  io.write(string.format('WRKJSON {"requests":%d,"durationUs":%d,"errors":%d,"non2xx":%d,"p50Us":%d,"p99Us":%d,"meanUs":%.1f}\\n',
    s.requests, s.duration, e.connect + e.read + e.write + e.timeout, e.status,
    latency:percentile(50), latency:percentile(99), latency.mean))
end
`;

// ---------------------------------------------------------------------------------------------------
// Roles (child processes).
function roleUpstream() {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': JSON_BODY.length });
      res.end(JSON_BODY);
    });
  });
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send({ port: server.address().port }));
}
function roleBare(upstream) {
  const server = createBareProxy(upstream);
  // A normal exit, so that `--cpu-prof` writes its profile.
  process.on('SIGTERM', () => process.exit(0));
  server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send({ port: server.address().port }));
}
/**
 * Diagnostic (--with-proxy-only): the agent's proxy alone, from DIR/dist (the agent's checkout), with the
 * options `inferwatt run` gives it by default (the 600 s upstream timeout, the default tenant header and
 * parse bound) but a tracker that only counts: no ledger, records, metrics or sensors. As
 * bench/proxy/proxy.bench.ts's inferwatt role, with the agent's default timeout.
 */
async function roleProxyOnly(upstream, root) {
  const { createProxy, listenProxy } = await import(pathToFileURL(join(root, 'dist/proxy/app.js')).href);
  const { createSystemClock } = await import(pathToFileURL(join(root, 'dist/core/clock.js')).href);
  const { silentLogger } = await import(pathToFileURL(join(root, 'dist/core/logger.js')).href);
  let ended = 0;
  const tracker = { inFlight: () => 0, open: (st) => ({ id: st.id, firstByte() {}, update() {}, end: () => void ended++ }) };
  const proxy = createProxy({ upstreams: [{ name: 'default', url: upstream }], tracker, clock: createSystemClock(), logger: silentLogger, upstreamTimeoutMs: 600_000 });
  const { address } = await listenProxy(proxy.app, '127.0.0.1', 0);
  process.on('SIGTERM', () => process.exit(0));
  process.send({ port: address.port });
}

// ---------------------------------------------------------------------------------------------------
function spawnRole(name, extra = [], nodeFlags = []) {
  const proc = spawn(process.execPath, [...nodeFlags, SELF, '--role', name, ...extra], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((res, rej) => {
    proc.once('message', (m) => res({ proc, url: `http://127.0.0.1:${m.port}` }));
    proc.once('exit', (code) => rej(new Error(`${name} exited ${code}`)));
  });
}

const TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim());
/** utime+stime of one process (all its threads), in µs. */
function cpuUs(pid) {
  const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / TCK;
}

/** utime+stime per thread name (comm) of one process, in µs: the main thread, V8's GC helpers, libuv's pool. */
function threadCpuUs(pid) {
  const out = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let s;
    try { s = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8'); } catch { continue; }
    const name = tid === String(pid) ? 'main' : s.slice(s.indexOf('(') + 1, s.lastIndexOf(')')).trim();
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    out[name] = (out[name] ?? 0) + ((Number(f[11]) + Number(f[12])) * 1e6) / TCK;
  }
  return out;
}

function httpGet(url) {
  return new Promise((res) => {
    const req = http.get(url, (r) => { r.resume(); r.on('end', () => res(r.statusCode)); });
    req.on('error', () => res(0));
    req.setTimeout(2000, () => { req.destroy(); res(0); });
  });
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Starts `inferwatt run` (of `root`, this checkout by default); resolves once /readyz answers 200. */
async function startAgent({ gpus, policy, recordsFile, nodeFlags = [], root = ROOT, extraArgs = agentArgs }) {
  const argv = [...nodeFlags, join(root, 'bin/inferwatt.js'), 'run', '--upstream', upstreamUrl, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--nvidia-smi', FAKE_SMI];
  if (policy !== 'time') argv.push('--attribution', policy);
  if (recordsFile) argv.push('--records', recordsFile);
  argv.push(...extraArgs);
  // A clean environment: no INFERWATT_* of the caller's shell changes the default configuration.
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, FAKE_NVSMI_GPUS: String(gpus), FAKE_NVSMI_CAPTURE: CAPTURE };
  const proc = spawn(process.execPath, argv, { env, cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  proc.stdout.on('data', (c) => { out += c; });
  proc.stderr.on('data', (c) => { err += c; });
  const deadline = Date.now() + 30_000;
  let m;
  while (!(m = /metrics (http:\/\/\S+)\/metrics, proxy (http:\/\/\S+)/.exec(out))) {
    if (proc.exitCode !== null || Date.now() > deadline) throw new Error(`agent did not start (exit ${proc.exitCode}):\n${out}\n${err}`);
    await sleep(50);
  }
  const [, metricsUrl, proxyUrl] = m;
  while ((await httpGet(`${metricsUrl}/readyz`)) !== 200) {
    if (Date.now() > deadline) throw new Error(`agent not ready in 30 s:\n${out}\n${err}`);
    await sleep(100);
  }
  const sensors = await new Promise((res) => {
    http.get(`${metricsUrl}/api/sensors`, (r) => { let b = ''; r.on('data', (c) => { b += c; }); r.on('end', () => res(JSON.parse(b))); });
  });
  return { proc, url: proxyUrl, metricsUrl, sensors };
}

async function stop(t) {
  if (t.proc.exitCode !== null) return t.proc.exitCode;
  const exited = new Promise((r) => t.proc.once('exit', (code) => r(code)));
  t.proc.kill('SIGTERM');
  return exited;
}

/** One wrk round against `url`; CPU of `pid` (and per thread) and of the upstream read around it. */
async function wrk(url, seconds, connections, pid) {
  const before = cpuUs(pid);
  const upBefore = cpuUs(upstream.proc.pid);
  const threadsBefore = threadCpuUs(pid);
  const out = await new Promise((res, rej) => {
    const p = spawn('wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--timeout', '10s', '-s', luaFile, url + PATH], { stdio: ['ignore', 'pipe', 'inherit'] });
    let s = '';
    p.stdout.on('data', (c) => { s += c; });
    p.on('exit', (code) => (code === 0 ? res(s) : rej(new Error(`wrk exited ${code}: ${s}`))));
  });
  const after = cpuUs(pid);
  const upAfter = cpuUs(upstream.proc.pid);
  const threadsAfter = threadCpuUs(pid);
  const m = /WRKJSON (\{.*\})/.exec(out);
  if (!m) throw new Error(`no figures from wrk:\n${out}`);
  const r = JSON.parse(m[1]);
  const n = Math.max(1, r.requests);
  return {
    rps: r.requests / (r.durationUs / 1e6), requests: r.requests, errors: r.errors + r.non2xx,
    p50Ms: r.p50Us / 1000, p99Ms: r.p99Us / 1000,
    cpuUsPerReq: (after - before) / n,
    mainUsPerReq: ((threadsAfter.main ?? 0) - (threadsBefore.main ?? 0)) / n,
    upstreamCpuUsPerReq: (upAfter - upBefore) / n,
    threadCpuUsPerReq: Object.fromEntries(Object.entries(threadsAfter).map(([k, v]) => [k, (v - (threadsBefore[k] ?? 0)) / n])),
  };
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n === 0 ? NaN : n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
};
const stat = (xs) => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) });
const f2 = (x) => x.toFixed(2);
const f0 = (x) => x.toFixed(0);
const la = () => loadavg().map((x) => x.toFixed(2)).join(' ');
const mr = (s, f = f2) => `${f(s.median)} [${f(s.min)}–${f(s.max)}]`;

/**
 * `n` sets of rounds; in each set every target gets one round, the order rotated from set to set (a
 * target is first, middle and last equally often). Ratios are taken within a set.
 */
async function rounds(targets, n, seconds, connections) {
  const sets = [];
  for (let i = 0; i < n; i++) {
    const set = {};
    for (let k = 0; k < targets.length; k++) {
      const t = targets[(i + k) % targets.length];
      set[t.name] = await wrk(t.url, seconds, connections, t.proc.pid);
    }
    sets.push(set);
  }
  const per = (name, k) => stat(sets.map((s) => s[name][k]));
  const summary = { sets, targets: {} };
  for (const t of targets) {
    summary.targets[t.name] = {
      rps: per(t.name, 'rps'), cpuUs: per(t.name, 'cpuUsPerReq'), mainUs: per(t.name, 'mainUsPerReq'), upstreamUs: per(t.name, 'upstreamCpuUsPerReq'),
      p50Ms: per(t.name, 'p50Ms'), p99Ms: per(t.name, 'p99Ms'),
      errors: sets.reduce((a, s) => a + s[t.name].errors, 0),
    };
    if (t.name === 'bare') continue;
    Object.assign(summary.targets[t.name], {
      ratio: stat(sets.map((s) => s[t.name].rps / s.bare.rps)),
      cpuRatio: stat(sets.map((s) => s[t.name].cpuUsPerReq / s.bare.cpuUsPerReq)),
      addP50Ms: stat(sets.map((s) => s[t.name].p50Ms - s.bare.p50Ms)),
      addP99Ms: stat(sets.map((s) => s[t.name].p99Ms - s.bare.p99Ms)),
    });
  }
  if (summary.targets.base) {
    summary.agentVsBase = {
      ratio: stat(sets.map((s) => s.agent.rps / s.base.rps)),
      cpuRatio: stat(sets.map((s) => s.agent.cpuUsPerReq / s.base.cpuUsPerReq)),
    };
  }
  return summary;
}

function describe(name, t) {
  return `  ${name.padEnd(5)} ${f0(t.rps.median).padStart(6)} req/s` +
    (t.ratio ? `, vs bare ${mr(t.ratio, (x) => x.toFixed(3))}` : '') +
    `; CPU ${f0(t.cpuUs.median)} µs/req [${f0(t.cpuUs.min)}–${f0(t.cpuUs.max)}] (main thread ${f0(t.mainUs.median)})` +
    (t.cpuRatio ? `, ${f2(t.cpuRatio.median)}× bare` : '') +
    `; p50 ${f2(t.p50Ms.median)} ms, p99 ${f2(t.p99Ms.median)} ms` +
    (t.addP50Ms ? ` (added ${f2(t.addP50Ms.median)} / ${f2(t.addP99Ms.median)})` : '') +
    (t.errors ? `; ${t.errors} ERRORS` : '');
}

let upstream, bare, upstreamUrl, luaFile;
/** --agent-args "…": more flags for the agent's `inferwatt run` (not the base's; e.g. `--sensors nvidia-smi`). */
const agentArgs = list(opt('agent-args', '').replace(/ +/g, ','));

async function main() {
  const gpusList = list(opt('gpus', '8,1')).map(Number);
  const recordsList = list(opt('records', 'off,on'));
  const policies = list(opt('policies', 'time,tokens'));
  const nRounds = Number(opt('rounds', '5'));
  const roundS = Number(opt('round-s', '3'));
  const warmupS = Number(opt('warmup-s', '4'));
  const connections = Number(opt('connections', '32'));
  const serialRounds = Number(opt('serial-rounds', '2'));
  const profileS = Number(opt('profile-s', '0'));
  const baseRoot = opt('base', undefined);
  const agentRoot = resolve(opt('agent', ROOT));
  const withProxyOnly = args.includes('--with-proxy-only');
  try {
    execFileSync('wrk', ['--version'], { stdio: 'ignore' });
  } catch (err) {
    // wrk --version exits 1 after printing its banner; only a missing binary is a problem
    if (err.code === 'ENOENT') {
      console.error('wrk is not installed (Debian: apt-get install -y wrk)');
      process.exit(2);
    }
  }
  for (const root of [agentRoot, ...(baseRoot ? [resolve(baseRoot)] : [])]) {
    if (!existsSync(join(root, 'dist/cli.js'))) {
      console.error(`${root}/dist is missing: run \`npm run build\` there first`);
      process.exit(2);
    }
  }
  const work = mkdtempSync(join(tmpdir(), 'inferwatt-whole-agent-'));
  luaFile = join(work, 'post.lua');
  writeFileSync(luaFile, WRK_LUA);
  upstream = await spawnRole('upstream');
  upstreamUrl = upstream.url;
  bare = { name: 'bare', ...(await spawnRole('bare', ['--upstream', upstreamUrl])) };
  const started = new Date().toISOString();
  const stamp = started.replace(/[:.]/g, '-');
  const git = (...a) => { try { return execFileSync('git', a, { cwd: ROOT, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(); } catch { return '?'; } };
  const commit = git('rev-parse', '--short', 'HEAD') + (git('status', '--porcelain', '--untracked-files=no') ? ' (modified)' : '');
  console.log(`whole agent vs bare proxy: ${started}, commit ${commit}, node ${process.version}, ${cpus().length} CPUs, load ${la()}`);
  console.log(`wrk -t1 -c${connections}, POST ${PATH}; ${withProxyOnly ? 'with the proxy alone; ' : ''}${nRounds} sets of ${roundS} s rounds (order rotated) after ${warmupS} s of warm-up; ${serialRounds} sets with -c1` +
    (agentRoot !== ROOT ? `; agent: ${agentRoot}` : '') + (baseRoot ? `; base: ${resolve(baseRoot)}` : '') + (agentArgs.length ? `; agent args: ${agentArgs.join(' ')}` : '') + '\n');

  const results = [];
  const running = new Set();
  try {
    // --rounds 0: only the profiles
    if (nRounds > 0) for (const gpus of gpusList) for (const records of recordsList) for (const policy of policies) {
      const recordsFile = (who) => (records === 'on' ? join(work, `records-${who}-${gpus}-${policy}.jsonl`) : undefined);
      const loadBefore = la();
      const targets = [];
      try {
        for (const [name, root] of [['agent', agentRoot], ...(baseRoot ? [['base', resolve(baseRoot)]] : [])]) {
          // --agent-args go to the agent under test only: with --base . they compare two configurations
          const t = { name, ...(await startAgent({ gpus, policy, recordsFile: recordsFile(name), root, extraArgs: name === 'agent' ? agentArgs : [] })) };
          running.add(t);
          targets.push(t);
        }
        if (withProxyOnly) {
          const t = { name: 'proxy', ...(await spawnRole('proxy-only', ['--upstream', upstreamUrl, '--root', agentRoot])) };
          running.add(t);
          targets.push(t);
        }
        targets.push(bare);
        for (const t of targets) await wrk(t.url, warmupS, connections, t.proc.pid);
        const loaded = await rounds(targets, nRounds, roundS, connections);
        const serial = serialRounds > 0 ? await rounds(targets, serialRounds, Math.max(1, Math.round(roundS * 2 / 3)), 1) : undefined;
        const sensorNames = targets[0].sensors.active.map((s) => `${s.name}(${s.devices.length})`).join('+');
        const r = { gpus, records, policy, sensors: sensorNames, loadBefore, loadAfter: la(), loaded, serial };
        results.push(r);
        console.log(`${gpus} GPU, records ${records}, ${policy} (${sensorNames}), load ${loadBefore} -> ${r.loadAfter}:`);
        for (const [name, t] of Object.entries(loaded.targets)) console.log(describe(name, t));
        if (loaded.agentVsBase) console.log(`  agent/base: req/s ${mr(loaded.agentVsBase.ratio, (x) => x.toFixed(3))}, CPU/req ${mr(loaded.agentVsBase.cpuRatio, (x) => x.toFixed(3))}`);
        if (serial) console.log(`  -c1: ${Object.entries(serial.targets).map(([n, t]) => `${n} p50 ${t.p50Ms.median.toFixed(3)} / p99 ${t.p99Ms.median.toFixed(3)} ms`).join(', ')}`);
      } finally {
        for (const t of targets) {
          if (t === bare) continue;
          await stop(t);
          running.delete(t);
        }
        for (const who of ['agent', 'base']) if (recordsFile(who)) rmSync(recordsFile(who), { force: true });
      }
    }

    let profile;
    if (profileS > 0) {
      profile = {};
      for (const who of ['agent', 'bare']) {
        const dir = join(work, `prof-${who}`);
        const flags = ['--cpu-prof', `--cpu-prof-dir=${dir}`];
        const t = who === 'agent' ? await startAgent({ gpus: 8, policy: 'time', nodeFlags: flags, root: agentRoot }) : await spawnRole('bare', ['--upstream', upstreamUrl], flags);
        running.add(t);
        await wrk(t.url, warmupS, connections, t.proc.pid);
        // The profile's timestamps are CLOCK_MONOTONIC µs, as process.hrtime: keep only the loaded seconds.
        const fromUs = Number(process.hrtime.bigint() / 1000n);
        const r = await wrk(t.url, profileS, connections, t.proc.pid);
        const toUs = Number(process.hrtime.bigint() / 1000n);
        await stop(t);
        running.delete(t);
        const file = readdirSync(dir).find((f) => f.endsWith('.cpuprofile'));
        if (!file) throw new Error(`no .cpuprofile written for ${who}`);
        const keep = join(ROOT, 'bench/results', `whole-agent-${stamp}-${who}.cpuprofile`);
        mkdirSync(dirname(keep), { recursive: true });
        writeFileSync(keep, readFileSync(join(dir, file)));
        const split = splitProfile(JSON.parse(readFileSync(keep, 'utf8')), { fromUs, toUs });
        profile[who] = { file: keep, fromUs, toUs, requests: r.requests, rps: r.rps, cpuUsPerReq: r.cpuUsPerReq, split: { ...split, functions: split.functions.slice(0, 200) } };
        console.log(`\nCPU profile of the ${who === 'agent' ? 'agent (8 GPUs, default config)' : 'bare proxy'}, ${profileS} s under load: ${r.requests} requests (${f0(r.rps)} req/s), ${f0(r.cpuUsPerReq)} µs CPU per request (/proc); ${keep}`);
        console.log(formatSplit(split, r.requests));
      }
    }

    if (results.length) console.log(`\n| GPUs | records | policy | agent/bare req/s, median [range] | agent CPU µs/req | bare CPU µs/req | +p50 ms (-c${connections}) | +p99 ms | +p50 ms (-c1) | +p99 ms (-c1) |${baseRoot ? ' base/bare req/s | base CPU µs/req | agent/base req/s | agent/base CPU |' : ''}`);
    if (results.length) console.log(`|---|---|---|---|---|---|---|---|---|---|${baseRoot ? '---|---|---|---|' : ''}`);
    for (const r of results) {
      const a = r.loaded.targets.agent;
      const b = r.loaded.targets.bare;
      const s = r.serial?.targets.agent;
      console.log(`| ${r.gpus} | ${r.records} | ${r.policy} | ${mr(a.ratio)} | ${f0(a.cpuUs.median)} | ${f0(b.cpuUs.median)} | ${f2(a.addP50Ms.median)} | ${f2(a.addP99Ms.median)} | ${s ? s.addP50Ms.median.toFixed(3) : '—'} | ${s ? s.addP99Ms.median.toFixed(3) : '—'} |` +
        (r.loaded.agentVsBase ? ` ${mr(r.loaded.targets.base.ratio)} | ${f0(r.loaded.targets.base.cpuUs.median)} | ${mr(r.loaded.agentVsBase.ratio, (x) => x.toFixed(3))} | ${mr(r.loaded.agentVsBase.cpuRatio, (x) => x.toFixed(3))} |` : ''));
    }
    const outFile = opt('out', join(ROOT, 'bench/results', `whole-agent-${stamp}.json`));
    mkdirSync(dirname(outFile), { recursive: true });
    writeFileSync(outFile, JSON.stringify({ started, commit, node: process.version, cpus: cpus().length, options: { gpusList, recordsList, policies, nRounds, roundS, warmupS, connections, serialRounds, profileS, agentRoot, baseRoot, agentArgs }, results, profile }, null, 2));
    console.log(`\nraw: ${outFile}; load at the end ${la()}`);
  } finally {
    for (const t of running) await stop(t).catch(() => {});
    upstream.proc.kill();
    bare.proc.kill();
    rmSync(work, { recursive: true, force: true });
  }
}

// Last, so that every binding above is initialised before main() runs.
const role = opt('role', undefined);
if (role === 'upstream') roleUpstream();
else if (role === 'bare') roleBare(opt('upstream', ''));
else if (role === 'proxy-only') await roleProxyOnly(opt('upstream', ''), opt('root', ROOT));
else await main();
