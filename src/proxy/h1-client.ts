/**
 * The proxy's HTTP/1.1 client to one upstream: a keep-alive pool of sockets, each request written in one
 * go, the response read by a parser of its own (status line, headers, a body framed by Content-Length,
 * chunked or the close of the connection) and handed to callbacks, without a ClientRequest, an
 * IncomingMessage, their streams and their listeners per request.
 *
 * Why: node:http's client is about half of what a bare node:http proxy spends per request. A proxy with
 * this client measured 30 µs of CPU per small JSON request against 65 µs for the bare node:http proxy,
 * 2.1× its throughput (docs/bench.md, "The upstream client"). undici's `dispatch` was cheaper than
 * node:http too, but added a tail of latency of its own (docs/bench.md).
 *
 * One file: the pool, the connection and the parser share the connection's state, and a request is one
 * object (`H1Exchange`) through all three.
 *
 *   dispatch(request, handler) ─► a free socket (LIFO: the most recently used is the warmest) or a new one
 *     head (+ first body chunk) written in one writev; a body from a stream: its chunks, framed by the
 *     client's Content-Length or chunked, with backpressure both ways
 *   socket 'data' ─► HEAD ─► (1xx: skipped) ─► FIXED n | CHUNK_SIZE ⇄ CHUNK_DATA … TRAILERS | UNTIL_CLOSE
 *     handler.onHeaders once, onData per body piece (false: the socket pauses until `resume`), then
 *     onComplete (the socket back to the pool when reusable) or onError (the socket destroyed), once.
 *
 * Idle sockets are closed by one sweep per pool, after keep-alive.ts's limits. No timeouts of its own
 * otherwise: forward.ts times the wait for the headers and the silences of the body.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Readable } from 'node:stream';
import { IDLE_MS, SWEEP_MS, idleLimitMs } from './keep-alive.js';

/**
 * What the client calls back for one request. Exactly one of onComplete and onError, once. A throw from
 * onHeaders or onData fails the request (onError); onComplete and onError must not throw.
 */
export interface UpstreamHandler {
  /** The final response's head (1xx other than 101 are skipped; a 101 is an error: Upgrade is never asked for). */
  onHeaders(status: number, statusText: string, rawHeaders: string[]): void;
  /**
   * A piece of the body, framing removed. false: the socket pauses until the exchange's `resume()` (the
   * rest of the read in hand is still delivered: memory stays bounded by one socket read).
   */
  onData(chunk: Buffer): boolean;
  onComplete(): void;
  onError(err: Error): void;
}

export interface H1Request {
  method: string;
  /** Origin-form, as sent on the request line. */
  path: string;
  /** Name/value pairs (a `rawHeaders` array) without hop-by-hop headers; Host among them. */
  headers: readonly string[];
  /** The request body, or null: none. Framed by a Content-Length among `headers`, else chunked. */
  body: Readable | null;
}

/** One request in flight: what the caller can do to it. */
export interface H1Exchange {
  /** Cancels the request (the connection is closed); onError(err) follows unless it had ended. */
  abort(err?: Error): void;
  /** Reading goes on after an onData that returned false. */
  resume(): void;
}

export interface H1PoolOptions {
  host: string;
  port: number;
  secure: boolean;
  /** TLS server name (SNI, certificate check); default: `host` unless it is an IP address. */
  servername?: string;
  /** More TLS options (a `ca` of one's own); certificates are checked unless these say otherwise. */
  tlsOptions?: tls.ConnectionOptions;
}

/** Free sockets kept at most (node:http's agent here had maxFreeSockets 256): a burst's extra ones are closed. */
const MAX_FREE = 256;
/** node:http's default --max-http-header-size; the same bound for trailers and a chunk-size line. */
const MAX_HEAD_BYTES = 16 * 1024;
/** Methods whose requests node:http frames with `Content-Length: 0` when they have no body. */
const NO_DEFAULT_BODY = new Set(['GET', 'HEAD', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT']);

const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
const BAD_PATH = /[^\u0021-\u00ff]/;
const STATUS_LINE = /^HTTP\/1\.([01]) (\d{3})(?: ([^\r\n]*))?$/;
/** Informational (1xx) heads accepted before the final one. */
const MAX_INFORMATIONAL = 8;
const CRLFCRLF = Buffer.from('\r\n\r\n');
const CRLF = '\r\n';
const LAST_CHUNK = '0\r\n\r\n';

function codedError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}
/** As node:http names a connection closed before the response ended. */
const hangUp = () => codedError('socket hang up', 'ECONNRESET');

/**
 * The request head: request line, headers, `Connection: keep-alive` (as node:http's keep-alive agent
 * sends), and the body's framing when the client's headers give none. Throws, before anything is sent,
 * on what node:http would refuse (a control character in a value, a bad name, a path with spaces).
 */
export function requestHead(method: string, path: string, headers: readonly string[], hasBody: boolean): { head: string; chunked: boolean } {
  if (!TOKEN.test(method)) throw codedError(`invalid method "${method}"`, 'ERR_INVALID_HTTP_TOKEN');
  if (BAD_PATH.test(path)) throw codedError('request path contains unescaped characters', 'ERR_UNESCAPED_CHARACTERS');
  let head = `${method} ${path} HTTP/1.1\r\n`;
  let hasLength = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    if (!TOKEN.test(name)) throw codedError(`invalid header name "${name}"`, 'ERR_INVALID_HTTP_TOKEN');
    if (BAD_VALUE.test(value)) throw codedError(`invalid character in header "${name}"`, 'ERR_INVALID_CHAR');
    if (name.length === 14 && name.toLowerCase() === 'content-length') hasLength = true;
    head += name + ': ' + value + CRLF;
  }
  head += 'Connection: keep-alive\r\n';
  const chunked = hasBody && !hasLength;
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  else if (!hasBody && !hasLength && !NO_DEFAULT_BODY.has(method)) head += 'Content-Length: 0\r\n';
  return { head: head + CRLF, chunked };
}

// Parser states.
const HEAD = 0;
const FIXED = 1;
const CHUNK_SIZE = 2;
const CHUNK_DATA = 3;
const CHUNK_DATA_END = 4;
const TRAILERS = 5;
const UNTIL_CLOSE = 6;

class Exchange implements H1Exchange {
  constructor(
    readonly conn: Conn,
    readonly handler: UpstreamHandler,
    readonly head: boolean,
  ) {}
  abort(err?: Error): void {
    if (this.conn.cur === this) this.conn.fail(err ?? codedError('request aborted', 'ECONNABORTED'));
  }
  resume(): void {
    if (this.conn.cur === this && this.conn.paused) {
      this.conn.paused = false;
      this.conn.socket.resume();
    }
  }
}

class Conn {
  readonly socket: net.Socket;
  cur: Exchange | null = null;
  paused = false;
  /** Free since, for the sweep: the time after which it is closed. */
  idleUntil = 0;
  // The request body being sent.
  private body: Readable | null = null;
  private pendingHead: string | null = null;
  private chunked = false;
  private bodyDone = true;
  private bodyPaused = false;
  // The response being read.
  private state = HEAD;
  private partial: Buffer | null = null;
  private remaining = 0;
  private keepAlive = true;
  private limitMs = IDLE_MS;
  private sizeDigits = 0;
  private inExt = false;
  private sawCR = false;
  /** Bytes of the framing line (or of all trailers) so far: bounded. */
  private lineBytes = 0;
  /** The trailer line being read is not empty. */
  private lineContent = false;
  /** Whitespace followed the chunk size: only an extension (`;`) may follow. */
  private sizeEnded = false;
  /** 1xx heads read for the current request. */
  private informational = 0;

  constructor(
    private readonly pool: H1Pool,
    socket: net.Socket,
  ) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 1_000); // as node:http's agent: a dead peer of an idle socket is found
    socket.on('data', (buf: Buffer) => this.read(buf));
    socket.on('end', () => {
      if (this.cur !== null && this.state === UNTIL_CLOSE) this.complete(false);
      else this.fail(hangUp());
      socket.destroy();
    });
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => {
      this.fail(hangUp());
      pool.closed(this);
    });
    socket.on('drain', () => {
      if (this.bodyPaused && this.body !== null) {
        this.bodyPaused = false;
        this.body.resume();
      }
    });
  }

  start(x: Exchange, head: string, chunked: boolean, body: Readable | null): void {
    this.cur = x;
    this.state = HEAD;
    this.keepAlive = true;
    this.limitMs = IDLE_MS;
    this.informational = 0;
    this.socket.ref(); // unref'd while free
    if (body === null) {
      this.bodyDone = true;
      this.socket.write(head, 'latin1');
      return;
    }
    this.body = body;
    this.chunked = chunked;
    this.bodyDone = false;
    // The head waits for the first chunk (one write for both, as node:http sends them).
    this.pendingHead = head;
    if (body.readableEnded) {
      this.onBodyEnd();
      return;
    }
    body.on('data', this.onBodyData);
    body.on('end', this.onBodyEnd);
    body.on('error', this.onBodyError);
    body.on('close', this.onBodyClose);
  }

  private readonly onBodyData = (data: Buffer | string): void => {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (chunk.length === 0) return;
    const s = this.socket;
    s.cork();
    if (this.pendingHead !== null) {
      s.write(this.pendingHead, 'latin1');
      this.pendingHead = null;
    }
    if (this.chunked) s.write(chunk.length.toString(16) + CRLF, 'latin1');
    s.write(chunk);
    if (this.chunked) s.write(CRLF, 'latin1');
    s.uncork();
    if (s.writableNeedDrain && this.body !== null) {
      this.bodyPaused = true;
      this.body.pause();
    }
  };

  private readonly onBodyEnd = (): void => {
    const s = this.socket;
    s.cork();
    if (this.pendingHead !== null) {
      s.write(this.pendingHead, 'latin1');
      this.pendingHead = null;
    }
    if (this.chunked) s.write(LAST_CHUNK, 'latin1');
    s.uncork();
    this.detachBody();
    this.bodyDone = true;
  };

  /** The request body failed, or closed before its end: so does the request. */
  private readonly onBodyError = (err: Error): void => {
    this.fail(err);
  };
  private readonly onBodyClose = (): void => {
    if (!this.bodyDone) this.fail(codedError('request body closed before its end', 'ERR_STREAM_PREMATURE_CLOSE'));
  };

  private detachBody(): void {
    const b = this.body;
    if (b === null) return;
    b.removeListener('data', this.onBodyData);
    b.removeListener('end', this.onBodyEnd);
    b.removeListener('error', this.onBodyError);
    b.removeListener('close', this.onBodyClose);
    if (this.bodyPaused) b.resume();
    this.body = null;
    this.bodyPaused = false;
    this.pendingHead = null;
  }

  /** The request fails: the socket is closed, the handler told once. */
  fail(err: Error): void {
    const x = this.cur;
    if (x === null) {
      this.socket.destroy();
      return;
    }
    this.cur = null;
    this.detachBody();
    this.partial = null;
    this.socket.destroy();
    x.handler.onError(err);
  }

  /**
   * The response is whole. The socket goes back to the pool unless the server said close, the request
   * body was not all sent (an early 4xx), or bytes follow the response (`leftover`): nothing asked for
   * them, and the next request would read them as its response.
   */
  private complete(leftover: boolean): void {
    const x = this.cur!;
    this.cur = null;
    this.partial = null;
    if (this.paused) {
      this.paused = false;
      this.socket.resume();
    }
    if (this.keepAlive && this.bodyDone && !leftover) this.pool.release(this, this.limitMs);
    else {
      this.detachBody();
      this.socket.destroy();
    }
    x.handler.onComplete();
  }

  private read(buf: Buffer): void {
    const x = this.cur;
    if (x === null) {
      // Bytes from a server with no request outstanding: the connection is out of step.
      this.socket.destroy();
      return;
    }
    let pos = 0;
    if (this.partial !== null) {
      buf = Buffer.concat([this.partial, buf]);
      this.partial = null;
    }
    const len = buf.length;
    while (pos < len) {
      // Ended (complete() or fail() settled the socket, bytes left over included): nothing more to read.
      if (this.cur !== x) return;
      switch (this.state) {
        case HEAD: {
          const end = buf.indexOf(CRLFCRLF, pos);
          if (end < 0) {
            if (len - pos > MAX_HEAD_BYTES) return this.fail(codedError('upstream response head too large', 'HPE_HEADER_OVERFLOW'));
            // A line ended by LF alone (node:http refuses it): failed now, not after waiting for a CRLF
            // CRLF that this server will never send.
            for (let i = buf.indexOf(0x0a, pos); i >= 0; i = buf.indexOf(0x0a, i + 1)) {
              if (i === pos || buf[i - 1] !== 0x0d) return this.fail(codedError('upstream response head: LF without CR', 'HPE_CR_EXPECTED'));
            }
            this.partial = buf.subarray(pos);
            return;
          }
          if (end - pos > MAX_HEAD_BYTES) return this.fail(codedError('upstream response head too large', 'HPE_HEADER_OVERFLOW'));
          const head = buf.toString('latin1', pos, end);
          pos = end + 4;
          if (!this.onHead(x, head, pos < len)) {
            // Done without a body, or failed: bytes after it are nobody's (complete() saw them).
            return;
          }
          break;
        }
        case FIXED:
        case CHUNK_DATA: {
          const n = Math.min(this.remaining, len - pos);
          const piece = buf.subarray(pos, pos + n);
          pos += n;
          this.remaining -= n;
          if (this.remaining === 0 && this.state === CHUNK_DATA) {
            this.state = CHUNK_DATA_END;
            this.sawCR = false;
          }
          if (n > 0) this.deliver(x, piece);
          if (this.remaining === 0 && this.state === FIXED && this.cur === x) this.complete(pos < len);
          break;
        }
        case UNTIL_CLOSE: {
          const piece = pos === 0 ? buf : buf.subarray(pos);
          pos = len;
          this.deliver(x, piece);
          break;
        }
        default:
          pos = this.readFraming(buf, pos);
          if (pos < 0) return;
      }
    }
  }

  /** A piece of the body to the handler; its false pauses the socket, its throw fails the request. */
  private deliver(x: Exchange, piece: Buffer): void {
    let more: boolean;
    try {
      more = x.handler.onData(piece);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (!more && this.cur === x && !this.paused) {
      this.paused = true;
      this.socket.pause();
    }
  }

  /** The bytes of chunked framing (size lines, CRLF after data, trailers); the new position, -1 when failed. */
  private readFraming(buf: Buffer, pos: number): number {
    const len = buf.length;
    while (pos < len) {
      const c = buf[pos++]!;
      if (++this.lineBytes > MAX_HEAD_BYTES) {
        this.fail(codedError('upstream chunk framing too long', 'HPE_INVALID_CHUNK_SIZE'));
        return -1;
      }
      if (this.sawCR && c !== 0x0a) {
        this.fail(codedError('upstream chunked body: CR without LF', 'HPE_STRICT'));
        return -1;
      }
      if (c === 0x0d) {
        this.sawCR = true;
        continue;
      }
      if (this.state === CHUNK_DATA_END) {
        if (c !== 0x0a) {
          this.fail(codedError('upstream chunked body: no CRLF after a chunk', 'HPE_INVALID_CHUNK_SIZE'));
          return -1;
        }
        this.startSizeLine();
        continue;
      }
      if (c === 0x0a) {
        this.sawCR = false;
        if (this.state === TRAILERS) {
          if (!this.lineContent) {
            this.complete(pos < len);
            return pos;
          }
          this.lineContent = false;
          continue;
        }
        // the end of a size line
        if (this.sizeDigits === 0) {
          this.fail(codedError('upstream chunked body: no chunk size', 'HPE_INVALID_CHUNK_SIZE'));
          return -1;
        }
        if (this.remaining === 0) {
          this.state = TRAILERS;
          this.lineBytes = 0;
          this.lineContent = false;
        } else this.state = CHUNK_DATA;
        return pos;
      }
      if (this.state === TRAILERS) {
        this.lineContent = true;
        continue;
      }
      if (this.inExt) {
        if (c === 0) {
          this.fail(codedError('upstream chunked body: NUL in a chunk extension', 'HPE_INVALID_CHUNK_SIZE'));
          return -1;
        }
        continue;
      }
      if (c === 0x3b) {
        this.inExt = true; // chunk extensions are ignored
        continue;
      }
      if (c === 0x20 || c === 0x09) {
        this.sizeEnded = true; // whitespace after the size: then only `;` or the line's end
        continue;
      }
      const v = this.sizeEnded ? -1 : c >= 0x30 && c <= 0x39 ? c - 0x30 : c >= 0x61 && c <= 0x66 ? c - 0x57 : c >= 0x41 && c <= 0x46 ? c - 0x37 : -1;
      if (v < 0 || this.sizeDigits >= 12) {
        this.fail(codedError('upstream chunked body: bad chunk size', 'HPE_INVALID_CHUNK_SIZE'));
        return -1;
      }
      this.remaining = this.remaining * 16 + v;
      this.sizeDigits++;
    }
    return pos;
  }

  private startSizeLine(): void {
    this.state = CHUNK_SIZE;
    this.remaining = 0;
    this.sizeDigits = 0;
    this.inExt = false;
    this.sizeEnded = false;
    this.sawCR = false;
    this.lineBytes = 0;
  }

  /**
   * A response head (`more`: bytes follow it in the read): false when the request has ended (failed, or
   * complete without a body).
   */
  private onHead(x: Exchange, head: string, more: boolean): boolean {
    const lines = head.split(CRLF);
    const m = STATUS_LINE.exec(lines[0]!);
    if (m === null) {
      this.fail(codedError('upstream sent an invalid status line', 'HPE_INVALID_CONSTANT'));
      return false;
    }
    const status = Number(m[2]);
    const raw: string[] = [];
    let length = -1;
    let chunked = false;
    let otherCoding = false;
    let connection: string | undefined;
    let hint: string | undefined;
    for (let i = 1; i < lines.length; i++) {
      // name ":" OWS value OWS, by hand: a regular expression with a lazy value backtracks quadratically
      // on a long run of spaces.
      const line = lines[i]!;
      const colon = line.indexOf(':');
      const name = colon > 0 ? line.slice(0, colon) : '';
      if (!TOKEN.test(name)) {
        this.fail(codedError('upstream sent an invalid header line', 'HPE_INVALID_HEADER_TOKEN'));
        return false;
      }
      let a = colon + 1;
      let b = line.length;
      while (a < b && (line.charCodeAt(a) === 0x20 || line.charCodeAt(a) === 0x09)) a++;
      while (b > a && (line.charCodeAt(b - 1) === 0x20 || line.charCodeAt(b - 1) === 0x09)) b--;
      const value = line.slice(a, b);
      if (BAD_VALUE.test(value)) {
        this.fail(codedError(`upstream sent an invalid character in header "${name}"`, 'HPE_INVALID_HEADER_TOKEN'));
        return false;
      }
      raw.push(name, value);
      switch (name.length === 10 || name.length === 14 || name.length === 17 ? name.toLowerCase() : '') {
        case 'content-length': {
          const n = /^\d{1,15}$/.test(value) ? Number(value) : -1;
          // one, as llhttp wants it (node:http refuses a second even when equal)
          if (n < 0 || length >= 0) {
            this.fail(codedError('upstream sent an invalid Content-Length', 'HPE_UNEXPECTED_CONTENT_LENGTH'));
            return false;
          }
          length = n;
          break;
        }
        case 'transfer-encoding': {
          const last = value.slice(value.lastIndexOf(',') + 1).trim().toLowerCase();
          chunked = last === 'chunked';
          otherCoding = !chunked;
          break;
        }
        case 'connection':
          connection = connection === undefined ? value.toLowerCase() : `${connection},${value.toLowerCase()}`;
          break;
        case 'keep-alive':
          hint = value;
          break;
      }
    }
    if (status >= 100 && status < 200) {
      if (status === 101) {
        this.fail(codedError('upstream switched protocols unasked (101)', 'HPE_UPGRADE_UNASKED'));
        return false;
      }
      if (++this.informational > MAX_INFORMATIONAL) {
        this.fail(codedError(`upstream sent more than ${MAX_INFORMATIONAL} informational responses`, 'HPE_INFORMATIONAL_LIMIT'));
        return false;
      }
      return true; // informational (100, 103): the final response follows
    }
    if (length >= 0 && (chunked || otherCoding)) {
      // Both framings: refused, as node:http refuses it (relayed, the length would not match the body).
      this.fail(codedError('upstream sent both Transfer-Encoding and Content-Length', 'HPE_INVALID_TRANSFER_ENCODING'));
      return false;
    }
    const http10 = m[1] === '0';
    this.keepAlive = http10 ? connection !== undefined && /(?:^|,)\s*keep-alive\s*(?:,|$)/.test(connection) : connection === undefined || !/(?:^|,)\s*close\s*(?:,|$)/.test(connection);
    this.limitMs = idleLimitMs(hint);
    if (this.limitMs <= 0) this.keepAlive = false;
    try {
      x.handler.onHeaders(status, m[3] ?? '', raw);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return false;
    }
    if (this.cur !== x) return false;
    if (x.head || status === 204 || status === 304) {
      this.complete(more);
      return false;
    }
    if (chunked) this.startSizeLine();
    else if (length >= 0) {
      if (length === 0) {
        this.complete(more);
        return false;
      }
      this.state = FIXED;
      this.remaining = length;
    } else {
      this.state = UNTIL_CLOSE;
      this.keepAlive = false;
    }
    return true;
  }
}

/** A keep-alive pool of connections to one origin. */
export class H1Pool {
  private readonly free: Conn[] = [];
  private readonly all = new Set<Conn>();
  private readonly sweep: NodeJS.Timeout;
  private readonly servername: string | undefined;
  private tlsSession: Buffer | undefined;
  private destroyed = false;

  constructor(private readonly opts: H1PoolOptions) {
    this.servername = opts.servername ?? (net.isIP(opts.host) ? undefined : opts.host);
    this.sweep = setInterval(() => {
      const now = performance.now();
      for (const c of [...this.free]) if (now >= c.idleUntil) c.socket.destroy();
    }, SWEEP_MS);
    this.sweep.unref();
  }

  /**
   * Sends a request. Throws (nothing sent, no callback) on a request that cannot be written; every
   * other failure, connecting included, comes to `handler.onError`.
   */
  dispatch(req: H1Request, handler: UpstreamHandler): H1Exchange {
    if (this.destroyed) throw codedError('upstream client closed', 'ERR_CLIENT_DESTROYED');
    const { head, chunked } = requestHead(req.method, req.path, req.headers, req.body !== null);
    // A free socket destroyed since (the sweep, a server's close) leaves the list on its 'close', later.
    let conn = this.free.pop();
    while (conn !== undefined && conn.socket.destroyed) conn = this.free.pop();
    conn ??= this.connect();
    const x = new Exchange(conn, handler, req.method === 'HEAD');
    conn.start(x, head, chunked, req.body);
    return x;
  }

  /** Sockets open now (free or in use). */
  get sockets(): number {
    return this.all.size;
  }

  destroy(): void {
    this.destroyed = true;
    clearInterval(this.sweep);
    for (const c of [...this.all]) c.fail(codedError('upstream client closed', 'ERR_CLIENT_DESTROYED'));
  }

  release(c: Conn, limitMs: number): void {
    if (this.destroyed || this.free.length >= MAX_FREE) {
      c.socket.destroy();
      return;
    }
    c.idleUntil = performance.now() + limitMs;
    c.socket.unref(); // a free socket does not keep the process alive (as node:http's agent)
    this.free.push(c);
  }

  closed(c: Conn): void {
    this.all.delete(c);
    const i = this.free.lastIndexOf(c);
    if (i >= 0) this.free.splice(i, 1);
  }

  private connect(): Conn {
    const { host, port } = this.opts;
    let socket: net.Socket;
    if (this.opts.secure) {
      // The last TLS session the server gave is offered again (as https.Agent caches them): a new
      // connection then resumes instead of a full handshake.
      const s = tls.connect({ ...this.opts.tlsOptions, host, port, servername: this.servername, ALPNProtocols: ['http/1.1'], ...(this.tlsSession ? { session: this.tlsSession } : {}) });
      s.on('session', (session: Buffer) => {
        this.tlsSession = session;
      });
      socket = s;
    } else socket = net.connect({ host, port });
    const c = new Conn(this, socket);
    this.all.add(c);
    return c;
  }
}
