import OpenAI from 'openai';
import type { ChatCompletionCreateParamsNonStreaming, ChatCompletionCreateParamsStreaming } from 'openai/resources/chat/completions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgent, type Agent } from '../../src/agent.js';
import { silentLogger } from '../../src/core/logger.js';
import type { RequestRecord } from '../../src/exporter/record.js';
import { ENGINE_MODEL, startEngine, type EngineProcess } from '../helpers/engine.js';
import { renderChat } from './random-llama.mjs';
import { finalRecord } from '../helpers/records.js';

/**
 * `inferwatt run` in front of a real engine: llama.cpp (test/engine/server.mjs, the random llama) upstream,
 * the `estimate` CPU sensor (power follows this host's CPU load, which the engine's tokens drive), and the
 * official openai client through the proxy. What the records must carry is what the engine reported, and
 * that matches the count derived from the vocabulary (BOS + one token per UTF-8 byte of the prompt).
 */
let engine: EngineProcess;
let agent: Agent;
let client: OpenAI;

// vLLM's and llama.cpp's `ignore_eos`: exactly max_tokens are generated. Not in the openai types.
type Extra = { ignore_eos: boolean };

const recordOf = (id: string) => finalRecord(agent.metricsUrl, id);

function expectEnergy(rec: RequestRecord): void {
  expect(rec.outcome).toBe('ok');
  expect(rec.complete).toBe(true);
  expect(rec.energyJ.cpu).toBeGreaterThan(0);
  expect(rec.energyJ.total).toBeCloseTo(rec.energyJ.gpu + rec.energyJ.cpu + rec.energyJ.dram, 9);
  expect(Object.keys(rec.energyByDeviceJ ?? {})).toEqual(['cpu']); // the estimate sensor's one device
}

beforeAll(async () => {
  engine = await startEngine(['--parallel', '2']);
  agent = await startAgent([
    '--sensors', 'estimate', '--cpu-interval-ms', '100',
    '--upstream', engine.url, '--listen', '127.0.0.1:0', '--metrics-listen', '127.0.0.1:0', '--region', 'FR',
  ], { env: {}, logger: silentLogger });
  client = new OpenAI({ baseURL: `${agent.proxyUrl}/v1`, apiKey: 'unused', maxRetries: 0 });
});

afterAll(async () => {
  await agent?.stop();
  await engine?.stop();
});

describe('inferwatt run in front of llama.cpp', () => {
  const messages = [{ role: 'user' as const, content: 'What does one answer cost the planet?' }];
  const promptTokens = 1 + Buffer.byteLength(renderChat(messages), 'utf8');

  it('records a plain request with the engine\'s model name, exact token counts and energy', async () => {
    const params: ChatCompletionCreateParamsNonStreaming & Extra = { model: ENGINE_MODEL, messages, max_tokens: 16, ignore_eos: true };
    const { data, response } = await client.chat.completions.create(params).withResponse();
    expect(data.usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: 16 });
    const rec = await recordOf(response.headers.get('x-inferwatt-request-id')!);
    expect(rec.model).toBe(ENGINE_MODEL);
    expect(rec.api).toBe('openai.chat');
    expect([rec.promptTokens, rec.completionTokens]).toEqual([promptTokens, 16]);
    expectEnergy(rec);
  });

  it('records a streamed request from its final usage chunk', async () => {
    const params: ChatCompletionCreateParamsStreaming & Extra = {
      model: ENGINE_MODEL, messages, max_tokens: 24, ignore_eos: true, stream: true, stream_options: { include_usage: true },
    };
    const { data: stream, response } = await client.chat.completions.create(params).withResponse();
    let usage: OpenAI.CompletionUsage | undefined;
    let text = '';
    for await (const chunk of stream) {
      if (chunk.usage) usage = chunk.usage;
      text += chunk.choices[0]?.delta.content ?? '';
    }
    expect(usage).toMatchObject({ prompt_tokens: promptTokens, completion_tokens: 24 });
    expect(text.length).toBeGreaterThan(0);
    const rec = await recordOf(response.headers.get('x-inferwatt-request-id')!);
    expect(rec.model).toBe(ENGINE_MODEL);
    expect([rec.promptTokens, rec.completionTokens]).toEqual([promptTokens, 24]);
    expect(rec.ttfbMs).toBeLessThan(rec.durationMs);
    expectEnergy(rec);
  });

  it('counts concurrent requests of different lengths exactly, each with its own energy, in records and /metrics', async () => {
    const lengths = [8, 40, 20];
    const recs = await Promise.all(lengths.map(async (n, i) => {
      const m = [{ role: 'user' as const, content: `Question ${i}: ${'x'.repeat(50 * i)}` }];
      const params: ChatCompletionCreateParamsStreaming & Extra = { model: ENGINE_MODEL, messages: m, max_tokens: n, ignore_eos: true, stream: true, stream_options: { include_usage: true } };
      const { data: stream, response } = await client.chat.completions.create(params).withResponse();
      for await (const chunk of stream) void chunk;
      const rec = await recordOf(response.headers.get('x-inferwatt-request-id')!);
      expect([rec.promptTokens, rec.completionTokens]).toEqual([1 + Buffer.byteLength(renderChat(m), 'utf8'), n]);
      expectEnergy(rec);
      return rec;
    }));
    const body = await (await fetch(`${agent.metricsUrl}/metrics`)).text();
    const sample = (prefix: string) => Number(body.split('\n').find((l) => l.startsWith(prefix))?.split(' ').at(-1));
    // This file's requests so far: the plain one (16), the streamed one (24) and these three.
    expect(sample(`inferwatt_tokens_total{model="${ENGINE_MODEL}",tenant="unknown",pool="default",type="completion"}`)).toBe(16 + 24 + lengths.reduce((a, b) => a + b, 0));
    expect(sample(`inferwatt_tokens_total{model="${ENGINE_MODEL}",tenant="unknown",pool="default",type="prompt"}`)).toBe(2 * promptTokens + recs.reduce((a, r) => a + r.promptTokens!, 0));
  });
});
