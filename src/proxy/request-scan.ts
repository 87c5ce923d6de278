/**
 * `model` and `stream` of a large JSON request body without JSON.parse of the whole body.
 *
 * Why: a chat request with a long prompt (RAG context, history) is mostly string content; JSON.parse of
 * a 110 KB body took ≈ 400 µs on the dev host (more than the rest of the proxy's work for a request),
 * this scan ≈ 50–100 µs: strings are skipped with Buffer#indexOf (native), only the bytes between them
 * are looked at, and nothing is allocated but the two values.
 *
 * Same answers as `JSON.parse` + `typeof` for a valid body: top-level members only (a `"model"` inside
 * `messages` or `tools` is not the request's), the last of duplicate keys wins, the model string is
 * unescaped by JSON.parse of its own token. Validation is structural only (strings closed, brackets
 * balanced, nothing after the top-level object): a body that is balanced but otherwise malformed (`,}`,
 * a bare word, a raw control character in a string) is read here where JSON.parse would refuse it. That is
 * why the request tap uses this only above a size where the parse cost matters (SCAN_ABOVE_BYTES).
 */
import { stringEnd } from './json-project.js';

export interface ScannedRequest {
  /** The top-level `model` if it is a string (any length; the caller bounds it), else undefined. */
  model: string | undefined;
  stream: boolean | undefined;
}

const QUOTE = 0x22;

function isSpace(b: number | undefined): boolean {
  return b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09;
}

function keyIs(buf: Buffer, open: number, close: number, name: string): boolean {
  if (close - open - 1 !== name.length) return false;
  for (let i = 0; i < name.length; i++) if (buf[open + 1 + i] !== name.charCodeAt(i)) return false;
  return true;
}

/**
 * `buf` must start (after spaces) with `{`. Returns undefined when the body is not structurally valid
 * JSON (truncated, unbalanced, trailing bytes).
 */
export function scanRequestBody(buf: Buffer): ScannedRequest | undefined {
  const n = buf.length;
  let i = 0;
  while (i < n && isSpace(buf[i])) i++;
  if (buf[i] !== 0x7b) return undefined;
  // Stack of open brackets as a string of '{'/'[' would allocate; depth plus the kind at depth 1 is all
  // that matters (keys are read only in the top-level object), and balance is checked per kind below.
  const kinds: number[] = [];
  let model: string | undefined;
  let stream: boolean | undefined;
  // In the top-level object: the next string is a key (after `{` or `,`), or the value of `pending`.
  let expectKey = false;
  let pending: 'model' | 'stream' | 'other' | undefined;
  for (; i < n; i++) {
    const c = buf[i]!;
    if (c === QUOTE) {
      const close = stringEnd(buf, i);
      if (close < 0) return undefined;
      if (kinds.length === 1) {
        if (expectKey) {
          pending = keyIs(buf, i, close, 'model') ? 'model' : keyIs(buf, i, close, 'stream') ? 'stream' : 'other';
          expectKey = false;
        } else if (pending !== undefined) {
          if (pending === 'model') {
            try {
              model = JSON.parse(buf.toString('utf8', i, close + 1)) as string;
            } catch {
              return undefined; // a bad escape: JSON.parse of the body would fail too
            }
          } else if (pending === 'stream') stream = undefined;
          pending = undefined;
        }
      }
      i = close;
      continue;
    }
    if (c === 0x7b || c === 0x5b) {
      if (kinds.length === 1 && pending !== undefined) {
        // an object or array as the value of a top-level key
        if (pending === 'model') model = undefined;
        else if (pending === 'stream') stream = undefined;
        pending = undefined;
      }
      kinds.push(c);
      if (kinds.length === 1) expectKey = true;
      continue;
    }
    if (c === 0x7d || c === 0x5d) {
      const open = kinds.pop();
      if (open === undefined || (c === 0x7d) !== (open === 0x7b)) return undefined;
      if (kinds.length === 0) {
        if (pending !== undefined) return undefined; // `{"a":}`
        for (i++; i < n; i++) if (!isSpace(buf[i])) return undefined;
        return { model, stream };
      }
      continue;
    }
    if (kinds.length !== 1) continue;
    if (c === 0x2c) {
      if (pending !== undefined) return undefined; // `{"a":,`
      expectKey = true;
    } else if (c === 0x3a || isSpace(c)) {
      continue;
    } else if (pending !== undefined) {
      // a literal or a number as the value of a top-level key
      if (pending === 'model') model = undefined;
      else if (pending === 'stream') {
        if (c === 0x74 && buf[i + 1] === 0x72 && buf[i + 2] === 0x75 && buf[i + 3] === 0x65) stream = true;
        else if (c === 0x66 && buf[i + 1] === 0x61 && buf[i + 2] === 0x6c && buf[i + 3] === 0x73 && buf[i + 4] === 0x65) stream = false;
        else stream = undefined;
      }
      pending = undefined;
    }
  }
  return undefined; // the top-level object was not closed
}
