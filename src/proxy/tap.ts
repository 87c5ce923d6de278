/**
 * Taps: read a request or response body as it passes, never change or hold back a byte.
 *
 * Response tap: the framing comes from Content-Type (`text/event-stream` → SSE, `application/x-ndjson`
 * and friends → NDJSON, JSON otherwise), or from the first bytes when the type says nothing useful.
 * - SSE/NDJSON: documents are cut incrementally (only the unfinished line is kept) and only a few are
 *   parsed: the first ones until the model is known, those with an in-band error, and the LAST one that
 *   may carry usage (kept as a reference and parsed once at the end, so continuous usage on every chunk
 *   costs one parse, not one per token).
 * - JSON: the body is kept up to `maxParseBytes` and parsed once at the end. A larger body (an
 *   embeddings batch easily passes 1 MiB) is not parsed: only its last 64 KiB are kept, and the members
 *   that carry usage there (`"usage": {…}`, `"model": "…"`, Ollama's counts) are cut out and parsed alone
 *   (tail.ts). Best effort: whether such a member is top-level is not checked.
 * - Content-Encoding gzip/deflate/br: a copy is decompressed with node:zlib for the tap only (the client
 *   gets the original bytes); other encodings (zstd, stacked codings) are not read: tokens unknown.
 * A body that does not parse leaves its tokens unknown, never 0.
 */
import zlib from 'node:zlib';
import { createNdjsonReader } from './ndjson.js';
import { hasAnyMarker, isDoneSentinel } from './json-scan.js';
import type { ApiId } from './routes.js';
import { createSseReader } from './sse.js';
import { createTailWindow, readTail } from './tail.js';
import { createUsageState, ERROR_MARKERS, finalMarkersFor, READ_KEYS, readDocument, type UsageState } from './usage/index.js';
import { modelName } from './usage/state.js';
import { keySet, projectTopLevel } from './json-project.js';

export type Framing = 'json' | 'sse' | 'ndjson';

export interface TapResult {
  model: string | undefined;
  promptTokens: number | undefined;
  completionTokens: number | undefined;
  /** Of promptTokens, those served from the server's prompt cache, when it says. */
  cachedPromptTokens: number | undefined;
  /** The body reported an error in-band (the HTTP status did not). */
  errorSeen: boolean;
  framing: Framing | undefined;
  /** Documents (events, lines, the JSON body) seen. */
  documents: number;
  /** Of a streamed body (SSE, NDJSON), the documents other than `[DONE]`: its content chunks, roughly one per decode step. */
  chunks: number;
  parseFailures: number;
  /** Why the body was not (fully) read, if it was not: too large, an unsupported encoding, a decode error. */
  unread: 'too_large' | 'encoding' | 'decode_error' | 'incomplete' | undefined;
}

export interface ResponseTapOptions {
  api: ApiId | undefined;
  contentType: string | undefined;
  contentEncoding: string | undefined;
  /** Bound for a JSON body kept to be parsed; also the bound of one SSE/NDJSON line. */
  maxParseBytes: number;
  /** Copies byte ranges kept across writes; needed when the writer may reuse its buffers (middleware). */
  retain?: (b: Buffer) => Buffer;
}

export interface ResponseTap {
  write(chunk: Buffer): void;
  /** Content chunks of a streamed body read so far (0 for a JSON body): the proxy's decode marks count them. */
  chunks(): number;
  /**
   * End of the body. `complete` false: the stream was cut (client or upstream abort); what was read
   * so far is kept, the unfinished tail is dropped. `done` is called once, maybe synchronously.
   */
  end(complete: boolean, done: (result: TapResult) => void): void;
}

/** Model attempts: Azure's first chunk has `"model": ""`, TGI 2.1.2 sends `""` on every chunk. */
const MAX_MODEL_ATTEMPTS = 4;

function framingOf(contentType: string | undefined): Framing | undefined {
  if (!contentType) return undefined;
  // the usual values first: no lower-casing copy and no substring searches on every response
  if (contentType === 'application/json') return 'json';
  if (contentType === 'text/event-stream') return 'sse';
  const ct = contentType.toLowerCase();
  if (ct.includes('event-stream')) return 'sse';
  if (ct.includes('ndjson') || ct.includes('jsonl') || ct.includes('json-seq') || ct.includes('jsonlines')) return 'ndjson';
  if (ct.includes('json')) return 'json';
  return undefined;
}

/** First bytes of an untyped body: SSE fields, or JSON. */
function sniff(chunk: Buffer, api: ApiId | undefined): Framing {
  let i = 0;
  while (i < chunk.length && (chunk[i] === 0x20 || chunk[i] === 0x0a || chunk[i] === 0x0d || chunk[i] === 0x09)) i++;
  const b = chunk[i];
  if (b === 0x3a /* : */ || b === 0x64 /* d(ata) */ || b === 0x65 /* e(vent) */ || b === 0x69 /* i(d) */) return 'sse';
  // Ollama streams are NDJSON; a single object reads the same way as NDJSON.
  if (api !== undefined && api.startsWith('ollama.')) return 'ndjson';
  return 'json';
}

function parseInto(buf: Buffer, state: UsageState, api: ApiId | undefined): boolean {
  let doc: unknown;
  let i = 0;
  while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
  if (buf[i] === 0x7b /* { */) {
    // An object (every document but TGI's `[{…}]`): only the members the readers look at are parsed.
    doc = projectTopLevel(buf, READ_KEYS);
    if (doc === undefined) {
      state.parseFailures++;
      return false;
    }
  } else {
    try {
      doc = JSON.parse(buf.toString('utf8'));
    } catch {
      state.parseFailures++;
      return false;
    }
  }
  readDocument(doc, state, api);
  return true;
}

function createPlainTap(opts: ResponseTapOptions): ResponseTap {
  const { api, maxParseBytes } = opts;
  const retain = opts.retain ?? ((b: Buffer) => b);
  const state = createUsageState();
  const finalMarkers = finalMarkersFor(api);
  const countTokenEvents = api === 'tgi.generate_stream' || api === 'tgi.compat';
  let framing = framingOf(opts.contentType);
  let modelAttempts = 0;
  let pending: Buffer | null = null;
  let unread: TapResult['unread'];
  let chunks = 0;

  // One streamed document (SSE data or NDJSON line); a view valid until the next write unless retained.
  const onDoc = (doc: Buffer, errorEvent: boolean) => {
    state.documents++;
    if (isDoneSentinel(doc)) return;
    chunks++;
    if (errorEvent) state.errorSeen = true;
    if (errorEvent || hasAnyMarker(doc, ERROR_MARKERS)) {
      parseInto(doc, state, api);
      return;
    }
    if (countTokenEvents) state.tokenEvents++;
    if (state.model === undefined && modelAttempts < MAX_MODEL_ATTEMPTS) {
      modelAttempts++;
      if (parseInto(doc, state, api)) return;
    }
    if (hasAnyMarker(doc, finalMarkers)) pending = retain(doc);
  };

  let sse: ReturnType<typeof createSseReader> | undefined;
  let ndjson: ReturnType<typeof createNdjsonReader> | undefined;
  let jsonPieces: Buffer[] | null = [];
  let jsonBytes = 0;
  let tail: ReturnType<typeof createTailWindow> | undefined;

  const start = (first: Buffer) => {
    framing ??= sniff(first, api);
    if (framing === 'sse') sse = createSseReader(onDoc, maxParseBytes, retain);
    else if (framing === 'ndjson') ndjson = createNdjsonReader((d) => onDoc(d, false), maxParseBytes, retain);
  };

  const result = (): TapResult => ({
    model: state.model,
    promptTokens: state.promptTokens,
    completionTokens: state.completionTokens,
    cachedPromptTokens: state.cachedPromptTokens,
    errorSeen: state.errorSeen,
    framing,
    documents: state.documents,
    chunks,
    parseFailures: state.parseFailures,
    unread,
  });

  return {
    chunks: () => chunks,
    write(chunk) {
      if (chunk.length === 0) return;
      if (!sse && !ndjson && jsonPieces !== null && jsonBytes === 0) start(chunk);
      if (sse) return sse.push(chunk);
      if (ndjson) return ndjson.push(chunk);
      if (tail) return tail.push(chunk);
      if (jsonPieces === null) return;
      jsonBytes += chunk.length;
      if (jsonBytes > maxParseBytes) {
        // over the bound: forwarded, not parsed; only the end of the body is kept for its usage
        tail = createTailWindow(retain);
        for (const p of jsonPieces) tail.push(p);
        tail.push(chunk);
        jsonPieces = null;
        unread = 'too_large';
        return;
      }
      jsonPieces.push(retain(chunk));
    },
    end(complete, done) {
      if (sse) sse.finish(complete);
      else if (ndjson) ndjson.finish(complete);
      else if (tail) {
        if (complete && readTail(tail.bytes(), state, api)) unread = undefined;
        tail = undefined;
      }
      else if (jsonPieces !== null && jsonBytes > 0) {
        if (complete) {
          state.documents++;
          parseInto(jsonPieces.length === 1 ? jsonPieces[0]! : Buffer.concat(jsonPieces, jsonBytes), state, api);
        } else unread = 'incomplete';
        jsonPieces = null;
      }
      if (pending !== null) {
        parseInto(pending, state, api);
        pending = null;
      }
      if (countTokenEvents && state.completionTokens === undefined && state.tokenEvents > 0 && framing === 'sse') {
        state.completionTokens = state.tokenEvents;
      }
      done(result());
    },
  };
}

function decoderFor(encoding: string): zlib.Gunzip | zlib.Inflate | zlib.BrotliDecompress | undefined {
  switch (encoding) {
    case 'gzip':
    case 'x-gzip':
      return zlib.createGunzip();
    case 'deflate':
      return zlib.createInflate();
    case 'br':
      return zlib.createBrotliDecompress();
    default:
      return undefined;
  }
}

export function createResponseTap(opts: ResponseTapOptions): ResponseTap {
  const encoding = opts.contentEncoding?.trim().toLowerCase();
  const inner = createPlainTap(opts);
  if (!encoding || encoding === 'identity') return inner;

  const decoder = decoderFor(encoding);
  if (!decoder) {
    return {
      write() {},
      chunks: () => 0,
      end(_complete, done) {
        inner.end(true, (r) => done({ ...r, unread: 'encoding' }));
      },
    };
  }
  // The decompressed copy is bounded like a line (SSE/NDJSON) or a JSON body; past it the tap stops.
  let decodeError = false;
  let decodedBytes = 0;
  const bound = opts.maxParseBytes * 4;
  // zlib's events come after the caller's (guarded) write and end have returned: a reader that threw here
  // would be uncaught and `done` never called. It stops the tap instead, reported like a decode error.
  decoder.on('data', (out: Buffer) => {
    decodedBytes += out.length;
    if (decodedBytes > bound * 16 || decodeError) return;
    try {
      inner.write(out);
    } catch {
      decodeError = true;
    }
  });
  decoder.on('error', () => {
    decodeError = true;
  });
  const retain = opts.retain ?? ((b: Buffer) => b);
  return {
    write(chunk) {
      if (!decodeError) decoder.write(retain(chunk));
    },
    // Counted as the decompressed copy is read, a little behind the bytes.
    chunks: () => inner.chunks(),
    end(complete, done) {
      const finish = () => inner.end(complete && !decodeError, (r) => done(decodeError ? { ...r, unread: 'decode_error' } : r));
      if (!complete || decodeError) {
        decoder.destroy();
        finish();
        return;
      }
      let called = false;
      let answered = false;
      const answer = (r: TapResult) => {
        answered = true;
        done(r);
      };
      const once = () => {
        if (called) return;
        called = true;
        try {
          inner.end(!decodeError, (r) => answer(decodeError ? { ...r, unread: 'decode_error' } : r));
        } catch {
          if (!answered) answer({ model: undefined, promptTokens: undefined, completionTokens: undefined, cachedPromptTokens: undefined, errorSeen: false, framing: undefined, documents: 0, chunks: 0, parseFailures: 0, unread: 'decode_error' });
        }
      };
      decoder.once('end', once);
      decoder.once('error', once);
      decoder.once('close', once);
      decoder.end();
    },
  };
}

export interface RequestInfo {
  model: string | undefined;
  stream: boolean | undefined;
  /** Why the body was not read, if it was not. */
  unread: 'too_large' | 'encoding' | 'not_json' | 'invalid' | 'empty' | undefined;
}

export interface RequestTap {
  write(chunk: Buffer): void;
  end(): RequestInfo;
}

/**
 * The request members the tap reads. The body is read with json-project.ts at any size: a chat request
 * is mostly prompt text, which that skips with Buffer#indexOf; JSON.parse of a 110 KB request took
 * ≈ 400 µs on the dev host, and even a 17-byte body costs twice as much to parse (microbench, this
 * host: 480–830 against 240–380 ns).
 */
const REQUEST_KEYS = keySet(['model', 'stream']);

/**
 * Request body tap: learns `model` and `stream` from a JSON body of at most `maxBytes`; a larger (or
 * encoded) body is forwarded without being kept or parsed. The parsed prompt is dropped at once.
 */
export function createRequestTap(maxBytes: number, contentLength: number | undefined, contentEncoding: string | undefined): RequestTap {
  let pieces: Buffer[] | null = [];
  let bytes = 0;
  let unread: RequestInfo['unread'];
  if (contentEncoding && contentEncoding.toLowerCase() !== 'identity') {
    pieces = null;
    unread = 'encoding';
  } else if (contentLength !== undefined && contentLength > maxBytes) {
    pieces = null;
    unread = 'too_large';
  }
  return {
    write(chunk) {
      if (pieces === null) return;
      bytes += chunk.length;
      if (bytes > maxBytes) {
        pieces = null;
        unread = 'too_large';
        return;
      }
      pieces.push(chunk);
    },
    end() {
      const info: RequestInfo = { model: undefined, stream: undefined, unread };
      if (pieces === null) return info;
      if (bytes === 0) return { ...info, unread: 'empty' };
      const buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, bytes);
      pieces = null;
      let i = 0;
      while (i < buf.length && (buf[i] === 0x20 || buf[i] === 0x0a || buf[i] === 0x0d || buf[i] === 0x09)) i++;
      if (buf[i] !== 0x7b /* { */) return { ...info, unread: 'not_json' };
      const d = projectTopLevel(buf, REQUEST_KEYS);
      if (d === undefined) return { ...info, unread: 'invalid' };
      info.model = modelName(d.model);
      if (typeof d.stream === 'boolean') info.stream = d.stream;
      return info;
    },
  };
}
