/**
 * The few members of a JSON body that the taps read (a response's model and usage, a request's model
 * and stream), without JSON.parse of the whole body.
 *
 * Why: a non-streaming completion is mostly generated text (`choices[].message.content`, `response`,
 * `generated_text`), embeddings are mostly numbers (`data[].embedding`, `embeddings`) and Ollama adds a
 * `context` array of token ids: JSON.parse builds every string and number of that for nothing. Here
 * strings are skipped with Buffer#indexOf (native), only the bytes between strings are looked at, and only
 * the members named in `keys` are parsed (each with JSON.parse of its own bytes, or read directly when it
 * is a plain string or a small integer).
 *
 * A key set may name, for an object member, the members to keep inside it (`usage` → its token counts):
 * that object is then read the same way instead of parsed whole.
 *
 * Same answers as `JSON.parse` for a valid body, restricted to the key sets: the last of duplicate keys
 * wins, each kept value exactly as JSON.parse gives it (an object with a key set of its own: cut down to
 * those members). The objects walked (the top level and those with a key set) are checked member by
 * member (a string key, `:`, a value, `,` or `}`); a skipped value (and the values of a kept key met
 * three times or more, between its first and its last) is checked for structure only (strings closed,
 * brackets balanced), and nothing may follow the top-level object. So a body that is malformed only
 * inside a skipped value (`[1,]`, a bare word, a raw control character in a string) is read here where
 * JSON.parse would refuse it. A response comes from the upstream server, whose usage numbers are then
 * still worth having; a request is forwarded as it is either way, for the upstream to judge.
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
  /** Per name: the key set of the members to keep when its value is an object (else kept whole). */
  readonly sub: readonly (KeySet | undefined)[];
  /**
   * Scratch for readObject: per name met again, the start and end of its last value. One per key set,
   * reused: a key set is never read inside its own reading (its key sets were made before it).
   */
  readonly spans: Int32Array;
}

/** `names`: a name, or `[name, key set of its object value]`. */
export function keySet(names: readonly (string | readonly [string, KeySet])[]): KeySet {
  const byFirst: number[][] = [];
  const flat = names.map((n) => (typeof n === 'string' ? n : n[0]));
  // escapedKeyIndex decodes keys only to ASCII names up to MAX_NAME_LENGTH.
  if (flat.some((n) => n.length === 0 || n.length > MAX_NAME_LENGTH || !/^[\x20-\x7e]+$/.test(n) || n.includes('\\'))) {
    throw new Error('keySet: names are 1-64 printable ASCII characters without a backslash');
  }
  // readObject keeps one bit per name in an int.
  if (flat.length > 31) throw new Error('keySet: at most 31 names');
  const bytes = flat.map((n) => Buffer.from(n, 'utf8'));
  bytes.forEach((b, i) => (byFirst[b[0]!] ??= []).push(i));
  const sub = names.map((n) => (typeof n === 'string' ? undefined : n[1]));
  return { names: flat, byFirst, bytes, sub, spans: new Int32Array(2 * flat.length) };
}

/**
 * Index in `keys` of the key whose characters lie between the quotes at `open` and `close`, or -1.
 * Throws (JSON.parse) when the key has an escape that JSON.parse refuses.
 */
function keyIndex(buf: Buffer, open: number, close: number, keys: KeySet): number {
  const candidates = keys.byFirst[buf[open + 1]!];
  if (candidates === undefined) return escapedKeyIndex(buf, open, close, keys);
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
  return escapedKeyIndex(buf, open, close, keys);
}

/**
 * A key with an escape is the key JSON.parse decodes it to (`"mod\u0065l"` is `model`): no name has a
 * backslash, so only such a key, decoded, can still be one of them. Decoded here, not with JSON.parse
 * (≈ 0.5 µs a key: a body of 1 MiB of escaped keys took 4× JSON.parse's time); names are ASCII and
 * short, so a key that decodes to more or to other characters is none of them. Throws on an escape
 * JSON.parse refuses, as JSON.parse would.
 */
function escapedKeyIndex(buf: Buffer, open: number, close: number, keys: KeySet): number {
  let j = open + 1;
  while (j < close && buf[j] !== BACKSLASH) j++;
  if (j === close) return -1;
  let key = '';
  for (let i = open + 1; i < close; i++) {
    let c = buf[i]!;
    if (c === BACKSLASH) {
      const e = buf[++i]!;
      if (e === 0x75 /* u */) {
        c = 0;
        for (let h = 1; h <= 4; h++) {
          const x = buf[i + h];
          const d = x === undefined ? -1 : x >= 0x30 && x <= 0x39 ? x - 0x30 : x >= 0x61 && x <= 0x66 ? x - 0x57 : x >= 0x41 && x <= 0x46 ? x - 0x37 : -1;
          if (d < 0 || i + h >= close) throw new SyntaxError('bad unicode escape in a key');
          c = c * 16 + d;
        }
        i += 4;
      } else {
        const k = SIMPLE_ESCAPES.indexOf(e);
        if (k < 0) throw new SyntaxError('bad escape in a key');
        c = SIMPLE_ESCAPED[k]!;
      }
    }
    if (c >= 0x80 || c < 0x20) return -1; // no name has such a character
    key += String.fromCharCode(c);
    if (key.length > MAX_NAME_LENGTH) return -1;
  }
  return keys.names.indexOf(key);
}

/** `\"`, `\\`, `\/`, `\b`, `\f`, `\n`, `\r`, `\t` and what they stand for. */
const SIMPLE_ESCAPES = [0x22, 0x5c, 0x2f, 0x62, 0x66, 0x6e, 0x72, 0x74];
const SIMPLE_ESCAPED = [0x22, 0x5c, 0x2f, 0x08, 0x0c, 0x0a, 0x0d, 0x09];
/** Longer than any name a key set holds (checked in keySet). */
const MAX_NAME_LENGTH = 64;

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

function skipSpaces(buf: Buffer, i: number): number {
  while (i < buf.length && isSpace(buf[i])) i++;
  return i;
}

/** Brackets open while a composite value is skipped (reused: one scan at a time, nothing re-enters it). */
const open: number[] = [];

/**
 * Index just past the object or array that starts at `i`, checked for structure only (strings closed,
 * brackets balanced and matching); -1 if it is not.
 */
function skipComposite(buf: Buffer, i: number): number {
  const n = buf.length;
  open.length = 0;
  for (; i < n; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const close = stringEnd(buf, i);
      if (close < 0) return -1;
      i = close;
    } else if (c === 0x7b || c === 0x5b) {
      open.push(c);
    } else if (c === 0x7d || c === 0x5d) {
      const o = open.pop();
      if (o === undefined || (c === 0x7d) !== (o === 0x7b)) return -1;
      if (open.length === 0) return i + 1;
    }
  }
  return -1;
}

/** Index just past the literal or number that starts at `i` (its end: `,`, `}`, `]`, a space or the end). */
function literalEnd(buf: Buffer, i: number): number {
  const n = buf.length;
  let e = i + 1;
  while (e < n) {
    const b = buf[e]!;
    if (b === 0x2c || b === 0x7d || b === 0x5d || isSpace(b)) break;
    e++;
  }
  return e;
}

/**
 * Reads the object at `i` (`{`) into `out`: the members named in `keys`. Returns the index just past
 * the object, or -1 when it is malformed. Throws (JSON.parse) when a kept value is invalid.
 *
 * A kept member is parsed where it is met the first time; if its key comes again, the later values
 * are only checked (as skipped ones) and the last is parsed once the object is read. So a body of many
 * duplicates (`{"model":"a\n","model":…}` up to the parse bound) costs a scan, not a JSON.parse per
 * member. With `out` undefined the object is checked only (an earlier duplicate of a kept object).
 */
function readObject(buf: Buffer, i: number, keys: KeySet, out: Record<string, unknown> | undefined): number {
  let seen = 0; // bit k: key k met
  let again = 0; // bit k: key k met again, its last value in keys.spans[2k, 2k + 1]
  i = skipSpaces(buf, i + 1);
  if (buf[i] === 0x7d) return i + 1;
  for (;;) {
    if (buf[i] !== QUOTE) return -1;
    const keyClose = stringEnd(buf, i);
    if (keyClose < 0) return -1;
    const k = out === undefined ? -1 : keyIndex(buf, i, keyClose, keys);
    // Parsed now: the first value of a kept key; later ones are read at the end (the last only).
    const now = k >= 0 && (seen & (1 << k)) === 0;
    i = skipSpaces(buf, keyClose + 1);
    if (buf[i] !== 0x3a) return -1;
    i = skipSpaces(buf, i + 1);
    const c = buf[i];
    let end: number;
    if (c === QUOTE) {
      const close = stringEnd(buf, i);
      if (close < 0) return -1;
      end = close + 1;
      if (now) out![keys.names[k]!] = valueAt(buf, i, end);
    } else if (c === 0x7b && k >= 0 && keys.sub[k] !== undefined) {
      if (now) {
        const inner: Record<string, unknown> = {};
        end = readObject(buf, i, keys.sub[k], inner);
        out![keys.names[k]!] = inner;
      } else {
        end = readObject(buf, i, keys.sub[k], undefined);
      }
      if (end < 0) return -1;
    } else if (c === 0x7b || c === 0x5b) {
      end = skipComposite(buf, i);
      if (end < 0) return -1;
      if (now) out![keys.names[k]!] = valueAt(buf, i, end);
    } else if (c === undefined || c === 0x2c || c === 0x7d || c === 0x5d) {
      return -1; // no value
    } else {
      end = literalEnd(buf, i);
      if (now) out![keys.names[k]!] = valueAt(buf, i, end);
    }
    if (k >= 0) {
      if (now) {
        seen |= 1 << k;
      } else {
        again |= 1 << k;
        keys.spans[2 * k] = i;
        keys.spans[2 * k + 1] = end;
      }
    }
    i = skipSpaces(buf, end);
    if (buf[i] === 0x2c) {
      i = skipSpaces(buf, i + 1);
      continue;
    }
    if (buf[i] !== 0x7d) return -1;
    if (again !== 0) readAgain(buf, keys, again, out!);
    return i + 1;
  }
}

/** The last value of each key met again (bits of `again`), into `out`. */
function readAgain(buf: Buffer, keys: KeySet, again: number, out: Record<string, unknown>): void {
  for (let k = 0; k < keys.names.length; k++) {
    if ((again & (1 << k)) === 0) continue;
    const from = keys.spans[2 * k]!;
    const sub = keys.sub[k];
    if (sub !== undefined && buf[from] === 0x7b) {
      const inner: Record<string, unknown> = {};
      readObject(buf, from, sub, inner);
      out[keys.names[k]!] = inner;
    } else {
      out[keys.names[k]!] = valueAt(buf, from, keys.spans[2 * k + 1]!);
    }
  }
}

/**
 * The members of the top-level object in `buf` named in `keys` (and in their key sets), parsed;
 * undefined when `buf` is not a JSON object (after spaces), is malformed where it is walked (truncated,
 * unbalanced, a member without `:` or value, bytes after the object), or a kept value is not valid JSON.
 */
export function projectTopLevel(buf: Buffer, keys: KeySet): Record<string, unknown> | undefined {
  const i = skipSpaces(buf, 0);
  if (buf[i] !== 0x7b) return undefined;
  const out: Record<string, unknown> = {};
  let end: number;
  try {
    end = readObject(buf, i, keys, out);
  } catch {
    return undefined; // a kept value that JSON.parse refuses
  }
  if (end < 0 || skipSpaces(buf, end) !== buf.length) return undefined;
  return out;
}
