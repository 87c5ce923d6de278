/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): meaningful only for one connection, so a proxy removes them, and
 * also every header that `Connection` names. `Transfer-Encoding` goes too: node:http re-frames the body
 * on each side (chunked when the length is unknown). `Proxy-*` is dropped as well (credentials meant for
 * this hop). Raw header arrays keep the order, the case and repeated headers (`set-cookie`).
 */
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

function connectionTokens(raw: readonly string[]): Set<string> | undefined {
  let tokens: Set<string> | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length !== 10 || raw[i]!.toLowerCase() !== 'connection') continue;
    for (const t of raw[i + 1]!.split(',')) {
      const name = t.trim().toLowerCase();
      if (name) (tokens ??= new Set()).add(name);
    }
  }
  return tokens;
}

export function isHopByHop(lowerName: string): boolean {
  return HOP_BY_HOP.has(lowerName) || lowerName.startsWith('proxy-');
}

/**
 * Copies `raw` (a `rawHeaders` array) without hop-by-hop headers and without those in `drop` (lower
 * case), appending `extra` pairs.
 */
export function filterHeaders(raw: readonly string[], drop: ReadonlySet<string>, extra: readonly string[]): string[] {
  const named = connectionTokens(raw);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (isHopByHop(lower) || drop.has(lower) || named?.has(lower)) continue;
    out.push(name, raw[i + 1]!);
  }
  for (const e of extra) out.push(e);
  return out;
}

/** First value of a header in a `rawHeaders` array (name in lower case). */
export function rawHeader(raw: readonly string[], lowerName: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i]!.length === lowerName.length && raw[i]!.toLowerCase() === lowerName) return raw[i + 1];
  }
  return undefined;
}
