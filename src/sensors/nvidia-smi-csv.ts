/**
 * Small, allocation-light helpers for nvidia-smi's `--format=csv,noheader,nounits` output.
 * Pure functions: no child processes, no clock, so they are tested on their own.
 */
import { isAbsentToken } from './types.js';

/**
 * Parses one value token. Returns the number, `undefined` when the token means absent (`[N/A]`,
 * `[Not Supported]`, `N/A`, empty: never zero), or NaN when it is neither (garbage, counted by callers).
 * A trailing unit is accepted so that a query made without `nounits` still parses (`69.85 W`, `100 %`).
 */
export function parseQueryNumber(raw: string): number | undefined {
  const v = raw.trim();
  if (isAbsentToken(v)) return undefined;
  const m = /^([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)(?:\s*(?:W|%|MiB|MHz))?$/.exec(v);
  return m ? Number(m[1]) : Number.NaN;
}

/** The field a driver rejected, from `Field "power.draw.instant" is not a valid field to query.` (stdout or stderr). */
export function parseInvalidField(output: string): string | undefined {
  return /Field "([^"]+)" is not a valid field to query/.exec(output)?.[1];
}

/**
 * Splits a CSV row into trimmed tokens. nvidia-smi separates values with ", " and does not quote; only
 * free text (the GPU name) could hold a comma, so callers put such a field last and pass `lastIsText`: the
 * surplus tokens are joined back into it.
 */
export function splitQueryRow(line: string, expected: number, lastIsText = false): string[] | undefined {
  const parts = line.split(',');
  if (parts.length < expected) return undefined;
  if (parts.length > expected) {
    if (!lastIsText) return undefined;
    parts.splice(expected - 1, parts.length - expected + 1, parts.slice(expected - 1).join(','));
  }
  for (let i = 0; i < parts.length; i++) parts[i] = parts[i]!.trim();
  return parts;
}

export interface LineSplitter {
  /** Feeds a chunk; complete lines go to the callback, the unfinished tail is kept. */
  push(chunk: string): void;
  /** The unfinished tail (for tests and diagnostics). */
  pending(): string;
}

/**
 * Keeps only the unfinished tail between chunks: no re-splitting of a growing
 * buffer. A tail longer than `maxLineChars` without a newline is garbage; it is dropped and reported.
 */
export function createLineSplitter(onLine: (line: string) => void, onOverflow: () => void = () => {}, maxLineChars = 64 * 1024): LineSplitter {
  let tail = '';
  return {
    push(chunk) {
      let nl = chunk.indexOf('\n');
      if (nl === -1) {
        tail += chunk;
        if (tail.length > maxLineChars) { tail = ''; onOverflow(); }
        return;
      }
      onLine(stripCr(tail.length ? tail + chunk.slice(0, nl) : chunk.slice(0, nl)));
      tail = '';
      let start = nl + 1;
      while ((nl = chunk.indexOf('\n', start)) !== -1) {
        onLine(stripCr(chunk.slice(start, nl)));
        start = nl + 1;
      }
      tail = start < chunk.length ? chunk.slice(start) : '';
      if (tail.length > maxLineChars) { tail = ''; onOverflow(); }
    },
    pending: () => tail,
  };
}

// nvidia-smi on Windows ends lines with CRLF.
const stripCr = (s: string): string => (s.endsWith('\r') ? s.slice(0, -1) : s);
