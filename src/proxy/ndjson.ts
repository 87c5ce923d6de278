/**
 * Newline-delimited JSON reader (Ollama's `application/x-ndjson` streams): one document per line, blank
 * lines skipped, CRLF tolerated, the last line may lack its newline (Ollama's own non-streamed bodies and
 * some recorded files do).
 */
import { createLineSplitter } from './lines.js';

export interface NdjsonReader {
  push(chunk: Buffer): void;
  finish(complete: boolean): void;
  readonly overlongLines: number;
}

function isBlank(line: Buffer): boolean {
  for (let i = 0; i < line.length; i++) {
    const b = line[i]!;
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  }
  return true;
}

export function createNdjsonReader(onDoc: (doc: Buffer) => void, maxLineBytes: number, retain: (b: Buffer) => Buffer = (b) => b): NdjsonReader {
  const lines = createLineSplitter((line) => {
    if (!isBlank(line)) onDoc(line);
  }, maxLineBytes, retain);
  return {
    push: (chunk) => lines.push(chunk),
    finish(complete) {
      if (complete) lines.flush();
    },
    get overlongLines() {
      return lines.overlongLines;
    },
  };
}
