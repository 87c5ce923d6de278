/**
 * What the proxy learns about a request beyond its window: the caller's trace context and why the
 * request did not end ok. The attribution ledger carries windows only, so these wait here, by request
 * id, until the request's record is made, and are taken then. Only a request with something to say has
 * a note: an ok request without a `traceparent` costs nothing.
 *
 * Bounded: a note whose record never comes (a tracker that failed for that request) is dropped, oldest
 * first, once `max` are held.
 */
export interface RequestNote {
  /** W3C trace context of the caller (`traceparent`): its trace id and its span's id, lower-case hex. */
  traceId?: string;
  spanId?: string;
  /** Why the outcome is not `ok`: `upstream_idle_timeout`, `client_closed`, `shutdown`, … */
  reason?: string;
}

export interface RequestNoteSink {
  /** Called at most once per request, before its window ends. */
  note(id: string, note: RequestNote): void;
}

export interface RequestNotes extends RequestNoteSink {
  /** The note of `id`, removed. */
  take(id: string): RequestNote | undefined;
  readonly size: number;
}

export const DEFAULT_MAX_NOTES = 100_000;

export function createRequestNotes(max = DEFAULT_MAX_NOTES): RequestNotes {
  const notes = new Map<string, RequestNote>();
  return {
    note(id, n) {
      if (notes.size >= max) {
        const oldest = notes.keys().next();
        if (!oldest.done) notes.delete(oldest.value);
      }
      notes.set(id, n);
    },
    take(id) {
      if (notes.size === 0) return undefined;
      const n = notes.get(id);
      if (n !== undefined) notes.delete(id);
      return n;
    },
    get size() {
      return notes.size;
    },
  };
}
