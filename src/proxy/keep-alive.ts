/**
 * How long the proxy keeps an idle connection to an upstream, the same for its own client (h1-client.ts)
 * and for the node:http agent of upgrades (upstreams.ts): closed after IDLE_MS … IDLE_MS + SWEEP_MS
 * (3.5–4 s) by one sweep, below uvicorn's 5 s keep-alive (vLLM, SGLang), so that a request never lands on
 * a socket the server is closing; sooner when the server hints a shorter `Keep-Alive: timeout=N`: N − 1 s,
 * as node:http does with its Agent `timeout`.
 */
export const IDLE_MS = 3_500;
export const SWEEP_MS = 500;
const HINT_MARGIN_MS = 1_000;

/** A server sends the same hint on every response: the last one read is kept (once per request). */
let lastHint: string | undefined;
let lastLimitMs = IDLE_MS;

/** The idle limit of a connection whose last response carried `hint` (a `Keep-Alive` value); ≤ 0: do not keep it. */
export function idleLimitMs(hint: string | undefined): number {
  if (hint === undefined) return IDLE_MS;
  if (hint === lastHint) return lastLimitMs;
  const m = /(?:^|[\s,])timeout=(\d+)/.exec(hint);
  lastHint = hint;
  lastLimitMs = m ? Math.min(IDLE_MS, Number(m[1]) * 1000 - HINT_MARGIN_MS) : IDLE_MS;
  return lastLimitMs;
}
