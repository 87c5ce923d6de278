import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { silentLogger } from '../../src/core/logger.js';
import { createLabelBounder, type LabelBounder } from '../../src/exporter/label-bounder.js';

/** The label of a value the agent has admitted (in the agent, the metric catalogue admits what the upstream served). */
const admitted = (b: LabelBounder, v: string | null) => {
  b.admit(v);
  return b.label(v);
};
import type { RequestRecord } from '../../src/exporter/record.js';
import { createRecordStore } from '../../src/exporter/record-store.js';

function rec(id: string, model: string | null, totalJ: number, prompt: number | null, completion: number | null, tenant: string | null = null, complete = true): RequestRecord {
  return {
    id, model, tenant, startedAt: '2026-01-01T00:00:00.000Z', durationMs: 1000, ttfbMs: null, outcome: 'ok', status: 200,
    promptTokens: prompt, completionTokens: completion, energyJ: { gpu: totalJ, cpu: 0, dram: 0, total: totalJ }, idleShareJ: 0,
    co2eGrams: totalJ / 1000, waterLiters: { onsite: 0, offsite: totalJ / 1e6, total: totalJ / 1e6 },
    factors: { region: 'world', gridGCo2ePerKWh: 480, pue: 1.2, wue: 0, ewif: 1, source: 'static:world' },
    attribution: 'time', complete, pool: 'default', api: null, energyByDeviceJ: {},
  };
}

const store = (keep: number, file?: string) => {
  const models = createLabelBounder({ max: 2 });
  const tenants = createLabelBounder({ max: 1 });
  return createRecordStore({ keep, file: file ?? null, logger: silentLogger, modelKey: (m) => admitted(models, m), tenantKey: (t) => admitted(tenants, t), sinceIso: 'x' });
};

describe('record store', () => {
  it('keeps the newest `keep` records, newest first, and forgets evicted ids', () => {
    const s = store(3);
    for (let i = 1; i <= 5; i++) s.add(rec(`r${i}`, 'a', i, 1, 1));
    expect(s.list(10).map((r) => r.id)).toEqual(['r5', 'r4', 'r3']);
    expect(s.list(2).map((r) => r.id)).toEqual(['r5', 'r4']);
    expect(s.get('r1')).toBeUndefined();
    expect(s.get('r4')?.energyJ.total).toBe(4);
  });

  it('summarises every record since start per model; per-token means use only requests with tokens', () => {
    const s = store(2);
    s.add(rec('1', 'a', 100, 10, 40));
    s.add(rec('2', 'a', 300, 20, 130));
    s.add(rec('3', 'a', 600, null, null)); // tokens unknown: counts per request, not per token
    s.add(rec('4', 'b', 50, 5, 5));
    s.add(rec('5', 'c', 10, 1, 1)); // third model: over the bound of 2 → "other"
    const sum = s.summary({ unattributedEnergyJ: 42 });
    const a = sum.models.find((m) => m.model === 'a')!;
    expect(a.requests).toBe(3);
    expect(a.meanEnergyJPerRequest).toBeCloseTo(1000 / 3, 12);
    expect(a.meanEnergyJPerToken).toBeCloseTo(400 / 200, 12);
    expect(sum.models.map((m) => m.model).sort()).toEqual(['a', 'b', 'other']);
    expect(sum.totals.requests).toBe(5);
    expect(sum.totals.energyJ).toBe(1060);
    expect(sum.unattributedEnergyJ).toBe(42);
    expect(sum.tenants).toEqual([expect.objectContaining({ tenant: 'unknown', requests: 5, energyJ: 1060 })]);
  });

  it('leaves incomplete records (partial energy) out of the means, not out of the sums', () => {
    const s = store(10);
    s.add(rec('1', 'a', 100, 10, 10));
    s.add(rec('2', 'a', 300, 10, 10));
    s.add(rec('3', 'a', 5, 10, 10, null, false)); // a sensor lagged: only part of its energy
    const a = s.summary().models.find((m) => m.model === 'a')!;
    expect(a.requests).toBe(3);
    expect(a.incompleteRequests).toBe(1);
    expect(a.energyJ).toBe(405);
    expect(a.meanEnergyJPerRequest).toBe(200);
    expect(a.meanEnergyJPerToken).toBe(400 / 40);
  });

  it('summarises per tenant, bounded: the first N tenants, then "other"', () => {
    const s = store(10);
    s.add(rec('1', 'a', 100, 1, 1, 'team-a'));
    s.add(rec('2', 'a', 50, 1, 1, 'team-b'));
    s.add(rec('3', 'a', 25, 1, 1, 'team-c'));
    s.add(rec('4', 'a', 10, 1, 1, 'team-a'));
    const t = Object.fromEntries(s.summary().tenants.map((x) => [x.tenant, x.energyJ]));
    expect(t).toEqual({ 'team-a': 110, other: 75 });
  });

  it('appends JSONL and flushes it on close', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inferwatt-rec-')), 'sub', 'records.jsonl');
    const s = store(10, file);
    s.add(rec('1', 'a', 1, 1, 1));
    s.add(rec('2', null, 2, null, null));
    await s.close();
    const lines = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => l.id)).toEqual(['1', '2']);
    expect(lines[1].model).toBeNull();
  });

  it('writes the file in batches: every record, in order, each line JSON.stringify of the record, across bursts and past the batch bound', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inferwatt-rec-')), 'records.jsonl');
    const s = store(100, file);
    const all: RequestRecord[] = [];
    // a burst of 300 records (past the 64 KiB batch bound: ~400 B each), then two more bursts after turns of the event loop
    for (const burst of [300, 5, 1]) {
      for (let i = 0; i < burst; i++) {
        const r = rec(`b${all.length}`, i % 2 ? 'a' : null, all.length + 0.125, i, null, i % 3 ? 't' : null);
        all.push(r);
        s.add(r);
      }
      await new Promise((r) => setImmediate(r));
    }
    await s.close();
    expect(readFileSync(file, 'utf8')).toBe(all.map((r) => JSON.stringify(r) + '\n').join(''));
  });

  it('serializes a large burst a slice per turn of the event loop (requests go on between slices), every record in order', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'inferwatt-rec-')), 'records.jsonl');
    const s = store(10, file);
    const all = Array.from({ length: 1000 }, (_, i) => rec(`s${i}`, 'a', i, 1, 1));
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      for (const r of all) s.add(r);
      expect(stringify).not.toHaveBeenCalled(); // nothing during the burst itself
      // queued after the store's first slice: runs once that slice is written, before the next
      const seenBetween = await new Promise<number>((resolve) => setImmediate(() => setImmediate(() => resolve(stringify.mock.calls.length))));
      expect(seenBetween).toBeGreaterThan(0);
      expect(seenBetween).toBeLessThan(1000);
    } finally {
      stringify.mockRestore();
    }
    await s.close();
    expect(readFileSync(file, 'utf8')).toBe(all.map((r) => JSON.stringify(r) + '\n').join(''));
  });

  it('finds a retained record by id after the ring has wrapped, newest first', () => {
    const s = store(4);
    for (let i = 0; i < 10; i++) s.add(rec(`r${i}`, 'a', i, 1, 1));
    expect(s.get('r9')?.energyJ.total).toBe(9);
    expect(s.get('r6')?.energyJ.total).toBe(6);
    expect(s.get('r5')).toBeUndefined();
    expect(store(4).get('r0')).toBeUndefined();
  });
});
