/**
 * HTTP Upgrade (WebSocket, h2c, …) through the proxy: a transparent tunnel, not attributed.
 *
 * node:http hands a request that asks for an upgrade (`Connection: upgrade` + `Upgrade`) to the server's
 * 'upgrade' listener with its raw socket. The request goes to the upstream chosen as for any request
 * (path prefix, Host, X-Forwarded-*, the request id), with `Connection: Upgrade` and `Upgrade` kept:
 * hop-by-hop headers, but this hop's handshake is the upstream's to answer. Then:
 * - 101: the upstream's status line and headers go to the client (with the request id), and bytes flow
 *   both ways untouched until either side closes;
 * - any other answer (the upstream declined, 426, 404, …): relayed as it is, then the connection closes;
 * - no answer (down, reset, `upstreamTimeoutMs`): a JSON error as for any request (502, 504).
 *
 * Not attributed: no window, no record. A session can last hours (its energy would be spread over all
 * of them as one window) and what travels in it is not an HTTP exchange the taps could read.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Clock } from '../core/clock.js';
import { errnoCode, errorMessage } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { filterHeaders, forwardedHeaders } from './headers.js';
import type { UpstreamRouter } from './upstreams.js';

export interface Tunneler {
  handle: (req: IncomingMessage, socket: Duplex, head: Buffer) => void;
  /** Tunnels open now (handshakes included). */
  open(): number;
  /** Cuts every tunnel. */
  closeAll(): void;
}

const REQUEST_ID_HEADER = 'x-inferwatt-request-id';
const DROP_REQUEST = new Set(['host', REQUEST_ID_HEADER, 'x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']);
const DROP_RESPONSE = new Set([REQUEST_ID_HEADER, 'content-length']);
const STATUS_TEXT: Record<number, string> = { 404: 'Not Found', 502: 'Bad Gateway', 504: 'Gateway Timeout' };

function headBlock(status: number, message: string, raw: readonly string[]): string {
  let s = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) s += `${raw[i]}: ${raw[i + 1]}\r\n`;
  return s + '\r\n';
}

function sendError(socket: Duplex, status: number, id: string, message: string, code: string, type: string): void {
  if (socket.destroyed) return;
  const body = JSON.stringify({ error: { message, type, code } });
  socket.end(headBlock(status, STATUS_TEXT[status] ?? '', ['Content-Type', 'application/json', 'Content-Length', String(Buffer.byteLength(body)), REQUEST_ID_HEADER, id, 'Connection', 'close']) + body);
}

export function createTunneler(opts: { router: UpstreamRouter; clock: Clock; logger: Logger; upstreamTimeoutMs?: number }): Tunneler {
  const { router, clock, logger } = opts;
  // Tunnels are rare and long-lived: a Set is fine here (the hot path's Slots are for per-request churn).
  const open = new Set<Duplex>();

  function handle(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const id = randomUUID();
    socket.on('error', () => socket.destroy());
    const target = router.select(req.url ?? '/');
    if (!target) {
      sendError(socket, 404, id, 'no upstream serves this path', 'no_upstream', 'invalid_request_error');
      return;
    }
    const { upstream, path } = target;
    open.add(socket);
    socket.once('close', () => open.delete(socket));

    const extra = forwardedHeaders(req, upstream.hostHeader, REQUEST_ID_HEADER, id);
    extra.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? '');
    let upReq: ReturnType<typeof upstream.request>;
    try {
      upReq = upstream.request({ method: req.method ?? 'GET', path, headers: filterHeaders(req.rawHeaders, DROP_REQUEST, extra) });
    } catch (err) {
      sendError(socket, 502, id, `request could not be forwarded: ${errorMessage(err)}`, 'bad_request', 'upstream_error');
      return;
    }
    let timedOut = false;
    const cancelTimer = opts.upstreamTimeoutMs !== undefined && opts.upstreamTimeoutMs > 0
      ? clock.setTimer(() => {
          timedOut = true;
          upReq.destroy(new Error('upstream timeout'));
        }, opts.upstreamTimeoutMs)
      : undefined;
    // The client gone before the upstream answered: cancel.
    const onClientClose = () => upReq.destroy();
    socket.once('close', onClientClose);

    upReq.on('error', (err) => {
      cancelTimer?.();
      const code = errnoCode(err);
      logger.rateLimited('warn', 'tunnel-failed', `upgrade to upstream ${upstream.name} failed`, { error: errorMessage(err), code });
      if (timedOut) sendError(socket, 504, id, `upstream "${upstream.name}" did not answer within ${opts.upstreamTimeoutMs} ms`, 'upstream_timeout', 'upstream_error');
      else sendError(socket, 502, id, `upstream "${upstream.name}" failed: ${code ?? errorMessage(err)}`, code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'EHOSTUNREACH' ? 'upstream_unreachable' : 'upstream_error', 'upstream_error');
    });

    upReq.on('upgrade', (res: IncomingMessage, upSocket: Duplex, upHead: Buffer) => {
      cancelTimer?.();
      socket.off('close', onClientClose);
      if (socket.destroyed) {
        upSocket.destroy();
        return;
      }
      const raw = [...res.rawHeaders, REQUEST_ID_HEADER, id];
      socket.write(headBlock(101, res.statusMessage ?? 'Switching Protocols', raw));
      if (upHead.length > 0) socket.write(upHead);
      if (head.length > 0) upSocket.write(head);
      const cut = () => {
        socket.destroy();
        upSocket.destroy();
      };
      upSocket.on('error', cut);
      socket.on('error', cut);
      upSocket.on('close', cut);
      socket.on('close', cut);
      open.add(upSocket);
      upSocket.once('close', () => open.delete(upSocket));
      upSocket.pipe(socket);
      socket.pipe(upSocket);
    });

    // The upstream declined the upgrade: its answer as it is, then the connection closes (so the body
    // needs no framing of its own beyond its length, when it has one).
    upReq.on('response', (res: IncomingMessage) => {
      cancelTimer?.();
      socket.off('close', onClientClose);
      socket.once('close', () => res.destroy());
      const length = res.headers['content-length'];
      const raw = filterHeaders(res.rawHeaders, DROP_RESPONSE, [REQUEST_ID_HEADER, id, 'Connection', 'close', ...(length !== undefined ? ['Content-Length', length] : [])]);
      socket.write(headBlock(res.statusCode ?? 502, res.statusMessage ?? '', raw));
      res.pipe(socket);
    });

    upReq.end();
  }

  return {
    handle,
    open: () => open.size,
    closeAll() {
      for (const s of [...open]) s.destroy();
    },
  };
}
