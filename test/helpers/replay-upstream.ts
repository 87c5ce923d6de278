/**
 * A local LLM server that replays recorded responses (test/fixtures/llm-responses), on 127.0.0.1:0.
 *
 * A handler picks the reply for each request (by path, or by the `x-replay-fixture` header the tests
 * send). Bodies are written in chunks (one SSE event or NDJSON line per write by default, or fixed-size
 * byte chunks that cut lines and UTF-8 characters) with a small pause between writes, so that streaming
 * through the proxy is exercised. Fault modes: `reset` (socket destroyed before any response),
 * `close-mid-stream` (socket destroyed after some chunks), `hang` (never answers), `hold` (first chunk,
 * then waits for `release()`). Every request is recorded: method, url, headers, body size and sha256,
 * and whether the connection was closed before the response finished (what an abort looks like).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const FIXTURES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/llm-responses');

export interface Reply {
  status?: number;
  headers?: Record<string, string>;
  body: Buffer;
  /** 'events' (default for SSE/NDJSON): one write per event/line; a number: byte chunks; 'whole': one write. */
  chunking?: 'events' | 'whole' | number;
  /** Pause between writes; 0 = setImmediate. Default 0. */
  delayMs?: number;
  fault?: 'reset' | 'close-mid-stream' | 'hang' | 'hold';
  /** For close-mid-stream: chunks written before the socket is destroyed. Default 1. */
  faultAfterChunks?: number;
  /** Send Content-Length (default for non-streamed bodies) or stream chunked (default for SSE/NDJSON). */
  contentLength?: boolean;
}

export interface RecordedRequest {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  bodyBytes: number;
  bodySha256: string;
  /** The connection closed before the response was finished. */
  aborted: boolean;
  finished: boolean;
  /** Events in order, for ordering assertions: 'first-chunk-sent', 'finished', 'aborted'. */
  events: string[];
}

export interface ReplayUpstream {
  readonly url: string;
  readonly port: number;
  readonly requests: RecordedRequest[];
  /** Lets every `hold` reply go on. */
  release(): void;
  /** Resolves when `n` requests have been recorded as finished or aborted. */
  settled(n: number): Promise<void>;
  close(): Promise<void>;
}

export type ReplyFor = (req: http.IncomingMessage, body: Buffer) => Reply;

export function contentTypeOf(file: string): string {
  if (file.endsWith('.sse')) return 'text/event-stream; charset=utf-8';
  if (file.endsWith('.ndjson')) return 'application/x-ndjson';
  return 'application/json';
}

/** A reply from a fixture file; `.json.gz` goes out with `Content-Encoding: gzip`. */
export function fixtureReply(file: string, extra: Partial<Reply> = {}): Reply {
  const body = readFileSync(path.join(FIXTURES_DIR, file));
  const headers: Record<string, string> = { 'content-type': contentTypeOf(file.replace(/\.gz$/, '')) };
  if (file.endsWith('.gz')) headers['content-encoding'] = 'gzip';
  return { body, ...extra, headers: { ...headers, ...(extra.headers ?? {}) } };
}

/** Splits a body at event ends (`\n\n`) for SSE, at line ends for NDJSON. */
export function splitEvents(body: Buffer, sse: boolean): Buffer[] {
  const out: Buffer[] = [];
  const sep = Buffer.from(sse ? '\n\n' : '\n');
  let pos = 0;
  while (pos < body.length) {
    const i = body.indexOf(sep, pos);
    const end = i < 0 ? body.length : i + sep.length;
    out.push(body.subarray(pos, end));
    pos = end;
  }
  return out;
}

export function splitBytes(body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, Math.min(body.length, i + size)));
  return out;
}

function chunksOf(reply: Reply): Buffer[] {
  const ct = reply.headers?.['content-type'] ?? '';
  const streamed = ct.includes('event-stream') || ct.includes('ndjson');
  const chunking = reply.chunking ?? (streamed ? 'events' : 'whole');
  if (reply.body.length === 0) return [];
  if (chunking === 'whole') return [reply.body];
  if (chunking === 'events') return splitEvents(reply.body, ct.includes('event-stream'));
  return splitBytes(reply.body, chunking);
}

export async function startReplayUpstream(replyFor: ReplyFor): Promise<ReplayUpstream> {
  const requests: RecordedRequest[] = [];
  let held: (() => void)[] = [];
  let released = false;
  let waiters: { n: number; resolve: () => void }[] = [];
  const settledCount = () => requests.filter((r) => r.finished || r.aborted).length;
  const checkWaiters = () => {
    const n = settledCount();
    waiters = waiters.filter((w) => (n >= w.n ? (w.resolve(), false) : true));
  };

  const server = http.createServer({ requestTimeout: 0 }, (req, res) => {
    const hash = createHash('sha256');
    let bytes = 0;
    const pieces: Buffer[] = [];
    const rec: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', headers: req.headers, bodyBytes: 0, bodySha256: '', aborted: false, finished: false, events: [] };
    requests.push(rec);
    res.on('close', () => {
      if (!res.writableFinished && !rec.aborted) {
        rec.aborted = true;
        rec.events.push('aborted');
      }
      checkWaiters();
    });
    req.on('data', (c: Buffer) => {
      hash.update(c);
      bytes += c.length;
      if (bytes <= 1024 * 1024) pieces.push(c);
    });
    req.on('end', () => {
      rec.bodyBytes = bytes;
      rec.bodySha256 = hash.digest('hex');
      const reply = replyFor(req, bytes <= 1024 * 1024 ? Buffer.concat(pieces) : Buffer.alloc(0));
      if (reply.fault === 'reset') {
        req.socket.destroy();
        return;
      }
      if (reply.fault === 'hang') return;
      const chunks = chunksOf(reply);
      const ct = reply.headers?.['content-type'] ?? '';
      const useLength = reply.contentLength ?? !(ct.includes('event-stream') || ct.includes('ndjson'));
      const headers: Record<string, string | number> = { ...(reply.headers ?? {}) };
      if (useLength) headers['content-length'] = reply.body.length;
      res.writeHead(reply.status ?? 200, headers);
      if (!useLength) res.flushHeaders();
      let i = 0;
      const delay = reply.delayMs ?? 0;
      const next = () => {
        if (res.destroyed) return;
        if (reply.fault === 'close-mid-stream' && i >= (reply.faultAfterChunks ?? 1)) {
          req.socket.destroy();
          return;
        }
        if (i >= chunks.length) {
          res.end(() => {
            rec.finished = true;
            rec.events.push('finished');
            checkWaiters();
          });
          return;
        }
        res.write(chunks[i++]!);
        if (i === 1) rec.events.push('first-chunk-sent');
        if (i === 1 && reply.fault === 'hold' && !released) {
          held.push(schedule);
          return;
        }
        schedule();
      };
      const schedule = () => (delay > 0 ? setTimeout(next, delay) : setImmediate(next));
      next();
    });
  });
  await new Promise<void>((r) => server.listen({ port: 0, host: '127.0.0.1', backlog: 4096 }, r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    release() {
      released = true;
      const h = held;
      held = [];
      for (const f of h) f();
    },
    settled(n) {
      return new Promise((resolve) => {
        waiters.push({ n, resolve });
        checkWaiters();
      });
    },
    close() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
