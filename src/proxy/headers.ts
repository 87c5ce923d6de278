import type { IncomingMessage } from 'node:http';
/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): meaningful only for one connection, so a proxy removes them, and
 * also every header that `Connection` names. `Transfer-Encoding` goes too: node:http re-frames the body
 * on each side (chunked when the length is unknown). `Proxy-*` is dropped as well (credentials meant for
 * this hop). Raw header arrays keep the order, the case and repeated headers (`set-cookie`).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/**
 * Adds to `into` the names a `Connection` value lists, except those dropped anyway as hop-by-hop (the
 * usual `keep-alive` adds nothing, so the common case makes no set and no second pass).
 */
function addConnectionTokens(value: string, into: Set<string> | undefined): Set<string> | undefined {
  if (value.indexOf(',') < 0) {
    const name = value.trim().toLowerCase();
    if (name && !isHopByHop(name)) (into ??= new Set()).add(name);
    return into;
  }
  for (const t of value.split(',')) {
    const name = t.trim().toLowerCase();
    if (name && !isHopByHop(name)) (into ??= new Set()).add(name);
  }
  return into;
}

export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName) || lowerName.startsWith('proxy-');
}

/**
 * Copies `raw` (a `rawHeaders` array) without hop-by-hop headers and without those in `drop` (lower
 * case), appending `extra` pairs.
 *
 * One pass over `raw` (hot path: every request and response); the names that `Connection` lists are
 * known only after it, so when there are any (rare) a second pass removes them from the copy.
 */
export function filterHeaders(raw: readonly string[], drop: ReadonlySet<string>, extra: readonly string[]): string[] {
  let named: Set<string> | undefined;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (lower === 'connection') {
      named = addConnectionTokens(raw[i + 1]!, named);
      continue;
    }
    if (isHopByHop(lower) || drop.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  if (named !== undefined) {
    let w = 0;
    for (let i = 0; i < out.length; i += 2) {
      if (named.has(out[i]!.toLowerCase())) continue;
      out[w++] = out[i]!;
      out[w++] = out[i + 1]!;
    }
    out.length = w;
  }
  for (let i = 0; i < extra.length; i++) out.push(extra[i]!);
  return out;
}

/** First value of a header in a `rawHeaders` array (name in lower case). */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}

/**
 * A header value as the client meant it. node:http reads header bytes as latin1, while clients (curl,
 * browsers, most HTTP libraries given a non-ASCII string) send UTF-8: `té` arrives as `tÃ©`. A value
 * with bytes above 0x7F is read again as UTF-8 when it is valid UTF-8, and kept as latin1 otherwise (a
 * client that did send latin1, as node:http's own client does). ASCII, the usual case, is returned as is.
 */
export function headerText(value: string): string {
  let i = 0;
  while (i < value.length && value.charCodeAt(i) < 0x80) i++;
  if (i === value.length) return value;
  try {
    return UTF8_STRICT.decode(Buffer.from(value, 'latin1'));
  } catch {
    return value;
  }
}

const UTF8_STRICT = new TextDecoder('utf-8', { fatal: true });

/**
 * The headers the proxy adds to a request it forwards (plain or upgraded): the upstream's Host, the
 * request id, and X-Forwarded-For (the chain so far, then the client), -Proto and -Host.
 */
export function forwardedHeaders(req: IncomingMessage, hostHeader: string, idHeader: string, id: string): string[] {
  const fwd = req.socket.remoteAddress;
  const prior = req.headers['x-forwarded-for'];
  const extra = [
    'Host', hostHeader,
    idHeader, id,
    'X-Forwarded-For', prior ? `${Array.isArray(prior) ? prior.join(', ') : prior}, ${fwd ?? ''}` : (fwd ?? ''),
    'X-Forwarded-Proto', 'http',
  ];
  if (req.headers.host) extra.push('X-Forwarded-Host', req.headers.host);
  return extra;
}
