import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli.js';
import type { Report } from '../../src/report/types.js';

/**
 * Scenario: a records file rotated twice (the oldest gzipped, told by its bytes, not its name), the
 * current one with a record being written (no newline, cut), one record in two files (a
 * copy-and-truncate rotation caught mid-way), a damaged line, and records outside the period.
 */
const line = (id: string, model: string, startedAt: string, j: number, over: Record<string, unknown> = {}) => JSON.stringify({
  id, model, tenant: 'team', startedAt, durationMs: 500, ttfbMs: 10, outcome: 'ok', status: 200, promptTokens: 5, completionTokens: 7,
  energyJ: { gpu: j, cpu: 0, dram: 0, total: j }, idleShareJ: 0, co2eGrams: j / 1e5, waterLiters: { onsite: 0, offsite: 0, total: 0 },
  factors: { region: 'FR', gridGCo2ePerKWh: 44.18, pue: 1.56, wue: 0.55, ewif: 3.6737, source: 'static:ember' }, attribution: 'time', complete: true,
  pool: 'default', api: 'openai.chat', energyByDeviceJ: { 'sim-gpu0': j }, ...over,
});

function rotated(): { dir: string; files: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'inferwatt-records-'));
  const oldest = join(dir, 'records.jsonl.2.gz');
  const older = join(dir, 'records.jsonl.1');
  const current = join(dir, 'records.jsonl');
  writeFileSync(oldest, gzipSync([line('a', 'm1', '2025-03-01T10:00:00Z', 100), line('b', 'm1', '2025-03-01T10:01:00Z', 200), line('early', 'm1', '2025-02-01T00:00:00Z', 999)].join('\n') + '\n'));
  writeFileSync(older, [line('b', 'm1', '2025-03-01T10:01:00Z', 200), '{"not": "a record"}', line('c', 'm2', '2025-03-01T11:00:00Z', 50, { complete: false })].join('\n') + '\n');
  writeFileSync(current, `${line('d', 'm2', '2025-03-01T12:00:00Z', 25)}\n${line('e', 'm2', '2025-03-01T12:30:00Z', 10).slice(0, 40)}`);
  return { dir, files: [oldest, older, current] };
}

async function run(args: string[]): Promise<{ rc: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const rc = await main(['report', ...args], { stdout: (s) => { out += s; }, stderr: (s) => { err += s; }, env: {} });
  return { rc, out, err };
}

describe('a report from rotated, gzipped and damaged records files', () => {
  it('reads every file, counts a record in two files once, skips the damaged line and the one being written, and says so', async () => {
    const { files } = rotated();
    const { rc, out, err } = await run([...files.flatMap((f) => ['--records', f]), '--from', '2025-03-01', '--to', '2025-03-02', '--format', 'json']);
    expect(err).toBe('');
    expect(rc).toBe(0);
    const r = JSON.parse(out) as Report;
    expect(r.groups.map((g) => [g.model, g.requests, g.energyJ.attributed])).toEqual([['m1', 2, 300], ['m2', 2, 75]]);
    expect(r.totals.promptTokens).toBe(20);
    const notes = r.coverage.notes.join('\n');
    expect(notes).toMatch(/1 record\(s\) appeared in more than one file and were counted once/);
    expect(notes).toMatch(/records\.jsonl\.1: 1 line\(s\) are not request records .*line 2/);
    expect(notes).toMatch(/records\.jsonl: the last line \(2\) is not a whole record/);
    expect(notes).toMatch(/1 record\(s\) are incomplete/);
    expect(r.source).toEqual({ kind: 'records', files });
    expect(r.coverage.instances[0]).toMatchObject({ instance: 'records', samples: 4, firstSample: '2025-03-01T10:00:00.500Z', lastSample: '2025-03-01T12:00:00.500Z' });
  });

  it('a record counts in the period where it ended: the February one is outside; a period with none is "no data in range" (exit 1)', async () => {
    const { files } = rotated();
    const feb = await run(['--records', files[0]!, '--from', '2025-02-01', '--to', '2025-02-02', '--format', 'csv']);
    expect(feb.rc).toBe(0);
    expect(feb.out.split('\r\n')[1]).toMatch(/^group,m1,1,5,7,999,/);
    const none = await run(['--records', files[0]!, '--from', '2024-01-01', '--to', '2024-02-01']);
    expect(none).toMatchObject({ rc: 1, err: expect.stringMatching(/no data in range: no request record in .*records\.jsonl\.2\.gz ended between 2024-01-01T00:00:00\.000Z and 2024-02-01T00:00:00\.000Z/) });
  });

  it('a missing file and a damaged gzip file are runtime errors (exit 1) that name the file', async () => {
    const { dir } = rotated();
    const missing = await run(['--records', join(dir, 'nope.jsonl')]);
    expect(missing).toMatchObject({ rc: 1, err: expect.stringMatching(/cannot read records file .*nope\.jsonl: ENOENT/) });
    const broken = join(dir, 'broken.gz');
    writeFileSync(broken, gzipSync(Buffer.from(`${line('x', 'm1', '2025-03-01T10:00:00Z', 1)}\n`.repeat(50))).subarray(0, 40));
    const damaged = await run(['--records', broken, '--from', '2025-03-01', '--to', '2025-03-02']);
    expect(damaged).toMatchObject({ rc: 1, err: expect.stringMatching(/cannot read records file .*broken\.gz: unexpected end of file/) });
  });
});
