#!/usr/bin/env node
/**
 * Would weighing decode by the chunks actually streamed fix the learned policy on a batching engine?
 * (docs/attribution.md, "On a real batching engine".) An offline probe, not the agent: it runs the test
 * engine (test/engine/, llama.cpp, four sequences decoded together), reads the host's CPU load from
 * /proc/stat every 100 ms itself (power = load × 100 W, the `estimate` sensor's signal), streams the
 * requests of bench/policies-on-engine.mjs alone and then together, notes when each content chunk
 * arrives, and splits each 100 ms of energy among the requests in it by six rules:
 *
 *   time      equal shares
 *   tokens    (0.2 × prompt + completion) tokens spread evenly over the request
 *   phases    the learned policy's rule: prompt J over prefill (start → first chunk), completion J over decode
 *   chunks    prompt J over prefill as above; completion J × the content chunks that arrived in the interval
 *   chunks+   as chunks, but the prompt's J over the time its prefill takes alone (prompt tokens × the ms
 *             per prompt token measured on the requests alone), ending at its first chunk: a request that
 *             waits for the others' prompts is not computing its own
 *   wait      as chunks, but the prompt's J from the latest other first byte before the last tenth of its
 *             wait to its own first byte (the agent's `--queued-prefill`)
 *
 * Costs per token are calibrate's on this engine (--prompt-j, --completion-j). For each rule: per request
 * the share ratio (its share of the batch / its share of the requests alone), as in the bench, and the
 * median over repetitions of the mean |share ratio − 1|.
 *
 *   bash scripts/install-engine.sh
 *   node bench/chunk-timing-probe.mjs [--reps 3] [--prompt-j 0.0385] [--completion-j 0.485]
 *
 * Linux only (/proc/stat). Run it on a quiet host: any other process's CPU counts as the engine's.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const opt = (name, def) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 && args[i + 1] !== undefined ? Number(args[i + 1]) : def;
};
const REPS = opt('reps', 3);
const PROMPT_J = opt('prompt-j', 0.0385);
const COMPLETION_J = opt('completion-j', 0.485);
const TDP_W = 100;
const TICK_MS = 100;
const MODEL = 'inferwatt-random-llama';
const SHAPES = [
  { name: 'short', requests: [[300, 40], [500, 20], [100, 60], [250, 41]] },
  { name: 'long', requests: [[300, 200], [500, 100], [100, 300], [250, 201]] },
];
const RULES = ['time', 'tokens', 'phases', 'chunks', 'chunks+', 'wait'];
/** ms of prefill per prompt token, from the requests alone (set before the batch is split). */
let prefillMsPerToken = 0;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Busy and total jiffies of all CPUs. */
function cpuTimes() {
  const f = readFileSync('/proc/stat', 'latin1');
  const v = f.slice(0, f.indexOf('\n')).trim().split(/\s+/).slice(1).map(Number);
  const idle = v[3] + (v[4] ?? 0);
  const total = v.slice(0, 8).reduce((s, x) => s + x, 0);
  return { busy: total - idle, total };
}

/** Energy samples: [t (ms, performance.now), J in the interval ending at t]. */
const samples = [];
let prev = cpuTimes();
let prevT = performance.now();
const sampler = setInterval(() => {
  const now = cpuTimes();
  const t = performance.now();
  const dt = now.total - prev.total;
  const load = dt > 0 ? (now.busy - prev.busy) / dt : 0;
  samples.push([prevT, t, load * TDP_W * ((t - prevT) / 1000)]);
  prev = now;
  prevT = t;
}, TICK_MS);

async function startEngine() {
  const child = spawn(process.execPath, [join(ROOT, 'test', 'engine', 'server.mjs'), '--port', '0', '--parallel', '4'], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (d) => { out += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { out += d; });
  for (let i = 0; i < 900; i++) {
    const m = /at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
    if (m) return { child, url: m[1] };
    if (child.exitCode !== null) break;
    await sleep(100);
  }
  child.kill();
  throw new Error(`the engine did not start:\n${out}`);
}

/** One streamed chat completion: its start, end, the arrival time of each content chunk, and its usage. */
async function chat(url, prompt, completion) {
  const start = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content: 'x'.repeat(prompt) }], max_tokens: completion, ignore_eos: true, stream: true, stream_options: { include_usage: true } }),
  });
  const chunks = [];
  let usage;
  let buf = '';
  const dec = new TextDecoder();
  for await (const part of res.body) {
    const t = performance.now();
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      const data = ev.startsWith('data: ') ? ev.slice(6) : '';
      if (data === '' || data === '[DONE]') continue;
      const j = JSON.parse(data);
      if (j.usage) usage = j.usage;
      if (j.choices?.[0]?.delta?.content) chunks.push(t);
    }
  }
  return { start, end: performance.now(), chunks, prompt: usage?.prompt_tokens ?? 0, completion: usage?.completion_tokens ?? chunks.length };
}

/** Energy (J) over [a, b] from the samples, each spread evenly over its interval. */
function energyBetween(a, b) {
  let e = 0;
  for (const [s, t, j] of samples) {
    const lo = Math.max(a, s);
    const hi = Math.min(b, t);
    if (hi > lo) e += (j * (hi - lo)) / (t - s);
  }
  return e;
}

/** Rule r's weight of request q over [a, b]. */
function weight(rule, q, a, b) {
  const lo = Math.max(a, q.start);
  const hi = Math.min(b, q.end);
  if (!(hi > lo)) return 0;
  const fb = q.chunks[0] ?? q.end;
  const over = (x, y, amount) => { const l = Math.max(lo, x); const h = Math.min(hi, y); return h > l && y > x ? (amount * (h - l)) / (y - x) : 0; };
  if (rule === 'time') return hi - lo;
  if (rule === 'tokens') return over(q.start, q.end, 0.2 * q.prompt + q.completion);
  const preFrom = rule === 'chunks+' ? Math.max(q.start, fb - q.prompt * prefillMsPerToken) : rule === 'wait' ? q.prefillFrom : q.start;
  const pre = over(preFrom, fb, PROMPT_J * q.prompt);
  if (rule === 'phases') return pre + over(fb, q.end, COMPLETION_J * q.completion);
  // chunks: each content chunk's tokens (completion / chunks) at its arrival, spread over the gap before it
  const per = q.chunks.length > 0 ? (COMPLETION_J * q.completion) / q.chunks.length : 0;
  let dec = 0;
  for (let i = 0; i < q.chunks.length; i++) dec += over(i === 0 ? fb - 1 : q.chunks[i - 1], q.chunks[i], per);
  return pre + dec;
}

/** Each request's energy when served together, per rule, split interval by interval. */
function split(rule, qs) {
  const out = qs.map(() => 0);
  // wait: a request's prefill begins at the latest other first byte before the last tenth of its wait.
  for (const q of qs) {
    const fb = q.chunks[0] ?? q.end;
    const cut = fb - 0.1 * (fb - q.start);
    q.prefillFrom = Math.max(q.start, ...qs.map((o) => o.chunks[0] ?? o.end).filter((t) => t <= cut));
  }
  const from = Math.min(...qs.map((q) => q.start));
  const to = Math.max(...qs.map((q) => q.end));
  for (const [s, t] of samples) {
    if (t <= from || s >= to) continue;
    const a = Math.max(s, from);
    const b = Math.min(t, to);
    const E = energyBetween(a, b);
    const w = qs.map((q) => weight(rule, q, a, b));
    const W = w.reduce((x, y) => x + y, 0);
    const n = qs.filter((q) => q.end > a && q.start < b).length;
    qs.forEach((q, i) => {
      if (!(q.end > a && q.start < b)) return;
      out[i] += W > 0 ? (E * w[i]) / W : E / n;
    });
  }
  return out;
}

async function main() {
  const engine = await startEngine();
  try {
    // Warm the engine (first requests load and compile).
    for (let i = 0; i < 4; i++) await chat(engine.url, 200, 20);
    const results = [];
    for (const shape of SHAPES) {
      for (let k = 0; k < REPS; k++) {
        const alone = [];
        const speeds = [];
        for (const [p, c] of shape.requests) {
          await sleep(600);
          const q = await chat(engine.url, p, c);
          await sleep(2 * TICK_MS + 50);
          alone.push(energyBetween(q.start, q.end));
          if (q.chunks.length > 0 && q.prompt > 0) speeds.push((q.chunks[0] - q.start) / q.prompt);
        }
        prefillMsPerToken = [...speeds].sort((x, y) => x - y)[Math.floor(speeds.length / 2)] ?? 0;
        await sleep(600);
        const qs = await Promise.all(shape.requests.map(([p, c]) => chat(engine.url, p, c)));
        await sleep(2 * TICK_MS + 50);
        const sa = alone.reduce((s, x) => s + x, 0);
        for (const rule of RULES) {
          const among = split(rule, qs);
          const sb = among.reduce((s, x) => s + x, 0);
          const share = among.map((x, i) => (x / sb) / (alone[i] / sa));
          const err = share.reduce((s, x) => s + Math.abs(x - 1), 0) / share.length;
          results.push({ shape: shape.name, rule, err });
          console.log(`${shape.name.padEnd(5)} #${k} ${rule.padEnd(6)} share ratios ${share.map((x) => x.toFixed(2)).join(' ')}  mean |err| ${err.toFixed(3)}  (chunks per request ${qs.map((q) => q.chunks.length).join(' ')})`);
        }
      }
    }
    const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    console.log('\nmedian over reps of the mean |share ratio − 1|:');
    for (const shape of SHAPES) {
      console.log(`  ${shape.name.padEnd(5)} ${RULES.map((r) => `${r} ${median(results.filter((x) => x.shape === shape.name && x.rule === r).map((x) => x.err)).toFixed(3)}`).join('   ')}`);
    }
  } finally {
    clearInterval(sampler);
    engine.child.kill();
  }
}

main().catch((err) => { console.error(err instanceof Error ? err.message : err); process.exit(1); });
