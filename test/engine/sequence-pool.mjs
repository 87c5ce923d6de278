/**
 * A fixed set of llama.cpp sequences (slots) handed to requests first come, first served.
 *
 *   requests ──▶ [ waiting (FIFO) ] ──acquire──▶ [ slot 0 | slot 1 | … | slot N−1 ] ──release──▶ next waiter
 *
 * Invariants: a slot is held by at most one request; `release` hands the slot straight to the oldest
 * waiter, if any, so that a later request never overtakes an earlier one; a waiter whose request is
 * aborted leaves the queue without taking a slot.
 *
 * This is llama.cpp server's model (`--parallel N` slots, a queue in front): the N slots of one context
 * are decoded together in one batch, so requests are served among others, as on vLLM or TGI.
 */
export function createSequencePool(sequences) {
  const free = [...sequences];
  /** @type {{ resolve: (s: unknown) => void, reject: (e: Error) => void, signal?: AbortSignal, onAbort?: () => void }[]} */
  const waiting = [];
  return {
    get size() { return sequences.length; },
    get busy() { return sequences.length - free.length; },
    get queued() { return waiting.length; },
    /** A free sequence, now or when one is released; rejects if `signal` aborts first. */
    acquire(signal) {
      if (signal?.aborted) return Promise.reject(new Error('aborted'));
      const s = free.pop();
      if (s !== undefined) return Promise.resolve(s);
      return new Promise((resolve, reject) => {
        const w = { resolve, reject, signal };
        if (signal) {
          w.onAbort = () => {
            const i = waiting.indexOf(w);
            if (i >= 0) waiting.splice(i, 1);
            reject(new Error('aborted'));
          };
          signal.addEventListener('abort', w.onAbort, { once: true });
        }
        waiting.push(w);
      });
    },
    release(s) {
      const w = waiting.shift();
      if (!w) { free.push(s); return; }
      if (w.signal && w.onAbort) w.signal.removeEventListener('abort', w.onAbort);
      w.resolve(s);
    },
  };
}
