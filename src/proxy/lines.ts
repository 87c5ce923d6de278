/**
 * Incremental line splitter over raw bytes, the base of the SSE and NDJSON taps.
 *
 * Why bytes and not strings: a chunk can end in the middle of a UTF-8 character or a line; decoding every
 * chunk would allocate a string per chunk and re-split it. Here each complete line is handed over as a
 * Buffer *view* of the chunk (no copy) and only the unfinished tail is kept.
 * Lines end with LF; a CR before the LF is dropped (CRLF framing). A lone CR as line end (allowed by the
 * SSE spec, never seen from an LLM server) is not recognised.
 */
export interface LineSplitter {
  push(chunk: Buffer): void;
  /** Emits the unfinished tail as a last line (a stream whose last line has no newline). */
  flush(): void;
  /** Lines dropped because they were longer than the bound. */
  readonly overlongLines: number;
}

/**
 * `retain` is called on every byte range kept past the current push (identity when the producer never
 * reuses its buffers, as node:http does; a copy when it might, as a user's `res.write` may).
 */
export function createLineSplitter(
  onLine: (line: Buffer) => void,
  maxLineBytes: number,
  retain: (b: Buffer) => Buffer = (b) => b,
): LineSplitter {
  let pieces: Buffer[] = [];
  let tailBytes = 0;
  let skipping = false; // inside a line that already exceeded the bound
  let overlong = 0;

  const emit = (line: Buffer) => {
    const n = line.length;
    onLine(n > 0 && line[n - 1] === 0x0d ? line.subarray(0, n - 1) : line);
  };

  return {
    get overlongLines() {
      return overlong;
    },
    push(chunk) {
      let pos = 0;
      const n = chunk.length;
      while (pos < n) {
        const nl = chunk.indexOf(0x0a, pos);
        if (nl < 0) {
          if (skipping) return;
          const rest = n - pos;
          if (tailBytes + rest > maxLineBytes) {
            skipping = true;
            overlong++;
            pieces = [];
            tailBytes = 0;
            return;
          }
          pieces.push(retain(pos === 0 ? chunk : chunk.subarray(pos)));
          tailBytes += rest;
          return;
        }
        if (skipping) {
          skipping = false;
        } else if (tailBytes > 0) {
          if (tailBytes + (nl - pos) > maxLineBytes) {
            overlong++;
          } else {
            pieces.push(chunk.subarray(pos, nl));
            const line = Buffer.concat(pieces, tailBytes + (nl - pos));
            emit(line);
          }
          pieces = [];
          tailBytes = 0;
        } else if (nl - pos > maxLineBytes) {
          overlong++;
        } else {
          emit(chunk.subarray(pos, nl));
        }
        pos = nl + 1;
      }
    },
    flush() {
      if (skipping || tailBytes === 0) {
        pieces = [];
        tailBytes = 0;
        skipping = false;
        return;
      }
      const line = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces, tailBytes);
      pieces = [];
      tailBytes = 0;
      emit(line);
    },
  };
}
