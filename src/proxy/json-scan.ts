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

/**
 * The value check of `m` for an occurrence of its key at `i`: true, false (look further), or undefined
 * when the document ends before a value (no later occurrence can match either).
 */
function valueMatches(doc: Buffer, m: Marker, i: number): boolean | undefined {
  const n = doc.length;
  let j = i + m.key.length;
  while (j < n && isSpace(doc[j])) j++;
  if (doc[j] !== 0x3a) return false;
  j++;
  while (j < n && isSpace(doc[j])) j++;
  if (j >= n) return undefined;
  const b = doc[j]!;
  if (m.firstBytes) return m.firstBytes.includes(b);
  if (m.stringValues) {
    if (b !== 0x22) return false;
    for (const v of m.stringValues) if (startsAt(doc, v, j + 1)) return true;
    return false;
  }
  return b !== 0x6e; /* n(ull) */
}

/** True when `doc` holds `m`'s key with a matching value. `doc` is a view bounded to one document. */
export function hasMarker(doc: Buffer, m: Marker): boolean {
  let from = 0;
  for (;;) {
    const i = doc.indexOf(m.key, from);
    if (i < 0) return false;
    from = i + 1;
    const v = valueMatches(doc, m, i);
    if (v === undefined) return false;
    if (v) return true;
  }
}

/**
 * True when `doc` holds the bytes of `what` at `at` (no search past it). A JS loop, not Buffer#compare:
 * the needles are a few bytes and the native call's argument checks cost more than the comparison.
 */
export function startsAt(doc: Buffer, what: Buffer, at: number): boolean {
  const k = what.length;
  if (at < 0 || at + k > doc.length) return false;
  for (let i = 0; i < k; i++) if (doc[at + i] !== what[i]) return false;
  return true;
}

/**
 * Documents up to this size are searched for all markers in one pass of plain JS over their bytes; larger
 * ones with one native Buffer#indexOf per marker. Why: on a token chunk (≈ 250 bytes) each native
 * indexOf of a short needle cost ≈ 0.35–0.45 µs (its per-call setup, not the search), and a stream's
 * every chunk is checked against 4–9 markers; one pass costs about as much as one indexOf.
 */
const ONE_PASS_MAX_BYTES = 4096;

/** Markers by the byte after the key's opening quote: the candidates to check at a `"`. */
type MarkerTable = (readonly Marker[] | undefined)[];
const tables = new WeakMap<readonly Marker[], MarkerTable>();

function tableOf(markers: readonly Marker[]): MarkerTable {
  let t = tables.get(markers);
  if (t === undefined) {
    t = new Array<readonly Marker[] | undefined>(256).fill(undefined);
    for (const m of markers) {
      const b = m.key[1]!;
      t[b] = [...(t[b] ?? []), m];
    }
    tables.set(markers, t);
  }
  return t;
}

/**
 * True when `doc` holds any of `markers` (as `hasMarker` for each). One pass: every `"` of the document
 * is a possible start of a key, as it is for indexOf, so both find the same occurrences.
 */
export function hasAnyMarker(doc: Buffer, markers: readonly Marker[]): boolean {
  const n = doc.length;
  if (n > ONE_PASS_MAX_BYTES) {
    for (const m of markers) if (hasMarker(doc, m)) return true;
    return false;
  }
  const table = tableOf(markers);
  for (let i = 0; i < n - 1; i++) {
    if (doc[i] !== 0x22) continue;
    const candidates = table[doc[i + 1]!];
    if (candidates === undefined) continue;
    for (const m of candidates) {
      // valueMatches undefined (the document ends in the value's place) means only spaces and `:` follow,
      // so no later occurrence of any key exists either: false, as hasMarker would answer
      if (startsAt(doc, m.key, i)) {
        const v = valueMatches(doc, m, i);
        if (v) return true;
        if (v === undefined) return false;
      }
    }
  }
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
