/**
 * The end of a JSON body too large to parse whole. OpenAI-compatible servers put `model` and `usage`
 * after `data` (embeddings: `{"object":"list","data":[…],"model":…,"usage":{…}}`), Ollama puts its
 * counts after the embeddings; so the last bytes are enough. The members are found with the same byte
 * markers as the stream taps and cut out by brace matching that skips strings, then parsed alone.
 */
import { hasMarker, marker } from './json-scan.js';
import type { ApiId } from './routes.js';
import { readDocument, type UsageState } from './usage/index.js';

export const TAIL_BYTES = 64 * 1024;

export interface TailWindow {
  push(chunk: Buffer): void;
  bytes(): Buffer;
}

/** Keeps (at least) the last TAIL_BYTES of what is pushed. */
export function createTailWindow(retain: (b: Buffer) => Buffer): TailWindow {
  let pieces: Buffer[] = [];
  let size = 0;
  return {
    push(chunk) {
      if (chunk.length >= TAIL_BYTES) {
        pieces = [retain(chunk.subarray(chunk.length - TAIL_BYTES))];
        size = TAIL_BYTES;
        return;
      }
      pieces.push(retain(chunk));
      size += chunk.length;
      while (size - pieces[0]!.length >= TAIL_BYTES) size -= pieces.shift()!.length;
    },
    bytes: () => Buffer.concat(pieces, size),
  };
}

/** End (exclusive) of the JSON value starting at `start` (an object or a scalar), or -1 if cut. */
function valueEnd(b: Buffer, start: number): number {
  if (b[start] !== 0x7b /* { */) {
    let i = start;
    while (i < b.length && b[i] !== 0x2c && b[i] !== 0x7d && b[i] !== 0x5d && b[i] !== 0x0a) i++;
    return i < b.length ? i : -1;
  }
  let depth = 0;
  let inString = false;
  for (let i = start; i < b.length; i++) {
    const c = b[i];
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b) depth++;
    else if (c === 0x7d && --depth === 0) return i + 1;
  }
  return -1;
}

const MEMBERS = ['usage', 'model', 'prompt_eval_count', 'eval_count', 'tokens_evaluated', 'tokens_predicted'];
const KEYS = MEMBERS.map((m) => ({ name: m, key: Buffer.from(`"${m}"`), m: marker(m) }));

/** Reads the usage members found in `b` into `state`; true when any token count was found. */
export function readTail(b: Buffer, state: UsageState, api: ApiId | undefined): boolean {
  const doc: Record<string, unknown> = {};
  for (const { name, key, m } of KEYS) {
    if (!hasMarker(b, m)) continue;
    // the last occurrence that is a member name (followed by `:`): the top-level member comes after
    // the data it describes
    let j = -1;
    for (let at = b.lastIndexOf(key); at >= 0; at = at > 0 ? b.lastIndexOf(key, at - 1) : -1) {
      let k = at + key.length;
      while (k < b.length && (b[k] === 0x20 || b[k] === 0x0a || b[k] === 0x0d || b[k] === 0x09)) k++;
      if (b[k] !== 0x3a) continue;
      k++;
      while (k < b.length && (b[k] === 0x20 || b[k] === 0x0a || b[k] === 0x0d || b[k] === 0x09)) k++;
      j = k;
      break;
    }
    if (j < 0 || j >= b.length) continue;
    const end = valueEnd(b, j);
    if (end < 0) continue;
    try {
      doc[name] = JSON.parse(b.subarray(j, end).toString('utf8'));
    } catch {
      state.parseFailures++;
    }
  }
  const before = { p: state.promptTokens, c: state.completionTokens };
  readDocument(doc, state, api);
  return state.promptTokens !== before.p || state.completionTokens !== before.c;
}
