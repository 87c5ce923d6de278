/**
 * Server-Sent Events reader (WHATWG HTML §9.2 "event stream interpretation"), bytes in, one callback per
 * event's `data`. Handles what LLM servers send: `data: ` and `data:` (older TGI/axum, no space), `event:`
 * lines (OpenAI Responses API), `: comment` keep-alives (OpenRouter), CRLF (Perplexity), several `data:`
 * lines in one event (joined by LF, per spec), and a last event without its blank line (recorded files
 * that end in `data: [DONE]`). `id:` and `retry:` are ignored.
 */
import { startsAt } from './json-scan.js';
import { createLineSplitter } from './lines.js';

export interface SseReader {
  push(chunk: Buffer): void;
  /** End of stream; `complete` false (aborted stream) drops the unfinished last line and event. */
  finish(complete: boolean): void;
  readonly overlongLines: number;
}

/** `errorEvent` is true when the event was named `error` (`event: error`). */
export type SseEventHandler = (data: Buffer, errorEvent: boolean) => void;

const DATA = Buffer.from('data');
const EVENT = Buffer.from('event');
const ERROR = Buffer.from('error');
const LF = Buffer.from('\n');

function fieldIs(line: Buffer, end: number, name: Buffer): boolean {
  if (end !== name.length) return false;
  for (let i = 0; i < end; i++) if (line[i] !== name[i]) return false;
  return true;
}

export function createSseReader(onEvent: SseEventHandler, maxLineBytes: number, retain: (b: Buffer) => Buffer = (b) => b): SseReader {
  let data: Buffer | null = null;
  // Further data lines of the event, joined once at dispatch: joining on each line would copy the event
  // again per line, quadratic in a stream whose events are not separated by blank lines.
  let more: Buffer[] | null = null;
  let dataBytes = 0;
  let dropping = false; // the current event's data passed the bound
  let overlongEvents = 0;
  let errorEvent = false;

  const dispatch = () => {
    if (data !== null && !dropping) {
      if (more === null) onEvent(data, errorEvent);
      else {
        const parts = [data];
        for (const m of more) parts.push(LF, m);
        onEvent(Buffer.concat(parts, dataBytes), errorEvent);
      }
    }
    data = null;
    more = null;
    dataBytes = 0;
    dropping = false;
    errorEvent = false;
  };

  const onLine = (line: Buffer) => {
    const n = line.length;
    if (n === 0) return dispatch();
    if (line[0] === 0x3a) return; // ": comment" (keep-alive)
    let colon = line.indexOf(0x3a);
    if (colon < 0) colon = n; // a field with no value
    let vs = colon + 1;
    if (vs < n && line[vs] === 0x20) vs++;
    if (fieldIs(line, colon, DATA)) {
      const value = vs <= n ? line.subarray(vs) : line.subarray(n);
      if (dropping) return;
      if (data === null) {
        data = retain(value);
        dataBytes = value.length;
      } else if (dataBytes + 1 + value.length > maxLineBytes) {
        // Bounded like one line: an event whose data outgrows it is dropped (a stream that never sends
        // the blank line ending its events would otherwise be kept whole).
        overlongEvents++;
        dropping = true;
        more = null;
      } else {
        (more ??= []).push(retain(value));
        dataBytes += 1 + value.length;
      }
    } else if (fieldIs(line, colon, EVENT)) {
      errorEvent = n - vs === ERROR.length && startsAt(line, ERROR, vs);
    }
  };

  const lines = createLineSplitter(onLine, maxLineBytes, retain);
  return {
    push: (chunk) => lines.push(chunk),
    finish(complete) {
      if (!complete) {
        data = null;
        more = null;
        dataBytes = 0;
        dropping = false;
        return;
      }
      lines.flush();
      dispatch();
    },
    get overlongLines() {
      return lines.overlongLines + overlongEvents;
    },
  };
}
