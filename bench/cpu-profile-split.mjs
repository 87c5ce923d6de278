#!/usr/bin/env node
/**
 * Where the agent's CPU goes: a `node --cpu-prof` profile summarized by part of the program.
 *
 *   node bench/cpu-profile-split.mjs FILE.cpuprofile [--from-us T0 --to-us T1] [--requests N] [--files 20] [--functions 0]
 *
 * Two views of the same samples (each sample weighs the time until the next one):
 * - **owner**: each sample goes to the innermost frame on its stack that belongs to inferwatt (dist/,
 *   by part: ledger = dist/attribution, metrics, record store, proxy, …) or to a dependency
 *   (node_modules/<package>); what node:http or JSON.stringify do for the record store counts to the
 *   record store. Samples with no such frame stay node internals (the HTTP parser, sockets, timers
 *   called from the event loop), GC or (program) (V8 and native code the profiler cannot name).
 * - **self**: the file of the frame that was running, for the top --files files; with --functions N,
 *   also the top N functions.
 * Idle samples are left out; percentages are of the busy samples. With --from-us/--to-us (CLOCK_MONOTONIC
 * µs, as `process.hrtime`) only the samples in that span count (bench/whole-agent.mjs passes the loaded
 * seconds), and with --requests the figures are also given as µs per request.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** The part of the program a script URL belongs to, or undefined for node's own code and natives. */
function partOf(url) {
  const d = url.lastIndexOf('/dist/');
  if (d >= 0 && !url.includes('/node_modules/')) {
    const rel = url.slice(d + 6);
    if (rel.startsWith('attribution/')) return 'ledger (attribution/)';
    if (rel.startsWith('exporter/metrics') || rel.startsWith('exporter/label-bounder')) return 'metrics (exporter/metrics, label-bounder)';
    if (rel.startsWith('exporter/record-store')) return 'record store (exporter/record-store)';
    if (rel.startsWith('exporter/record') || rel.startsWith('impacts/')) return 'record + impacts (exporter/record, impacts/)';
    if (rel.startsWith('proxy/')) return 'proxy (proxy/)';
    if (rel.startsWith('energy/') || rel.startsWith('sensors/')) return 'sampling (energy/, sensors/)';
    if (rel === 'agent.js') return 'agent.js (onFinal wiring)';
    const slash = rel.indexOf('/');
    return `other inferwatt (${slash >= 0 ? rel.slice(0, slash + 1) : rel})`;
  }
  const n = url.lastIndexOf('/node_modules/');
  if (n >= 0) {
    const rest = url.slice(n + 14).split('/');
    const pkg = rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
    if (pkg === 'prom-client' || pkg === 'tdigest' || pkg === 'bintrees') return 'metrics (prom-client)';
    if (['express', 'router', 'finalhandler', 'send', 'body-parser', 'on-finished', 'parseurl', 'path-to-regexp'].includes(pkg)) return 'express';
    return `dependency ${pkg}`;
  }
  return undefined;
}

function selfFileOf(node) {
  const { url, functionName } = node.callFrame;
  if (!url) return functionName.startsWith('(') ? functionName : `native ${functionName || '(anonymous)'}`;
  const d = url.lastIndexOf('/dist/');
  if (d >= 0 && !url.includes('/node_modules/')) return 'dist/' + url.slice(d + 6);
  const n = url.lastIndexOf('/node_modules/');
  if (n >= 0) return url.slice(n + 1);
  return url;
}

/**
 * @param {{ nodes: any[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }} prof
 * @param {{ fromUs?: number, toUs?: number }} [span]
 */
export function splitProfile(prof, span = {}) {
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of prof.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const ownerCache = new Map();
  const ownerOf = (id) => {
    let o = ownerCache.get(id);
    if (o !== undefined) return o;
    const n = byId.get(id);
    const fn = n.callFrame.functionName;
    if (fn === '(garbage collector)') o = 'GC';
    else if (fn === '(program)') o = '(program): V8, native';
    else if (fn === '(idle)') o = 'idle';
    else {
      for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
        const p = partOf(byId.get(cur).callFrame.url);
        if (p) { o = p; break; }
      }
      o ??= 'node internals (http, net, streams, timers)';
    }
    ownerCache.set(id, o);
    return o;
  };
  const owner = new Map();
  const self = new Map();
  const fns = new Map();
  let busyUs = 0;
  let idleUs = 0;
  let t = prof.startTime;
  const n = prof.samples.length;
  for (let i = 0; i < n; i++) {
    t += prof.timeDeltas[i];
    const w = i + 1 < n ? prof.timeDeltas[i + 1] : 0;
    if (span.fromUs !== undefined && t < span.fromUs) continue;
    if (span.toUs !== undefined && t > span.toUs) continue;
    const id = prof.samples[i];
    const o = ownerOf(id);
    if (o === 'idle') { idleUs += w; continue; }
    busyUs += w;
    owner.set(o, (owner.get(o) ?? 0) + w);
    const node = byId.get(id);
    const f = selfFileOf(node);
    self.set(f, (self.get(f) ?? 0) + w);
    const fn = `${node.callFrame.functionName || '(anonymous)'} ${f}${node.callFrame.url ? `:${node.callFrame.lineNumber + 1}` : ''}`;
    fns.set(fn, (fns.get(fn) ?? 0) + w);
  }
  const sorted = (m) => [...m.entries()].sort((a, b) => b[1] - a[1]).map(([name, us]) => ({ name, us, share: busyUs > 0 ? us / busyUs : 0 }));
  return { busyUs, idleUs, owner: sorted(owner), self: sorted(self), functions: sorted(fns) };
}

export function formatSplit(split, requests, files = 20, functions = 0) {
  const per = (us) => (requests ? ` ${(us / requests).toFixed(2).padStart(7)} µs/req` : '');
  const lines = [`busy ${(split.busyUs / 1e6).toFixed(2)} s, idle ${(split.idleUs / 1e6).toFixed(2)} s${requests ? `; ${(split.busyUs / requests).toFixed(1)} µs of the main thread per request` : ''}`, '', 'by owner (innermost inferwatt or dependency frame on the stack):'];
  for (const r of split.owner) lines.push(`  ${(r.share * 100).toFixed(1).padStart(5)} %${per(r.us)}  ${r.name}`);
  lines.push('', `by self file (top ${files}):`);
  for (const r of split.self.slice(0, files)) lines.push(`  ${(r.share * 100).toFixed(1).padStart(5)} %${per(r.us)}  ${r.name}`);
  if (functions > 0) {
    lines.push('', `by function, self (top ${functions}):`);
    for (const r of split.functions.slice(0, functions)) lines.push(`  ${(r.share * 100).toFixed(1).padStart(5)} %${per(r.us)}  ${r.name}`);
  }
  return lines.join('\n');
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const a = process.argv.slice(2);
  const opt = (k) => { const i = a.indexOf(`--${k}`); return i >= 0 ? Number(a[i + 1]) : undefined; };
  const file = a.find((x) => x.endsWith('.cpuprofile'));
  if (!file) {
    console.error('usage: node bench/cpu-profile-split.mjs FILE.cpuprofile [--from-us T0 --to-us T1] [--requests N] [--files 20] [--functions 0]');
    process.exit(2);
  }
  const split = splitProfile(JSON.parse(readFileSync(file, 'utf8')), { fromUs: opt('from-us'), toUs: opt('to-us') });
  console.log(formatSplit(split, opt('requests'), opt('files') ?? 20, opt('functions') ?? 0));
}
