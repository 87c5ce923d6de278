import { describe, expect, it } from 'vitest';
import { splitProfile } from '../../bench/cpu-profile-split.mjs';

type Frame = { functionName: string; url: string };
/** A .cpuprofile as node --cpu-prof writes it: a call tree, sampled node ids and the µs between samples. */
function profile(stacks: { frames: Frame[]; us: number }[]) {
  const nodes: { id: number; callFrame: Frame & { scriptId: string; lineNumber: number; columnNumber: number }; children: number[] }[] = [];
  const node = (parent: number | undefined, f: Frame) => {
    const id = nodes.length + 1;
    nodes.push({ id, callFrame: { ...f, scriptId: '0', lineNumber: 0, columnNumber: 0 }, children: [] });
    if (parent !== undefined) nodes[parent - 1]!.children.push(id);
    return id;
  };
  const root = node(undefined, { functionName: '(root)', url: '' });
  // Sample i is taken at startTime + the sum of timeDeltas[0..i] and weighs the time until the next one:
  // stack i lasts its `us`, and a last, weightless sample closes the profile.
  const samples: number[] = [];
  const timeDeltas: number[] = [0];
  for (const s of stacks) {
    let at = root;
    for (const f of s.frames) at = node(at, f);
    samples.push(at);
    timeDeltas.push(s.us);
  }
  samples.push(root);
  return { nodes, samples, timeDeltas, startTime: 1_000, endTime: 1_000 + stacks.reduce((a, s) => a + s.us, 0) };
}

const D = 'file:///srv/inferwatt/dist';
const NM = 'file:///srv/inferwatt/node_modules';

describe('bench/cpu-profile-split.mjs', () => {
  it('gives each sample to the innermost inferwatt or dependency frame, node internals under it included; GC, (program) and idle apart', () => {
    const p = profile([
      { frames: [{ functionName: 'emit', url: 'node:events' }, { functionName: 'handle', url: `${D}/proxy/forward.js` }, { functionName: 'write', url: 'node:_http_outgoing' }, { functionName: 'writev', url: '' }], us: 40 },
      { frames: [{ functionName: 'advance', url: `${D}/attribution/ledger.js` }, { functionName: 'observeRecord', url: `${D}/exporter/metrics.js` }], us: 10 },
      { frames: [{ functionName: 'inc', url: `${NM}/prom-client/lib/counter.js` }], us: 5 },
      { frames: [{ functionName: 'parserOnHeadersComplete', url: 'node:_http_common' }], us: 25 },
      { frames: [{ functionName: '(garbage collector)', url: '' }], us: 15 },
      { frames: [{ functionName: '(program)', url: '' }], us: 5 },
      { frames: [{ functionName: '(idle)', url: '' }], us: 100 },
    ]);
    const split = splitProfile(p);
    const owner = Object.fromEntries(split.owner.map((o) => [o.name, o.us]));
    expect(split.busyUs).toBe(100);
    expect(split.idleUs).toBe(100);
    expect(owner['proxy (proxy/)']).toBe(40);
    expect(owner['metrics (exporter/metrics, label-bounder)']).toBe(10);
    expect(owner['metrics (prom-client)']).toBe(5);
    expect(owner['node internals (http, net, streams, timers)']).toBe(25);
    expect(owner.GC).toBe(15);
    expect(owner['(program): V8, native']).toBe(5);
    expect(split.self.find((s) => s.name === 'native writev')?.us).toBe(40);
  });

  it('counts only the samples inside the span it is given (CLOCK_MONOTONIC µs)', () => {
    const p = profile([
      { frames: [{ functionName: 'a', url: `${D}/proxy/forward.js` }], us: 10 },
      { frames: [{ functionName: 'b', url: `${D}/attribution/ledger.js` }], us: 10 },
      { frames: [{ functionName: 'c', url: `${D}/exporter/record-store.js` }], us: 10 },
    ]);
    const all = splitProfile(p);
    expect(all.busyUs).toBe(30);
    // samples at 1 000, 1 010 and 1 020 µs
    const mid = splitProfile(p, { fromUs: 1_005, toUs: 1_015 });
    expect(mid.owner.map((o) => o.name)).toEqual(['ledger (attribution/)']);
  });
});
