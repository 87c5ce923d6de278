/**
 * Byte-level pre-filters for JSON documents, so that the taps parse (JSON.parse) only the few documents
 * of a stream that can carry usage, an error or the model, instead of every token chunk.
 *
 * A marker is a member name in quotes followed by `:` and a value whose first bytes are checked. Inside a
 * JSON string every `"` is escaped, so `"usage"` followed by `:` cannot come from prompt or completion
 * text; a marker is only a hint (a false positive costs one parse, the parse decides).
 */
export interface Marker {
  /** `"name"` as bytes, quotes included. */
  readonly key: Buffer;
  /** The value must start with one of these bytes (e.g. `{`), or be any value but `null` when absent. */
  readonly firstBytes?: readonly number[];
  /** Or the value must be one of these JSON strings (bytes after the opening quote, closing quote included). */
  readonly stringValues?: readonly Buffer[];
}

export function marker(name: string, opts: { startsWith?: string; notNull?: boolean; oneOf?: string[] } = {}): Marker {
  return {
    key: Buffer.from(`"${name}"`),
    ...(opts.startsWith !== undefined ? { firstBytes: [...opts.startsWith].map((c) => c.charCodeAt(0)) } : {}),
    ...(opts.oneOf ? { stringValues: opts.oneOf.map((s) => Buffer.from(`${s}"`)) } : {}),
  };
}

function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** True when `doc` holds `m`'s key with a matching value. `doc` is a view bounded to one document. */
export function hasMarker(doc: Buffer, m: Marker): boolean {
  const n = doc.length;
  let from = 0;
  for (;;) {
    const i = doc.indexOf(m.key, from);
    if (i < 0) return false;
    from = i + 1;
    let j = i + m.key.length;
    while (j < n && isSpace(doc[j])) j++;
    if (doc[j] !== 0x3a) continue;
    j++;
    while (j < n && isSpace(doc[j])) j++;
    if (j >= n) return false;
    const b = doc[j]!;
    if (m.firstBytes) {
      if (m.firstBytes.includes(b)) return true;
      continue;
    }
    if (m.stringValues) {
      if (b !== 0x22) continue;
      for (const v of m.stringValues) if (startsAt(doc, v, j + 1)) return true;
      continue;
    }
    if (b !== 0x6e /* n(ull) */) return true;
  }
}

/** True when `doc` holds the bytes of `what` at `at` (no search past it). */
export function startsAt(doc: Buffer, what: Buffer, at: number): boolean {
  return at + what.length <= doc.length && doc.compare(what, 0, what.length, at, at + what.length) === 0;
}

export function hasAnyMarker(doc: Buffer, markers: readonly Marker[]): boolean {
  for (const m of markers) if (hasMarker(doc, m)) return true;
  return false;
}

/** `[DONE]`, the OpenAI end-of-stream sentinel, possibly with surrounding spaces. */
const DONE = Buffer.from('[DONE]');
export function isDoneSentinel(doc: Buffer): boolean {
  let s = 0;
  let e = doc.length;
  while (s < e && isSpace(doc[s])) s++;
  while (e > s && isSpace(doc[e - 1])) e--;
  return e - s === DONE.length && startsAt(doc, DONE, s);
}
