/**
 * `inferwattMiddleware`: for users who already run their own express or node:http front. It opens a
 * request window when the request arrives, reads the response their handler writes (res.write/res.end
 * are wrapped; the bytes pass unchanged) with the same taps as the proxy, and ends the window when the
 * response finishes (or `aborted` when the client goes away first). Same outcome rule as the proxy
 * (see window.ts). Sets `x-inferwatt-request-id` on the response.
 *
 * The request body is not read here (that would take the stream from the user's own handler); the model
 * comes from `req.body` when a body parser (e.g. `express.json()`) ran before, otherwise from the response.
 *
 * @example
 * ```ts
 * import express from 'express';
 * import { inferwattMiddleware } from 'inferwatt';
 *
 * const app = express();
 * app.use(express.json());
 * app.use(inferwattMiddleware({ tracker: agent.tracker, clock: agent.clock, pool: 'default' }));
 * app.post('/v1/chat/completions', async (req, res) => {
 *   res.writeHead(200, { 'content-type': 'text/event-stream' });
 *   for await (const event of myModel.stream(req.body)) res.write(`data: ${JSON.stringify(event)}\n\n`);
 *   res.end('data: [DONE]\n\n');
 * });
 *
 * // plain node:http
 * const mw = inferwattMiddleware({ tracker, clock });
 * http.createServer((req, res) => mw(req, res, () => handle(req, res)));
 * ```
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Clock } from '../core/clock.js';
import { errorMessage } from '../core/errors.js';
import { silentLogger, type Logger } from '../core/logger.js';
import type { RequestTracker } from '../attribution/types.js';
import type { RequestNoteSink } from '../core/request-notes.js';
import { beginExchange, DEFAULT_MAX_PARSE_BODY_BYTES, DEFAULT_TENANT_HEADER, finishExchange, responseTap, type ExchangeContext } from './exchange.js';
import { REQUEST_ID_HEADER } from './forward.js';
import type { ResponseTap } from './tap.js';
import { modelName } from './usage/state.js';

export interface MiddlewareOptions {
  /** `agent.tracker`; with its `note` method the records also get trace context and outcome reasons. */
  tracker: RequestTracker & Partial<RequestNoteSink>;
  clock: Clock;
  /** Pool (upstream name) the requests belong to. Default `default`. */
  pool?: string;
  logger?: Logger;
  /** Default `x-inferwatt-tenant`. */
  tenantHeader?: string;
  /** JSON response bodies up to this size are parsed for usage. Default 1 MiB. */
  maxParseBodyBytes?: number;
}

export type InferwattMiddleware = (
  req: IncomingMessage & { body?: unknown; originalUrl?: string },
  res: ServerResponse,
  next?: (err?: unknown) => void,
) => void;

type WriteArgs = [chunk: unknown, encoding?: unknown, cb?: unknown];

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (Buffer.isBuffer(chunk)) return chunk;
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return undefined;
}

// The user's handler may reuse a buffer after write(): the tap keeps copies of what it holds on to.
const copy = (b: Buffer) => Buffer.from(b);

export function inferwattMiddleware(opts: MiddlewareOptions): InferwattMiddleware {
  const { clock } = opts;
  const pool = opts.pool ?? 'default';
  const logger = opts.logger ?? silentLogger;
  const ctx: ExchangeContext = {
    tracker: opts.tracker, clock, logger,
    tenantHeader: (opts.tenantHeader ?? DEFAULT_TENANT_HEADER).toLowerCase(),
    maxParseBodyBytes: opts.maxParseBodyBytes ?? DEFAULT_MAX_PARSE_BODY_BYTES,
  };
  const tapFailed = (err: unknown) => {
    logger.rateLimited('warn', 'tap-failed', 'the response tap failed; the request goes on without its reading', { error: errorMessage(err) });
  };

  return function inferwatt(req, res, next) {
    const url = req.originalUrl ?? req.url ?? '/';
    const q = url.indexOf('?');
    const x = beginExchange(ctx, req, pool, q < 0 ? url : url.slice(0, q));
    const win = x.win;
    if (!res.headersSent) res.setHeader(REQUEST_ID_HEADER, x.id);

    const body = req.body as { model?: unknown; stream?: unknown } | undefined;
    const model = body && typeof body === 'object' ? modelName(body.model) : undefined;
    if (model !== undefined) win.request({ model, stream: typeof body!.stream === 'boolean' ? body!.stream : undefined, unread: undefined });

    let tap: ResponseTap | null | undefined;
    // Never throws into the user's res.write/res.end: a tap that fails loses its reading, nothing more.
    const observe = (chunk: unknown, encoding: unknown) => {
      try {
        observeUnguarded(chunk, encoding);
      } catch (err) {
        tap = null;
        tapFailed(err);
      }
    };
    const observeUnguarded = (chunk: unknown, encoding: unknown) => {
      const buf = toBuffer(chunk, encoding);
      if (!buf || buf.length === 0) return;
      win.firstByte();
      if (tap === undefined) {
        const ct = res.getHeader('content-type');
        const ce = res.getHeader('content-encoding');
        tap = responseTap(ctx, x, res.statusCode, typeof ct === 'string' ? ct : undefined, typeof ce === 'string' ? ce : undefined, copy) ?? null;
      }
      if (tap) {
        tap.write(buf);
        win.chunks(tap.chunks());
      }
    };

    // Unbound on purpose: they are called below with the response as `this` (apply), as node calls them.
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const origWrite = res.write;
    // eslint-disable-next-line @typescript-eslint/unbound-method
    const origEnd = res.end;
    res.write = function (this: ServerResponse, ...args: WriteArgs) {
      observe(args[0], args[1]);
      return (origWrite as (...a: WriteArgs) => boolean).apply(this, args);
    } as typeof res.write;
    res.end = function (this: ServerResponse, ...args: WriteArgs) {
      if (typeof args[0] !== 'function') observe(args[0], args[1]);
      return (origEnd as (...a: WriteArgs) => ServerResponse).apply(this, args);
    } as typeof res.end;

    const finish = (complete: boolean) => {
      const endMs = clock.nowMs();
      if (win.ended) return;
      if (complete) win.firstByte(); // a response without a body: it went out whole now (as in the proxy)
      const status = res.headersSent || complete ? res.statusCode : undefined;
      const t = tap ?? undefined;
      tap = null;
      finishExchange(x, t, endMs, status, complete ? undefined : 'aborted', complete, undefined, tapFailed);
    };
    res.once('finish', () => finish(true));
    res.once('close', () => {
      if (!res.writableFinished) finish(false);
    });
    next?.();
  };
}
