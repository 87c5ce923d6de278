/**
 * A report from request records (`--records FILE`, the agent's JSONL; rotated files too, gzipped or
 * not, told by their first bytes, not their names). A record counts in the period when it ended in
 * (from, to]. Records hold attributed energy only: the idle energy that no request took is outside
 * this source's boundary, and under `amortize` the idle share each record carries (idleShareJ) is its
 * group's idle energy (docs/report.md).
 *
 * The same record in two files (a copy-and-truncate rotation caught mid-way) counts once, by id.
 */
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { errorMessage } from '../core/errors.js';
import type { FactorsInForce, ReportAccumulator, SeriesLabels } from './accumulator.js';
import type { Period } from './period.js';
import { ReportError, type SourceFacts } from './source.js';
import { ABSENT_LABEL } from './types.js';

/** The one host of a records report (records do not say which host they came from). */
export const RECORDS_HOST = 'records';

interface RecordLike {
  id: string;
  model: string | null;
  tenant: string | null;
  pool?: string | null;
  startedAt: string;
  durationMs: number;
  outcome: string;
  promptTokens: number | null;
  completionTokens: number | null;
  energyJ: { total: number };
  idleShareJ?: number;
  co2eGrams: number;
  factors: { region: string; gridGCo2ePerKWh: number; pue: number; wue: number; ewif: number; source: string };
  attribution?: string;
  complete?: boolean;
  energyByDeviceJ?: Record<string, number>;
}

const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);

function asRecord(v: unknown): RecordLike | undefined {
  const r = v as Partial<RecordLike> | null;
  if (!r || typeof r !== 'object' || typeof r.id !== 'string' || typeof r.startedAt !== 'string' || !num(r.durationMs)) return undefined;
  if (!r.energyJ || !num(r.energyJ.total) || !num(r.co2eGrams) || !r.factors) return undefined;
  const f = r.factors;
  if (typeof f.region !== 'string' || !num(f.gridGCo2ePerKWh) || !num(f.pue) || !num(f.wue) || !num(f.ewif)) return undefined;
  if (!Number.isFinite(Date.parse(r.startedAt))) return undefined;
  return r as RecordLike;
}

async function isGzip(file: string): Promise<boolean> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(2);
    const { bytesRead } = await fh.read(buf, 0, 2, 0);
    return bytesRead === 2 && buf[0] === 0x1f && buf[1] === 0x8b;
  } finally {
    await fh.close();
  }
}

export async function readRecords(files: readonly string[], period: Period, acc: ReportAccumulator): Promise<SourceFacts> {
  const seen = new Set<string>();
  const notes: string[] = [];
  const policies = new Set<string>();
  const devices = new Set<string>();
  let duplicates = 0;
  let incomplete = 0;
  let withIdleShare = 0;
  let inRange = 0;
  let firstStartMs = Infinity;
  let firstEndMs = Infinity;
  let lastEndMs = -Infinity;

  for (const file of files) {
    let input: Readable;
    let raw: Readable;
    try {
      const gz = await isGzip(file);
      raw = createReadStream(file);
      input = gz ? raw.pipe(createGunzip()) : raw;
    } catch (err) {
      throw new ReportError('RECORDS_UNREADABLE', `cannot read records file ${file}: ${errorMessage(err)}`, { cause: err });
    }
    let lineNo = 0;
    const bad: number[] = [];
    let pendingBad: number | undefined;
    // readline does not pass on its input's errors (a truncated .gz): catch them and end the loop.
    let streamError: unknown;
    const lines = createInterface({ input, crlfDelay: Infinity });
    for (const s of new Set([raw, input])) s.on('error', (err) => { streamError = err; lines.close(); });
    try {
      for await (const line of lines) {
        lineNo++;
        if (pendingBad !== undefined) { bad.push(pendingBad); pendingBad = undefined; }
        if (!line.trim()) continue;
        let rec: RecordLike | undefined;
        try { rec = asRecord(JSON.parse(line)); } catch { rec = undefined; }
        if (!rec) { pendingBad = lineNo; continue; }
        const endMs = Date.parse(rec.startedAt) + rec.durationMs;
        if (!(endMs > period.fromMs && endMs <= period.toMs)) continue;
        if (seen.has(rec.id)) { duplicates++; continue; }
        seen.add(rec.id);
        inRange++;
        firstStartMs = Math.min(firstStartMs, Date.parse(rec.startedAt));
        firstEndMs = Math.min(firstEndMs, endMs);
        lastEndMs = Math.max(lastEndMs, endMs);
        if (rec.complete === false) incomplete++;
        if (rec.attribution) policies.add(rec.attribution);
        for (const d of Object.keys(rec.energyByDeviceJ ?? {})) devices.add(d);
        pour(acc, rec, endMs);
        if ((rec.idleShareJ ?? 0) > 0) withIdleShare++;
      }
    } catch (err) {
      streamError ??= err;
    }
    if (streamError !== undefined) throw new ReportError('RECORDS_UNREADABLE', `cannot read records file ${file}: ${errorMessage(streamError)}`, { cause: streamError });
    // A bad last line is a record being written (the agent appends): skipped, said so; a bad line
    // elsewhere is damage, counted.
    if (pendingBad !== undefined) notes.push(`${file}: the last line (${pendingBad}) is not a whole record (still being written?) and was skipped`);
    if (bad.length) notes.push(`${file}: ${bad.length} line(s) are not request records and were skipped (first: line ${bad[0]})`);
  }

  if (duplicates) notes.push(`${duplicates} record(s) appeared in more than one file and were counted once (by id)`);
  if (incomplete) notes.push(`${incomplete} record(s) are incomplete (a sensor lagged past attribution.lagBoundMs): they hold only the energy measured in time`);
  const spanMs = inRange ? Math.max(0, Math.min(period.toMs, lastEndMs) - Math.max(period.fromMs, firstStartMs)) : 0;
  const iso = (ms: number) => new Date(ms).toISOString();
  return {
    hostSpanMs: new Map(inRange ? [[RECORDS_HOST, spanMs]] : []),
    coverage: inRange ? [{
      instance: RECORDS_HOST, cluster: ABSENT_LABEL, job: ABSENT_LABEL,
      firstSample: iso(firstEndMs), lastSample: iso(lastEndMs), samples: inRange, intervalS: null,
      coveredShare: spanMs / (period.toMs - period.fromMs), agentStartedAt: null, restarts: [], gaps: [],
    }] : [],
    notes,
    devices: devices.size ? [{ kind: 'device', method: 'as recorded', count: devices.size }] : [],
    hosts: inRange ? 1 : 0,
    attribution: { policy: [...policies].sort(), idle: withIdleShare ? ['amortize'] : ['unattributed'] },
    idle: withIdleShare
      ? 'the idle share amortized into the records (idleShareJ) only; idle energy that no request took is not in records and outside this report'
      : 'not included: records hold attributed energy only, and idle energy that no request took is outside this report (a report from Prometheus includes it)',
    anyData: inRange > 0,
  };
}

function pour(acc: ReportAccumulator, r: RecordLike, endMs: number): void {
  const labels: SeriesLabels = { model: r.model ?? 'unknown', tenant: r.tenant ?? 'unknown', pool: r.pool ?? 'default', instance: RECORDS_HOST, cluster: ABSENT_LABEL };
  const f: FactorsInForce = { region: r.factors.region, source: r.factors.source, year: null, gridGCo2ePerKWh: r.factors.gridGCo2ePerKWh, pue: r.factors.pue, wue: r.factors.wue, ewif: r.factors.ewif };
  const total = r.energyJ.total;
  const idle = Math.min(total, Math.max(0, r.idleShareJ ?? 0));
  // The record's CO2e covers its whole energy; its idle share takes the same fraction of it.
  const idleG = total > 0 ? (r.co2eGrams * idle) / total : 0;
  acc.requests(endMs, labels, RECORDS_HOST, 1);
  if (r.promptTokens !== null && num(r.promptTokens)) acc.tokens(endMs, labels, RECORDS_HOST, 'prompt', r.promptTokens);
  if (r.completionTokens !== null && num(r.completionTokens)) acc.tokens(endMs, labels, RECORDS_HOST, 'completion', r.completionTokens);
  acc.attributed(endMs, labels, RECORDS_HOST, total - idle, f);
  acc.co2e(endMs, labels, RECORDS_HOST, r.co2eGrams - idleG);
  if (idle > 0) acc.idle(endMs, RECORDS_HOST, idle, f, { labels, locationG: idleG });
}
