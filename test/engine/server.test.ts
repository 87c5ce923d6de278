import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ENGINE_MODEL, startEngine, type EngineProcess } from '../helpers/engine.js';
import { renderChat } from './random-llama.mjs';
import { chunkOf, contentEvents, readSse } from './sse.js';

/**
 * The test engine on its own: llama.cpp (node-llama-cpp) serving the random llama through
 * test/engine/server.mjs, with two sequences so that concurrency and the queue show.
 *
 * Expected token counts are derived independently of the server: the random llama's vocabulary has one
 * token per printable ASCII character and one byte token for every other byte, no merges and no space
 * prefix, so a prompt is BOS + one token per UTF-8 byte of the text the chat template renders.
 */
let engine: EngineProcess;

type Msg = { role: string; content: string };
const expectedPromptTokens = (text: string) => 1 + Buffer.byteLength(text, 'utf8');

const post = (path: string, body: unknown, signal?: AbortSignal) => fetch(`${engine.url}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body), signal: signal ?? null,
});

interface ChatCompletion {
  object: string;
  model: string;
  choices: { message?: { role: string; content: string }; text?: string; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

async function chat(body: Record<string, unknown>): Promise<ChatCompletion> {
  const res = await post('/v1/chat/completions', { model: ENGINE_MODEL, ...body });
  expect(res.status).toBe(200);
  return (await res.json()) as ChatCompletion;
}

async function health(): Promise<{ slots: { total: number; busy: number; queued: number } }> {
  return (await (await fetch(`${engine.url}/health`)).json()) as { slots: { total: number; busy: number; queued: number } };
}

beforeAll(async () => {
  engine = await startEngine(['--parallel', '2']);
});

afterAll(async () => {
  await engine?.stop();
});

describe('the test engine (llama.cpp behind test/engine/server.mjs)', () => {
  const messages: Msg[] = [{ role: 'user', content: 'How much energy does this use?' }];

  it('lists its one model with its context length', async () => {
    const body = (await (await fetch(`${engine.url}/v1/models`)).json()) as { data: { id: string; max_model_len: number }[] };
    expect(body.data).toEqual([expect.objectContaining({ id: ENGINE_MODEL, object: 'model', max_model_len: 4096 })]);
    expect((await health()).slots).toEqual({ total: 2, busy: 0, queued: 0 });
  });

  it('answers a plain chat completion with usage as llama.cpp counts it, the same answer each time (greedy)', async () => {
    const a = await chat({ messages, max_tokens: 12, ignore_eos: true });
    expect(a.object).toBe('chat.completion');
    expect(a.model).toBe(ENGINE_MODEL);
    expect(a.usage).toEqual({ prompt_tokens: expectedPromptTokens(renderChat(messages)), completion_tokens: 12, total_tokens: expectedPromptTokens(renderChat(messages)) + 12 });
    expect(a.choices[0]!.finish_reason).toBe('length');
    expect(a.choices[0]!.message!.role).toBe('assistant');
    // Twelve tokens, each one printable character or none (a byte or end token): at most 12 characters.
    expect(a.choices[0]!.message!.content.length).toBeGreaterThan(0);
    expect(a.choices[0]!.message!.content.length).toBeLessThanOrEqual(12);
    const b = await chat({ messages, max_tokens: 12, ignore_eos: true });
    expect(b.choices[0]!.message!.content).toBe(a.choices[0]!.message!.content);
  });

  it('streams the same answer token by token, with a final usage chunk when stream_options.include_usage is set', async () => {
    const plain = await chat({ messages, max_tokens: 12, ignore_eos: true });
    const res = await post('/v1/chat/completions', { model: ENGINE_MODEL, messages, max_tokens: 12, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const events = await readSse(res);
    expect(events.at(-1)!.data).toBe('[DONE]');
    const chunks = events.slice(0, -1).map(chunkOf);
    expect(chunks[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    const usageChunk = chunks.at(-1)!;
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toEqual(plain.usage);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe('length');
    // OpenAI's shape: with include_usage, every other chunk carries `usage: null`.
    for (const c of chunks.slice(0, -1)) expect(c.usage).toBeNull();
    const pieces = contentEvents(events);
    expect(pieces.length).toBeLessThanOrEqual(12);
    expect(pieces.map((p) => p.text).join('')).toBe(plain.choices[0]!.message!.content);
  });

  it('sends no usage in a stream without stream_options.include_usage', async () => {
    const res = await post('/v1/chat/completions', { messages, max_tokens: 3, ignore_eos: true, stream: true });
    const chunks = (await readSse(res)).filter((e) => e.data !== '[DONE]').map(chunkOf);
    expect(chunks.length).toBeGreaterThan(1);
    for (const c of chunks) expect(c.usage).toBeUndefined();
  });

  it('tokenizes any UTF-8 prompt (bytes outside printable ASCII become byte tokens)', async () => {
    const m: Msg[] = [{ role: 'user', content: 'h\u00e9llo\tw\u00f6rld \u2603\n\u{1F600}' }];
    const r = await chat({ messages: m, max_tokens: 2, ignore_eos: true });
    expect(r.usage.prompt_tokens).toBe(expectedPromptTokens(renderChat(m)));
    expect(r.usage.prompt_tokens).toBeGreaterThan(1 + renderChat(m).length); // more bytes than UTF-16 units
  });

  it('serves /v1/completions for a raw prompt', async () => {
    const res = await post('/v1/completions', { model: ENGINE_MODEL, prompt: 'The energy of a query', max_tokens: 5, ignore_eos: true });
    expect(res.status).toBe(200);
    const body = (await res.json()) as ChatCompletion;
    expect(body.object).toBe('text_completion');
    expect(body.usage).toEqual({ prompt_tokens: expectedPromptTokens('The energy of a query'), completion_tokens: 5, total_tokens: expectedPromptTokens('The energy of a query') + 5 });
    expect(typeof body.choices[0]!.text).toBe('string');
  });

  it('samples with temperature, repeatably for one seed', async () => {
    const ask = async (seed: number) => (await chat({ messages, max_tokens: 24, ignore_eos: true, temperature: 1, seed })).choices[0]!.message!.content;
    const first = await ask(7);
    expect(await ask(7)).toBe(first);
    // 24 draws among ~95 characters: another seed giving the same text would be a broken seed.
    expect(await ask(8)).not.toBe(first);
  });

  it('decodes two requests together and queues a third until a sequence is free', async () => {
    const open = (max: number) => post('/v1/chat/completions', { messages, max_tokens: max, ignore_eos: true, stream: true, stream_options: { include_usage: true } });
    const [ra, rb] = await Promise.all([open(60), open(60)]);
    // Both sequences are taken once both have answered with headers; the third must wait.
    const rc = open(10);
    const slotsWhileBusy = await health();
    const [ea, eb, ec] = await Promise.all([readSse(ra), readSse(rb), readSse(await rc)]);
    const [a, b, c] = [contentEvents(ea), contentEvents(eb), contentEvents(ec)];
    for (const [events, n] of [[ea, 60], [eb, 60], [ec, 10]] as const) {
      expect(chunkOf(events.at(-2)!).usage).toEqual({ prompt_tokens: expectedPromptTokens(renderChat(messages)), completion_tokens: n, total_tokens: expectedPromptTokens(renderChat(messages)) + n });
    }
    expect(slotsWhileBusy.slots.busy).toBe(2);
    // Served among each other: each of A and B got tokens before the other's last one.
    expect(b[0]!.atMs).toBeLessThan(a.at(-1)!.atMs);
    expect(a[0]!.atMs).toBeLessThan(b.at(-1)!.atMs);
    // C's first token came after one of A and B had produced its last.
    expect(c[0]!.atMs).toBeGreaterThan(Math.min(a.at(-1)!.atMs, b.at(-1)!.atMs));
  });

  it('stops generating for a client that goes away, and frees its sequence', async () => {
    const aborts = [new AbortController(), new AbortController()];
    // Long enough (≥ 4000 tokens, tens of seconds) that a generation running on would still hold its slot below.
    const streams = await Promise.all(aborts.map((a) => post('/v1/chat/completions', { messages, max_tokens: 4000, ignore_eos: true, stream: true }, a.signal)));
    await Promise.all(streams.map(async (res, i) => {
      await readSse(res, () => aborts[i]!.abort()).catch(() => undefined);
    }));
    let slots = (await health()).slots;
    for (let i = 0; i < 100 && slots.busy > 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      slots = (await health()).slots;
    }
    expect(slots).toEqual({ total: 2, busy: 0, queued: 0 });
    const r = await chat({ messages, max_tokens: 3, ignore_eos: true });
    expect(r.usage.completion_tokens).toBe(3);
  });

  it('refuses what it cannot serve, with OpenAI-shaped errors', async () => {
    const cases: [unknown, number, string | null][] = [
      [{ model: 'gpt-4o', messages }, 404, 'model_not_found'],
      [{ messages, max_tokens: 5000 }, 400, 'context_length_exceeded'],
      [{ messages, n: 2 }, 400, null],
      [{ messages, stop: ['\n'] }, 400, null],
      [{ messages: [] }, 400, null],
      ['{not json', 400, null],
    ];
    for (const [body, status, code] of cases) {
      const res = await post('/v1/chat/completions', body);
      expect(res.status, JSON.stringify(body)).toBe(status);
      const err = (await res.json()) as { error: { message: string; code: string | null } };
      expect(err.error.code).toBe(code);
      expect(err.error.message.length).toBeGreaterThan(0);
    }
    expect((await fetch(`${engine.url}/v1/embeddings`, { method: 'POST', body: '{}' })).status).toBe(404);
  });
});
