/**
 * The few top-level members of a JSON response body that the usage readers look at, without
 * JSON.parse of the whole body.
 *
 * Why: a non-streaming completion is mostly generated text (`choices[].message.content`, `response`,
 * `generated_text`), embeddings are mostly numbers (`data[].embedding`, `embeddings`) and Ollama adds a
 * `context` array of token ids: JSON.parse builds every string and number of that for nothing. Here
 * strings are skipped with Buffer#indexOf (native), only the bytes between strings are looked at, and only
 * the members named in `keys` are parsed (each with JSON.parse of its own bytes, or read directly when it
 * is a plain string or a small integer).
 *
 * Same answers as `JSON.parse` for a valid body, restricted to `keys`: top-level members only, the last
 * of duplicate keys wins, each kept value exactly as JSON.parse gives it. Validation is structural for the
 * skipped parts (strings closed, brackets balanced, nothing after the top-level object) and full for the
 * kept values: a body that is balanced but malformed inside a skipped member (`,]`, a bare word, a raw
 * control character in a string) is read here where JSON.parse would refuse it. Such a body comes from
 * the upstream server, whose usage numbers are then still worth having.
 */
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

/** Index of the quote closing the string that opens at `open`, or -1 if it is not closed. */
export function stringEnd(buf: Buffer, open: number): number {
  // Keys and most values are short: a JS loop finds their end sooner than the native call's set-up
  // (≈ 0.1–0.4 µs per Buffer#indexOf); long strings (generated text) go to indexOf after 32 bytes.
  const n = buf.length;
  const near = Math.min(n, open + 33);
  let j = open + 1;
  for (; j < near; j++) {
    const b = buf[j];
    if (b === BACKSLASH) break;
    if (b === QUOTE) return j;
  }
  for (;;) {
    j = buf.indexOf(QUOTE, j);
    if (j < 0) return -1;
    let k = j - 1;
    while (buf[k] === BACKSLASH) k--;
    if ((j - 1 - k) % 2 === 0) return j; // an even run of backslashes: the quote is not escaped
    j++;
  }
}

/** A set of member names, matched against the bytes of a key without decoding it. */
export interface KeySet {
  readonly names: readonly string[];
  /** Per first byte of a name: the indexes of the names starting with it. */
  readonly byFirst: readonly (readonly number[] | undefined)[];
  readonly bytes: readonly Buffer[];
}

export function keySet(names: readonly string[]): KeySet {
  const byFirst: number[][] = [];
  const bytes = names.map((n) => Buffer.from(n, 'utf8'));
  bytes.forEach((b, i) => (byFirst[b[0]!] ??= []).push(i));
  return { names, byFirst, bytes };
}

/** Index in `keys` of the key whose characters lie between the quotes at `open` and `close`, or -1. */
function keyIndex(buf: Buffer, open: number, close: number, keys: KeySet): number {
  const candidates = keys.byFirst[buf[open + 1]!];
  if (candidates === undefined) return -1;
  const len = close - open - 1;
  for (const i of candidates) {
    const k = keys.bytes[i]!;
    if (k.length !== len) continue;
    let same = true;
    for (let j = 1; j < len; j++) {
      if (buf[open + 1 + j] !== k[j]) {
        same = false;
        break;
      }
    }
    if (same) return i;
  }
  return -1;
}

/** The JSON value in buf[start, end), exactly as JSON.parse reads it; throws when JSON.parse would. */
function valueAt(buf: Buffer, start: number, end: number): unknown {
  const c = buf[start]!;
  if (c === QUOTE) {
    // A string without escapes is its bytes (JSON.parse refuses raw control characters: check them too).
    let plain = true;
    for (let i = start + 1; i < end - 1; i++) {
      const b = buf[i]!;
      if (b === BACKSLASH || b < 0x20) {
        plain = false;
        break;
      }
    }
    if (plain) return buf.toString('utf8', start + 1, end - 1);
  } else if (c >= 0x30 && c <= 0x39 && end - start <= 15) {
    // A small non-negative integer (the token counts): at most 15 digits, exact in a double.
    let n = 0;
    let digits = true;
    for (let i = start; i < end; i++) {
      const b = buf[i]!;
      if (b < 0x30 || b > 0x39) {
        digits = false;
        break;
      }
      n = n * 10 + (b - 0x30);
    }
    // JSON has no leading zeros: "012" is left to JSON.parse, which refuses it.
    if (digits && !(c === 0x30 && end - start > 1)) return n;
  }
  return JSON.parse(buf.toString('utf8', start, end));
}

/**
 * The members of the top-level object in `buf` whose names are in `keys`, parsed; undefined when `buf`
 * is not a JSON object (after spaces), is structurally invalid (truncated, unbalanced, trailing bytes),
 * or a kept value is not valid JSON.
 */
export function projectTopLevel(buf: Buffer, keys: KeySet): Record<string, unknown> | undefined {
  const n = buf.length;
  let i = 0;
  while (i < n && isSpace(buf[i])) i++;
  if (buf[i] !== 0x7b) return undefined;
  const out: Record<string, unknown> = {};
  // Open brackets below the top level; their kinds to check that each close matches its open.
  const kinds: number[] = [];
  let depth = 0;
  // In the top-level object: the next string is a key (after `{` or `,`), or the value of key `pending`.
  let expectKey = false;
  /** The member whose value comes next: an index in `keys`, -1 for a member not kept, -2 for none. */
  let pending = -2;
  /** The kept member whose object or array value is being skipped to its end, and where it began. */
  let keeping = -1;
  let keepStart = 0;
  try {
    for (; i < n; i++) {
      const c = buf[i]!;
      if (c === QUOTE) {
        const close = stringEnd(buf, i);
        if (close < 0) return undefined;
        if (depth === 1) {
          if (expectKey) {
            pending = keyIndex(buf, i, close, keys);
            expectKey = false;
          } else if (pending !== -2) {
            if (pending >= 0) out[keys.names[pending]!] = valueAt(buf, i, close + 1);
            pending = -2;
          }
        }
        i = close;
        continue;
      }
      if (c === 0x7b || c === 0x5b) {
        if (depth === 1 && pending !== -2) {
          if (pending >= 0) {
            keeping = pending;
            keepStart = i;
          }
          pending = -2;
        }
        kinds.push(c);
        depth++;
        if (depth === 1) expectKey = true;
        continue;
      }
      if (c === 0x7d || c === 0x5d) {
        const open = kinds.pop();
        if (open === undefined || (c === 0x7d) !== (open === 0x7b)) return undefined;
        depth--;
        if (depth === 1 && keeping >= 0) {
          out[keys.names[keeping]!] = valueAt(buf, keepStart, i + 1);
          keeping = -1;
        }
        if (depth === 0) {
          if (pending !== -2) return undefined; // `{"a":}`
          for (i++; i < n; i++) if (!isSpace(buf[i])) return undefined;
          return out;
        }
        continue;
      }
      if (depth !== 1) continue;
      if (c === 0x2c) {
        if (pending !== -2) return undefined; // `{"a":,`
        expectKey = true;
      } else if (c === 0x3a || isSpace(c)) {
        continue;
      } else if (pending !== -2) {
        // a literal or a number as the value of a top-level member: up to the next `,`, `}` or space
        let e = i + 1;
        while (e < n) {
          const b = buf[e]!;
          if (b === 0x2c || b === 0x7d || isSpace(b)) break;
          e++;
        }
        if (pending >= 0) out[keys.names[pending]!] = valueAt(buf, i, e);
        pending = -2;
        i = e - 1;
      }
    }
  } catch {
    return undefined; // a kept value that JSON.parse refuses
  }
  return undefined; // the top-level object was not closed
}
