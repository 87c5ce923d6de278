/**
 * The ledger's documented defaults, each with the reason for its value (docs/attribution.md).
 * How a piece is split under each policy is said where it is done: split/time.ts and split/tokens.ts.
 */

/**
 * Default weight of a prompt (prefill) token relative to a generated (decode) token: 0.2. A default,
 * configurable (`attribution.promptTokenWeight`); 1 weighs every token alike, 0 counts only generated ones.
 *
 * Why it is well below 1: a token costs about the same arithmetic (≈ 2 × parameters FLOPs) in both
 * phases, but prefill processes the whole prompt in one compute-bound pass at high utilisation, while
 * decode produces one token per sequence per step, memory-bound, re-reading the weights and KV cache
 * each step; with the GPU near the same power in both phases, energy per token scales with the inverse
 * of utilisation, so a prefill token costs several times less. Measurements agree in direction:
 * Solovyeva & Castor, "Towards Green AI: Decoding the Energy of LLM Inference in Software Development"
 * (arXiv 2602.05712, 2026) find that decoding dominates a request's energy "except when inputs vastly
 * exceed outputs"; Wilkins, Keshav & Mortier, "Offline Energy-Optimal LLM Serving" (arXiv 2407.04014,
 * 2024) fit per-model energy models in input and output tokens in which output tokens dominate. Providers'
 * prices, which track serving cost, charge an input token 1/4 (OpenAI GPT-4o) to 1/5 (Anthropic Claude)
 * of an output token. 0.2 sits in that range; it only matters for requests that overlap in time.
 */
export const DEFAULT_PROMPT_TOKEN_WEIGHT = 0.2;

/**
 * Default bound on sensor lag, ms: 5 s. GPUs are sampled every 100 ms and RAPL every 250 ms (docs/sensors.md),
 * so 5 s is 20–50 sampling intervals: a device that has delivered nothing for that long is failing or
 * being restarted (the nvidia-smi child is restarted when silent), not merely late. Waiting longer would
 * delay every record and hold 5 s × the request rate of pending records (50 000 at 10 000 req/s).
 */
export const DEFAULT_LAG_BOUND_MS = 5_000;

/**
 * Default amortization window, ms: 60 s, aligned on the monotonic clock. Idle energy of each minute is
 * charged to the requests that ended in that minute, so whenever traffic runs every minute, the sum of
 * request energy per minute equals the measured energy per minute, the resolution of Prometheus rates
 * and dashboards (1 m and up). Longer windows would delay records (final only when their window closes);
 * much shorter ones would leave the idle gaps between bursts unattributed.
 */
export const DEFAULT_AMORTIZE_WINDOW_MS = 60_000;

/**
 * `tokens` policy: the most held segments per pool (a segment is a run of pieces with the same active
 * windows, so there is one per window start/end, not one per sample). When more are held, the oldest is
 * split at once with its still-open windows counted as unknown-token (time share). 100 000 segments is
 * ≈ 5 s at 10 000 finished requests/s (two events each) and, at ≈ 200 B + 8 B per device each, ≈ 30 MB.
 */
export const DEFAULT_MAX_HELD_SEGMENTS = 100_000;

/**
 * `tokens` policy: the longest a segment is held waiting for the token counts of windows still open,
 * ms: 60 s, longer than the typical streamed chat completion, so ordinary overlaps are split exactly;
 * a very long request (minutes) then counts as unknown-token (time share) in segments older than that,
 * instead of holding every overlapping record for its whole duration.
 */
export const DEFAULT_MAX_HOLD_MS = 60_000;
