import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_MODEL, startEngine, type EngineProcess } from '../helpers/engine.js';

/**
 * What a token costs on the real engine, in the engine process's own CPU time (/proc/PID/stat), one request
 * at a time: a prompt token is evaluated in batches of up to 512 (matrix × matrix), a completion token alone
 * (matrix × vector, all weights read once per token), so a prompt token must cost less.
 *
 * Three shapes, interleaved and repeated, medians kept:
 *   base   short prompt, short completion   (the fixed cost of a request)
 *   prompt long prompt,  short completion   → CPU per prompt token     = (prompt − base) / Δ prompt tokens
 *   decode short prompt, long completion    → CPU per completion token = (decode − base) / Δ completion tokens
 * Only the inequality and positive costs are asserted; the figures are printed (docs/engine.md quotes them).
 */
const SHORT_PROMPT = 16;
const LONG_PROMPT = 1000;
const SHORT_COMPLETION = 4;
const LONG_COMPLETION = 120;
const ROUNDS = 3;

let engine: EngineProcess;

/** Engine CPU ms of one completion whose prompt is exactly `promptTokens` tokens (BOS + one per character). */
async function cpuOf(promptTokens: number, completionTokens: number): Promise<number> {
  const before = engine.cpuMs();
  const res = await fetch(`${engine.url}/v1/completions`, {
    method: 'POST', headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: ENGINE_MODEL, prompt: 'x'.repeat(promptTokens - 1), max_tokens: completionTokens, ignore_eos: true }),
  });
  const body = (await res.json()) as { usage: { prompt_tokens: number; completion_tokens: number } };
  const after = engine.cpuMs();
  expect(body.usage).toEqual(expect.objectContaining({ prompt_tokens: promptTokens, completion_tokens: completionTokens }));
  return after - before;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

beforeAll(async () => {
  engine = await startEngine(['--parallel', '1']);
  await cpuOf(SHORT_PROMPT, SHORT_COMPLETION); // warm-up: first-use allocations stay out of the figures
});

afterAll(async () => {
  await engine?.stop();
});

describe('the cost of a token on llama.cpp (CPU, one thread)', () => {
  it('a prompt token costs less engine CPU time than a completion token', async () => {
    const base: number[] = [];
    const prompt: number[] = [];
    const decode: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      base.push(await cpuOf(SHORT_PROMPT, SHORT_COMPLETION));
      prompt.push(await cpuOf(LONG_PROMPT, SHORT_COMPLETION));
      decode.push(await cpuOf(SHORT_PROMPT, LONG_COMPLETION));
    }
    const perPromptMs = (median(prompt) - median(base)) / (LONG_PROMPT - SHORT_PROMPT);
    const perCompletionMs = (median(decode) - median(base)) / (LONG_COMPLETION - SHORT_COMPLETION);
    console.log(
      `engine CPU per request (ms, ${ROUNDS} rounds): base ${base.join(' ')} | prompt ${prompt.join(' ')} | decode ${decode.join(' ')}\n` +
      `engine CPU per prompt token ${perPromptMs.toFixed(3)} ms, per completion token ${perCompletionMs.toFixed(3)} ms, ratio ${(perPromptMs / perCompletionMs).toFixed(3)}`,
    );
    expect(perPromptMs).toBeGreaterThan(0);
    expect(perCompletionMs).toBeGreaterThan(0);
    expect(perPromptMs).toBeLessThan(perCompletionMs);
  }, 180_000);
});
