import { accessSync, closeSync, constants, createWriteStream, mkdirSync, openSync, statSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import type { Logger } from '../core/logger.js';
import { ConfigError, errnoCode, errorMessage } from '../core/errors.js';
import type { RequestRecord } from './record.js';

/**
 * Recent records in memory (a bounded ring, for /api/requests), running per-model totals (for
 * /api/summary, over every record since start, not only the retained ones) and an optional JSONL file.
 *
 * Per record (hot path: the ledger finalises records in bursts, one per sensor sample) the store writes
 * one ring slot and three accumulators, and queues the record for the file. The queue is serialized
 * after the burst (setImmediate), at most SLICE_RECORDS records per turn of the event loop, each slice one
 * write: a burst of 1,500 records serialized at once (~780 bytes of JSON each) held every request that
 * arrived meanwhile for several milliseconds (docs/bench.md). `get(id)` scans the ring instead of
 * keeping an id → record Map: a Map that gains and loses an entry per request churns its tables, which
 * V8 then keeps alive through scavenges with the records they point at (the problem core/slots.ts
 * describes), and a lookup by id is an API call, not a per-request operation.
 */
export interface ModelSummary {
  model: string;
  requests: number;
  /**
   * Requests finalised with `complete: false` (a sensor lagged past the bound): they hold only part of
   * their energy, so they count in `requests` and the sums but not in the means, which would be biased low.
   */
  incompleteRequests: number;
  /** Complete requests with known token counts, and their tokens: per-token means use only these. */
  requestsWithTokens: number;
  promptTokens: number;
  completionTokens: number;
  /** Sums over every request, complete or not. */
  energyJ: number;
  co2eGrams: number;
  waterLiters: number;
  /** Means over complete requests. */
  meanEnergyJPerRequest: number;
  meanEnergyJPerToken: number | null;
  meanCo2eGramsPerRequest: number;
  meanCo2eGramsPerToken: number | null;
  meanWaterLitersPerRequest: number;
  meanWaterLitersPerToken: number | null;
}

export interface Summary {
  since: string;
  models: ModelSummary[];
  /** The same per tenant (the tenant header), bounded like the models: beyond the first N, `other`. */
  tenants: (Omit<ModelSummary, 'model'> & { tenant: string })[];
  totals: Omit<ModelSummary, 'model'>;
  /** Energy measured while no request was active (under the `unattributed` idle policy). */
  unattributedEnergyJ: number;
}

export interface RecordStore {
  add(rec: RequestRecord): void;
  get(id: string): RequestRecord | undefined;
  /** Newest first. */
  list(limit: number): RequestRecord[];
  summary(extra?: { unattributedEnergyJ?: number }): Summary;
  /**
   * The JSONL file's state: `writeErrors` counts the records that could not be appended; after the first
   * failed write the file is not written again until restart (`problem` says why), and /readyz fails.
   */
  fileHealth(): { writeErrors: number; problem: string | undefined };
  /** Flushes and closes the JSONL file. */
  close(): Promise<void>;
}

const OPEN_ERRORS: Record<string, string> = {
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'a parent in the path is not a directory',
  ENOSPC: 'no space left on the device',
};

const openProblem = (file: string, why: string) => `records.file (--records, INFERWATT_RECORDS): cannot open "${file}" to append records: ${why}`;
const reason = (err: unknown): string => { const code = errnoCode(err); return (code && OPEN_ERRORS[code]) ?? errorMessage(err); };

/**
 * Whether the records file could be opened for appending, without creating anything: run with the other
 * configuration checks, so that a bad path is reported with them. The file must be a writable non-directory,
 * or be missing under a writable directory (missing parents are created when it is opened).
 */
export function recordsFileProblem(file: string): string | undefined {
  try {
    if (statSync(file).isDirectory()) return openProblem(file, OPEN_ERRORS.EISDIR!);
    accessSync(file, constants.W_OK);
    return undefined;
  } catch (err) {
    if (errnoCode(err) !== 'ENOENT') return openProblem(file, reason(err));
  }
  for (let dir = dirname(file); ; dir = dirname(dir)) {
    try {
      if (!statSync(dir).isDirectory()) return openProblem(file, OPEN_ERRORS.ENOTDIR!);
      accessSync(dir, constants.W_OK | constants.X_OK);
      return undefined;
    } catch (err) {
      const code = errnoCode(err);
      if (code === 'ENOTDIR') return openProblem(file, OPEN_ERRORS.ENOTDIR!);
      if (code !== 'ENOENT' || dirname(dir) === dir) return openProblem(file, reason(err));
    }
  }
}

/**
 * Opens the records file for appending at start-up, creating missing parent directories (as `mkdir -p`);
 * a path that cannot be opened is a configuration error (exit 2), never an agent that runs writing nothing.
 */
export function openRecordsFile(file: string): number {
  try {
    mkdirSync(dirname(file), { recursive: true });
    return openSync(file, 'a');
  } catch (err) {
    throw new ConfigError([openProblem(file, reason(err))]);
  }
}

interface Sums { energyJ: number; co2eGrams: number; waterLiters: number }
interface Acc {
  requests: number; incompleteRequests: number;
  /** Every request. */ all: Sums;
  /** Complete requests, for the per-request means. */ complete: Sums; completeRequests: number;
  /** Complete requests with token counts, for the per-token means. */ withTokens: Sums; requestsWithTokens: number;
  promptTokens: number; completionTokens: number;
}
/** Records serialized per turn of the event loop: ~0.5 ms of JSON.stringify, then the requests go on. */
const SLICE_RECORDS = 128;

const sums = (): Sums => ({ energyJ: 0, co2eGrams: 0, waterLiters: 0 });
const emptyAcc = (): Acc => ({ requests: 0, incompleteRequests: 0, all: sums(), complete: sums(), completeRequests: 0, withTokens: sums(), requestsWithTokens: 0, promptTokens: 0, completionTokens: 0 });
const add = (s: Sums, r: RequestRecord) => { s.energyJ += r.energyJ.total; s.co2eGrams += r.co2eGrams; s.waterLiters += r.waterLiters.total; };

function finish(a: Acc): Omit<ModelSummary, 'model'> {
  const tokens = a.promptTokens + a.completionTokens;
  const per = (x: number, n: number) => (n > 0 ? x / n : 0);
  const perToken = (x: number) => (tokens > 0 ? x / tokens : null);
  return {
    requests: a.requests,
    incompleteRequests: a.incompleteRequests,
    requestsWithTokens: a.requestsWithTokens,
    promptTokens: a.promptTokens,
    completionTokens: a.completionTokens,
    energyJ: a.all.energyJ,
    co2eGrams: a.all.co2eGrams,
    waterLiters: a.all.waterLiters,
    meanEnergyJPerRequest: per(a.complete.energyJ, a.completeRequests),
    meanEnergyJPerToken: perToken(a.withTokens.energyJ),
    meanCo2eGramsPerRequest: per(a.complete.co2eGrams, a.completeRequests),
    meanCo2eGramsPerToken: perToken(a.withTokens.co2eGrams),
    meanWaterLitersPerRequest: per(a.complete.waterLiters, a.completeRequests),
    meanWaterLitersPerToken: perToken(a.withTokens.waterLiters),
  };
}

export function createRecordStore(opts: {
  keep: number;
  file?: string | null;
  logger: Logger;
  /** Bounds the model keys of the summary the same way as the metric labels. */
  modelKey: (model: string | null) => string;
  tenantKey: (tenant: string | null) => string;
  sinceIso: string;
}): RecordStore {
  const ring = new Array<RequestRecord | undefined>(opts.keep);
  let next = 0;
  let count = 0;
  const perModel = new Map<string, Acc>();
  const perTenant = new Map<string, Acc>();
  const total = emptyAcc();
  let out: WriteStream | undefined;
  let writeFailed: string | undefined;
  let writeErrors = 0;
  // Records not yet serialized, pending[head..]: written a slice per turn of the event loop. And the
  // records handed to the stream whose write has not completed: lost, and counted, if the stream fails.
  let pending: RequestRecord[] = [];
  let head = 0;
  let unconfirmed = 0;
  let flushQueued = false;
  /** Serializes and writes up to `max` pending records; true when some are left. */
  const writeSlice = (max: number): boolean => {
    const end = Math.min(pending.length, head + max);
    const n = end - head;
    if (n > 0) {
      if (out && writeFailed === undefined) {
        let batch = '';
        for (let i = head; i < end; i++) batch += JSON.stringify(pending[i]) + '\n';
        unconfirmed += n;
        out.write(batch, (err) => { if (!err) unconfirmed -= n; });
      } else if (out) writeErrors += n;
      // the written records are not kept alive by the queue
      for (let i = head; i < end; i++) (pending as (RequestRecord | undefined)[])[i] = undefined;
    }
    head = end;
    if (head < pending.length) return true;
    pending = [];
    head = 0;
    return false;
  };
  const flushSlice = () => {
    flushQueued = writeSlice(SLICE_RECORDS);
    if (flushQueued) setImmediate(flushSlice);
  };
  const flush = () => {
    writeSlice(Infinity);
  };

  if (opts.file) {
    const fd = openRecordsFile(opts.file);
    try {
      out = createWriteStream(opts.file, { fd, flags: 'a' });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    out.on('error', (err) => {
      // The stream is destroyed: the records being written are lost, and so is every later one (counted in flush).
      writeErrors += unconfirmed;
      unconfirmed = 0;
      writeFailed = `records file ${opts.file} cannot be written: ${errnoCode(err) ?? errorMessage(err)}; records are kept in memory only until restart`;
      opts.logger.rateLimited('error', 'records-file', `${writeFailed} (${errorMessage(err)})`);
    });
  }

  const accumulate = (a: Acc, r: RequestRecord) => {
    a.requests += 1;
    add(a.all, r);
    if (!r.complete) {
      a.incompleteRequests += 1;
      return;
    }
    a.completeRequests += 1;
    add(a.complete, r);
    if (r.promptTokens !== null || r.completionTokens !== null) {
      a.requestsWithTokens += 1;
      a.promptTokens += r.promptTokens ?? 0;
      a.completionTokens += r.completionTokens ?? 0;
      add(a.withTokens, r);
    }
  };

  return {
    add(rec) {
      ring[next] = rec;
      next = (next + 1) % opts.keep;
      count = Math.min(count + 1, opts.keep);
      const key = opts.modelKey(rec.model);
      let acc = perModel.get(key);
      if (!acc) perModel.set(key, (acc = emptyAcc()));
      accumulate(acc, rec);
      const tkey = opts.tenantKey(rec.tenant);
      let tacc = perTenant.get(tkey);
      if (!tacc) perTenant.set(tkey, (tacc = emptyAcc()));
      accumulate(tacc, rec);
      accumulate(total, rec);
      if (out && writeFailed === undefined) {
        pending.push(rec);
        if (!flushQueued) {
          flushQueued = true;
          setImmediate(flushSlice);
        }
      } else if (out) writeErrors += 1;
    },
    get(id) {
      // newest first, as list(): an id is unique, so the first match is the one
      for (let i = 1; i <= count; i++) {
        const r = ring[(next - i + opts.keep) % opts.keep];
        if (r !== undefined && r.id === id) return r;
      }
      return undefined;
    },
    list(limit) {
      const n = Math.max(0, Math.min(limit, count));
      const res: RequestRecord[] = [];
      for (let i = 1; i <= n; i++) {
        const r = ring[(next - i + opts.keep) % opts.keep];
        if (r) res.push(r);
      }
      return res;
    },
    summary(extra) {
      return {
        since: opts.sinceIso,
        models: [...perModel.entries()].map(([model, a]) => ({ model, ...finish(a) })).sort((x, y) => y.requests - x.requests),
        tenants: [...perTenant.entries()].map(([tenant, a]) => ({ tenant, ...finish(a) })).sort((x, y) => y.requests - x.requests),
        totals: finish(total),
        unattributedEnergyJ: extra?.unattributedEnergyJ ?? 0,
      };
    },
    fileHealth: () => ({ writeErrors, problem: writeFailed }),
    close() {
      flush();
      return new Promise((resolve) => {
        if (!out) return resolve();
        const s = out;
        out = undefined;
        if (writeFailed !== undefined || s.destroyed) { s.destroy(); resolve(); return; }
        s.end(() => resolve());
      });
    },
  };
}
