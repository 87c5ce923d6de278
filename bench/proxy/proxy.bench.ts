/**
 * The proxy, side by side in one run (issue 3, bench items a–d): direct to a local upstream, through a
 * bare Node proxy (bare-proxy.mjs: node:http piping with keep-alive, the reference for what any Node
 * proxy can do), through inferwatt's proxy (createProxy, taps on, a counting tracker: the ledger's own
 * cost is bench/ledger.bench.ts), and through nginx when `nginx` is on PATH.
 *
 *   npx esbuild bench/proxy/proxy.bench.ts --bundle --platform=node --format=esm --packages=external \
 *     --outfile=.tmp/proxy-bench.mjs && node .tmp/proxy-bench.mjs [--seconds 5] [--connections 32] [--rate 500]
 *
 * Each server runs in its own process (this file with --role); the load generator is this process.
 * (a) throughput: closed loop, --connections keep-alive connections, small JSON chat completion;
 * (b) latency at a fixed --rate (open loop), p50/p99, added = through − direct;
 * (c) SSE: 20 events 10 ms apart on /sse/v1/chat/completions, time to first byte and per-chunk delay
 *     (upstream stamps each event with CLOCK_MONOTONIC, shared by all processes of the host);
 * (d) RSS of the proxy process with 1,000 concurrent open streams.
 * Everything shares the host's cores; compare ratios within one run, not across runs.
 * Diagnostics: BENCH_ONLY_THROUGHPUT=1 stops after (a) and prints the raw rows; BENCH_PROFILE_ROLE=inferwatt
 * (or bare, upstream) runs that process with --cpu-prof into .tmp/prof.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { createBareProxy } from './bare-proxy.mjs';
import { createSystemClock } from '../../src/core/clock.js';
import { silentLogger } from '../../src/core/logger.js';
import { createProxy, listenProxy } from '../../src/proxy/app.js';
import type { RequestTracker } from '../../src/attribution/types.js';

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1]! : def;
};
const monoNs = () => process.hrtime.bigint();

// A compact chat completion as vLLM sends it (shape of test/fixtures/llm-responses/vllm/*.json).
const JSON_BODY = Buffer.from(
  '{"id":"chatcmpl-1","object":"chat.completion","created":1,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello! How can I help you today?"},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"total_tokens":21,"completion_tokens":9}}',
);
/**
 * The request body: `{"model":"bench"}` (17 bytes), or with --body-kb N a chat request with N KiB of
 * message content (a long prompt: RAG context, history), `model` first and `stream` last.
 */
const BODY_KB = Number(flag('body-kb', '0'));
const REQUEST_BODY = Buffer.from(
  BODY_KB > 0
    ? JSON.stringify({
        model: 'bench',
        messages: Array.from({ length: BODY_KB }, (_, i) => ({ role: i % 2 ? 'assistant' : 'user', content: 'Retrieved context, "quoted" and \\ escaped, é ü. '.repeat(19) })),
        stream: false,
      })
    : '{"model":"bench"}',
);
const SSE_EVENTS = 20;
const SSE_GAP_MS = 10;

function startUpstream(port: number): void {
  const server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      if (req.url === '/hold') {
        // a long stream for the RSS test: an event every second until the client goes
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('data: {"model":"bench-model","choices":[]}\n\n');
        const t = setInterval(() => res.write('data: {"choices":[{"delta":{"content":"x"}}]}\n\n'), 1000);
        res.on('close', () => clearInterval(t));
        return;
      }
      if (req.url!.startsWith('/sse/')) {
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        let i = 0;
        const send = () => {
          if (res.destroyed) return;
          if (i === SSE_EVENTS) {
            res.end(`data: {"choices":[],"usage":{"prompt_tokens":12,"completion_tokens":${SSE_EVENTS}}}\n\ndata: [DONE]\n\n`);
            return;
          }
          res.write(`data: {"t":${monoNs()},"model":"bench-model","choices":[{"delta":{"content":"tok${i++}"}}]}\n\n`);
          setTimeout(send, SSE_GAP_MS);
        };
        send();
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': JSON_BODY.length });
      res.end(JSON_BODY);
    });
  });
  server.listen({ port, host: '127.0.0.1', backlog: 4096 }, () => process.send?.({ port: (server.address() as AddressInfo).port }));
}

async function startRole(role: string, upstream: string): Promise<void> {
  if (role === 'upstream') return startUpstream(0);
  if (role === 'bare') {
    const server = createBareProxy(upstream);
    server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, () => process.send?.({ port: (server.address() as AddressInfo).port }));
    return;
  }
  if (role === 'inferwatt') {
    let ended = 0;
    const tracker: RequestTracker = {
      inFlight: () => 0,
      open: (s) => ({ id: s.id, firstByte() {}, update() {}, end: () => void ended++ }),
    };
    const proxy = createProxy({ upstreams: [{ name: 'default', url: upstream }], tracker, clock: createSystemClock(), logger: silentLogger });
    const { address } = await listenProxy(proxy.app, '127.0.0.1', 0);
    process.send?.({ port: address.port });
  }
}

interface Child {
  proc: ChildProcess;
  url: string;
}

/**
 * nginx (Debian's package; `apt-get install nginx`) as a reverse proxy to the same upstream, configured
 * as one would for LLM streaming: keep-alive to the upstream, proxy_buffering off. One process
 * (master_process off) so that its CPU time is one PID's, like the Node proxies'.
 */
async function spawnNginx(upstream: string): Promise<Child | undefined> {
  const bin = ['/usr/sbin/nginx', '/usr/bin/nginx'].find((p) => existsSync(p));
  if (!bin) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'inferwatt-nginx-'));
  const port = await new Promise<number>((resolve) => {
    const s = http.createServer().listen(0, '127.0.0.1', () => { const p = (s.address() as AddressInfo).port; s.close(() => resolve(p)); });
  });
  const up = new URL(upstream);
  writeFileSync(join(dir, 'nginx.conf'), `daemon off;
master_process off;
worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${dir}/body; proxy_temp_path ${dir}/proxy; fastcgi_temp_path ${dir}/fcgi; uwsgi_temp_path ${dir}/uwsgi; scgi_temp_path ${dir}/scgi;
  upstream llm { server ${up.hostname}:${up.port}; keepalive 64; }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://llm;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
      proxy_request_buffering off;
    }
  }
}
`);
  const proc = spawn(bin, ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'inherit', 'inherit'] });
  for (let i = 0; i < 100; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const req = http.get(`http://127.0.0.1:${port}/`, (res) => { res.resume(); resolve(true); });
      req.on('error', () => resolve(false));
    });
    if (ok) return { proc, url: `http://127.0.0.1:${port}` };
    await new Promise((r) => setTimeout(r, 50));
  }
  proc.kill();
  throw new Error('nginx did not start; see its error.log in ' + dir);
}

function spawnRole(role: string, upstream = '', script = fileURLToPath(import.meta.url), profName = role): Promise<Child> {
  const self = script;
  const nodeFlags = (process.env.BENCH_PROFILE_ROLE ?? '').split(',').includes(profName) ? ['--cpu-prof', `--cpu-prof-dir=.tmp/prof/${profName}`] : [];
  // BENCH_ROLE_FLAGS: node flags for every server process (e.g. --trace-gc; lines are prefixed with the PID)
  const extraFlags = (process.env.BENCH_ROLE_FLAGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(process.execPath, [...nodeFlags, ...extraFlags, self, '--role', role, '--upstream', upstream], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    proc.once('message', (m: { port: number }) => resolve({ proc, url: `http://127.0.0.1:${m.port}` }));
    proc.once('exit', (code) => reject(new Error(`${role} exited ${code}`)));
  });
}

function request(agent: http.Agent, base: URL, path: string, onFirst?: (ns: bigint) => void, onData?: (c: Buffer) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.request({ agent, hostname: base.hostname, port: base.port, path, method: 'POST', headers: { 'content-type': 'application/json', 'content-length': REQUEST_BODY.length } }, (res) => {
      let first = true;
      res.on('data', (c: Buffer) => {
        if (first) {
          first = false;
          onFirst?.(monoNs());
        }
        onData?.(c);
      });
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(REQUEST_BODY);
  });
}

async function throughput(url: string, connections: number, seconds: number): Promise<{ rps: number; count: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: connections });
  const base = new URL(url);
  const until = Date.now() + seconds * 1000;
  let done = 0;
  const worker = async () => {
    while (Date.now() < until) {
      await request(agent, base, '/v1/chat/completions');
      done++;
    }
  };
  // warm-up: open the connections
  await Promise.all(Array.from({ length: connections }, () => request(agent, base, '/v1/chat/completions')));
  const t0 = Date.now();
  await Promise.all(Array.from({ length: connections }, worker));
  agent.destroy();
  return { rps: done / ((Date.now() - t0) / 1000), count: done };
}

/** CPU time (user + system) a process has used, in ms (/proc/PID/stat, clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(f[11]) + Number(f[12])) * 10;
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

async function latencyAtRate(url: string, rate: number, seconds: number, lat: number[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const base = new URL(url);
  const total = rate * seconds;
  const startNs = monoNs();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = startNs + BigInt(Math.round((i * 1e9) / rate));
    let now = monoNs();
    if (due > now) {
      await new Promise((r) => setTimeout(r, Number(due - now) / 1e6));
      now = monoNs();
    }
    const t = monoNs();
    pending.push(request(agent, base, '/v1/chat/completions').then(() => void lat.push(Number(monoNs() - t) / 1e6)));
  }
  await Promise.all(pending);
  agent.destroy();
}

async function sse(url: string, streams: number, ttfb: number[], delays: number[]): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: streams });
  const base = new URL(url);
  const re = /"t":(\d+)/g;
  await Promise.all(
    Array.from({ length: streams }, () => {
      const t0 = monoNs();
      let tail = '';
      return request(
        agent,
        base,
        // an OpenAI route (as real streaming clients use; the taps pick its markers) under a prefix that
        // tells the bench upstream to stream
        '/sse/v1/chat/completions',
        (ns) => ttfb.push(Number(ns - t0) / 1e6),
        (c) => {
          const now = monoNs();
          tail += c.toString('latin1');
          for (const m of tail.matchAll(re)) delays.push(Number(now - BigInt(m[1]!)) / 1e6);
          tail = tail.slice(tail.lastIndexOf('\n') + 1);
        },
      );
    }),
  );
  agent.destroy();
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function rssWithStreams(child: Child, streams: number): Promise<number> {
  const agent = new http.Agent({ keepAlive: false, maxSockets: Infinity });
  const base = new URL(child.url);
  const reqs: http.ClientRequest[] = [];
  let opened = 0;
  await new Promise<void>((resolve) => {
    for (let i = 0; i < streams; i++) {
      const req = http.request({ agent, hostname: base.hostname, port: base.port, path: '/hold', method: 'POST', headers: { 'content-length': 2 } }, (res) => {
        res.once('data', () => {
          if (++opened === streams) resolve();
        });
        res.on('error', () => {});
      });
      req.on('error', () => {});
      req.end('{}');
      reqs.push(req);
    }
  });
  await new Promise((r) => setTimeout(r, 1500)); // a few events flow on every stream
  const rss = rssMiB(child.proc.pid!);
  for (const r of reqs) r.destroy();
  agent.destroy();
  await new Promise((r) => setTimeout(r, 500));
  return rss;
}

async function main(): Promise<void> {
  const role = flag('role', '');
  if (role) return startRole(role, flag('upstream', ''));
  const seconds = Number(flag('seconds', '5'));
  const connections = Number(flag('connections', '32'));
  const rate = Number(flag('rate', '500'));
  const upstream = await spawnRole('upstream');
  const bare = await spawnRole('bare', upstream.url);
  const inferwatt = await spawnRole('inferwatt', upstream.url);
  // A/B of two versions in one run: BENCH_BASE_BUNDLE=<an older build of this file> adds its inferwatt
  // as the row "inferwatt (base)" (profile name `base`).
  const baseBundle = process.env.BENCH_BASE_BUNDLE;
  const base = baseBundle ? await spawnRole('inferwatt', upstream.url, baseBundle, 'base') : undefined;
  const nginx = process.env.BENCH_NO_NGINX ? undefined : await spawnNginx(upstream.url);
  if (!nginx) console.log('nginx not found (apt-get install nginx) or BENCH_NO_NGINX set: its row is left out');
  const targets: [string, Child | { url: string; proc?: undefined }][] = [
    ['direct', { url: upstream.url }],
    ...(nginx ? [['nginx', nginx] as [string, Child]] : []),
    ['bare node proxy', bare],
    ...(base ? [['inferwatt (base)', base] as [string, Child]] : []),
    ['inferwatt', inferwatt],
  ];
  const rows: Record<string, Record<string, number>> = {};
  for (const [name] of targets) rows[name] = { rps: 0, count: 0, cpuMs: 0 };
  // Rounds of 1 s per target in rotating order, so that the load of the shared host falls on all alike;
  // the CPU time each proxy process spends per request is the steadier figure.
  const rounds: Record<string, number[]> = {};
  const roundCpu: Record<string, number[]> = {};
  for (let round = 0; round < seconds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const [name, t] = targets[(round + k) % targets.length]!;
      const cpu0 = t.proc ? cpuMs(t.proc.pid!) : 0;
      const r = await throughput(t.url, connections, 1);
      const row = rows[name]!;
      row.count! += r.count;
      if (t.proc) row.cpuMs! += cpuMs(t.proc.pid!) - cpu0;
      (rounds[name] ??= []).push(r.rps);
      if (t.proc) (roundCpu[name] ??= []).push(((cpuMs(t.proc.pid!) - cpu0) * 1000) / r.count);
    }
  }
  for (const [name] of targets) {
    const rs = rounds[name]!.sort((a, b) => a - b);
    rows[name]!.rps = rs[Math.floor(rs.length / 2)]!;
    rows[name]!.cpuUsPerReq = (rows[name]!.cpuMs! * 1000) / rows[name]!.count!;
  }
  if (process.env.BENCH_ONLY_THROUGHPUT) {
    console.log(rows);
    // Ratios of adjacent measurements, round by round: steadier than ratios of totals on a shared host.
    const median = (a: number[]) => a.sort((x, y) => x - y)[Math.floor(a.length / 2)]!;
    const ratios = (a: string, b: string, m: Record<string, number[]>) => median(m[a]!.map((x, i) => x / m[b]![i]!));
    for (const name of Object.keys(roundCpu)) {
      if (name === 'bare node proxy') continue;
      console.log(`per-round median ${name}/bare: cpu/request ${ratios(name, 'bare node proxy', roundCpu).toFixed(3)}, req/s ${ratios(name, 'bare node proxy', rounds).toFixed(3)}`);
    }
    if (roundCpu['inferwatt (base)']) {
      console.log(`per-round median inferwatt/base: cpu/request ${ratios('inferwatt', 'inferwatt (base)', roundCpu).toFixed(3)}, req/s ${ratios('inferwatt', 'inferwatt (base)', rounds).toFixed(3)}`);
    }
    for (const c of [upstream, bare, inferwatt, ...(nginx ? [nginx] : []), ...(base ? [base] : [])]) c.proc.kill('SIGINT');
    return;
  }
  const lat: Record<string, number[]> = {};
  const ttfb: Record<string, number[]> = {};
  const delays: Record<string, number[]> = {};
  for (let round = 0; round < seconds; round++) {
    for (let k = 0; k < targets.length; k++) {
      const [name, t] = targets[(round + k) % targets.length]!;
      await latencyAtRate(t.url, rate, 1, (lat[name] ??= []));
      await sse(t.url, 50, (ttfb[name] ??= []), (delays[name] ??= []));
    }
  }
  for (const [name] of targets) {
    const [l, f1, d1] = [lat[name]!, ttfb[name]!, delays[name]!].map((a) => a.sort((x, y) => x - y));
    Object.assign(rows[name]!, { p50: pct(l!, 50), p99: pct(l!, 99), ttfbP50: pct(f1!, 50), chunkDelayP50: pct(d1!, 50), chunkDelayP99: pct(d1!, 99) });
  }
  for (const [name, t] of targets) if (t.proc) rows[name]!.rss1000 = await rssWithStreams(t, 1000);
  for (const c of [upstream, bare, inferwatt, ...(nginx ? [nginx] : []), ...(base ? [base] : [])]) c.proc.kill();

  const d = rows.direct!;
  const b = rows['bare node proxy']!;
  const f = (x: number | undefined, n = 2) => (x === undefined ? '—' : x.toFixed(n));
  console.log(`\nnode ${process.version}, ${seconds} s per measurement, ${connections} connections, ${rate} req/s fixed rate, 50 SSE streams × ${SSE_EVENTS} events per round; rounds of 1 s per target in rotating order\n`);
  console.log('| path | req/s (a), median of rounds | vs bare | proxy CPU µs/request | vs bare | p50 ms (b) | p99 ms | +p50 ms vs direct | +p99 ms | SSE TTFB p50 ms (c) | chunk delay p50 / p99 ms | RSS MiB, 1,000 streams (d) |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const [name] of targets) {
    const r = rows[name]!;
    console.log(
      `| ${name} | ${f(r.rps, 0)} | ${name === 'direct' ? '—' : f(r.rps! / b.rps!, 2)} | ${name === 'direct' ? '—' : f(r.cpuUsPerReq, 0)} | ${name === 'direct' ? '—' : f(r.cpuUsPerReq! / b.cpuUsPerReq!, 2)} | ${f(r.p50)} | ${f(r.p99)} | ${name === 'direct' ? '—' : f(r.p50! - d.p50!)} | ${name === 'direct' ? '—' : f(r.p99! - d.p99!)} | ${f(r.ttfbP50)} | ${f(r.chunkDelayP50)} / ${f(r.chunkDelayP99)} | ${f(r.rss1000, 0)} |`,
    );
  }
}

void main();
process.on('SIGINT', () => process.exit(0)); // lets --cpu-prof write its profile
