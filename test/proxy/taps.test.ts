import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { createRequestTap, createResponseTap, type TapResult } from '../../src/proxy/tap.js';
import { FIXTURES_DIR, splitBytes, splitEvents } from '../helpers/replay-upstream.js';
import { FIXTURES, fixtureBody, fixtureContentType, type FixtureCase } from './fixture-table.js';

function runTap(c: FixtureCase, chunks: Buffer[], opts: { contentType?: string | undefined; complete?: boolean; maxParseBytes?: number } = {}): Promise<TapResult> {
  const tap = createResponseTap({
    api: c.api,
    contentType: 'contentType' in opts ? opts.contentType : fixtureContentType(c),
    contentEncoding: c.encoding,
    maxParseBytes: opts.maxParseBytes ?? 1024 * 1024,
  });
  for (const ch of chunks) tap.write(ch);
  return new Promise((resolve) => tap.end(opts.complete ?? true, resolve));
}

const expected = (c: FixtureCase) => ({
  model: c.model,
  promptTokens: c.prompt,
  completionTokens: c.completion,
  errorSeen: c.errorSeen ?? false,
});
const got = (r: TapResult) => ({ model: r.model, promptTokens: r.promptTokens, completionTokens: r.completionTokens, errorSeen: r.errorSeen });

describe('response taps on the recorded corpus', () => {
  it('the table covers every response file of test/fixtures/llm-responses', () => {
    const files: string[] = [];
    for (const dir of readdirSync(FIXTURES_DIR)) {
      const d = path.join(FIXTURES_DIR, dir);
      if (!statSync(d).isDirectory()) continue;
      for (const f of readdirSync(d)) if (!f.endsWith('.request.json')) files.push(`${dir}/${f}`);
    }
    expect(FIXTURES.map((c) => c.file).sort()).toEqual(files.sort());
  });

  describe.each(FIXTURES.map((c) => [c.file, c] as const))('%s', (_name, c) => {
    const body = fixtureBody(c);
    it('whole body in one write yields the expected model, tokens and error flag', async () => {
      expect(got(await runTap(c, [body]))).toEqual(expected(c));
    });
    it.each([1, 7, 64, 1000])('written in %i-byte chunks (lines and UTF-8 cut) yields the same', async (size) => {
      expect(got(await runTap(c, splitBytes(body, size)))).toEqual(expected(c));
    });
    if (!c.encoding && (c.file.endsWith('.sse') || c.reframe)) {
      it('SSE with CRLF line ends yields the same', async () => {
        const crlf = Buffer.from(body.toString('latin1').replace(/\r?\n/g, '\r\n'), 'latin1');
        expect(got(await runTap(c, splitBytes(crlf, 13)))).toEqual(expected(c));
      });
      it('one write per event yields the same', async () => {
        expect(got(await runTap(c, splitEvents(body, true)))).toEqual(expected(c));
      });
      it('without a Content-Type the framing is sniffed as SSE', async () => {
        const r = await runTap(c, [body], { contentType: undefined });
        expect(r.framing).toBe('sse');
        expect(got(r)).toEqual(expected(c));
      });
    }
  });
});

describe('response tap edge cases', () => {
  const find = (file: string) => FIXTURES.find((c) => c.file === file)!;

  it('malformed JSON body: forwarded bytes are not the tap\'s business, tokens stay unknown (not 0)', async () => {
    const c = { ...find('vllm/completions-nonstream-llama3.3-70b-fp4.json') };
    const broken = Buffer.from('{"model":"m","usage":{"prompt_tokens":5,"completion_tokens":');
    const r = await runTap(c, [broken]);
    expect(r.promptTokens).toBeUndefined();
    expect(r.completionTokens).toBeUndefined();
    expect(r.parseFailures).toBe(1);
  });

  it('the malformed data event of a stream is skipped; the other events are still read', async () => {
    const c = find('openai/chat-stream-invalid-json-chunk.sse');
    const body = fixtureBody(c);
    // Put a usage event after the malformed one: it must still be found.
    const withUsage = Buffer.concat([body.subarray(0, body.lastIndexOf('data: [DONE]')), Buffer.from('data: {"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n')]);
    const r = await runTap(c, splitBytes(withUsage, 5));
    expect(got(r)).toEqual({ model: 'gpt-4-0125-preview', promptTokens: 3, completionTokens: 4, errorSeen: false });
  });

  it('a JSON body over maxParseBytes is not parsed whole; usage and model at its end are still read', async () => {
    const c = find('openai/chat-nonstream-gpt35.json');
    const r = await runTap(c, splitBytes(fixtureBody(c), 50), { maxParseBytes: 100 });
    expect(got(r)).toEqual(expected(c));
    expect(r.unread).toBeUndefined();
  });

  it('a stream cut before its usage event (complete=false) keeps the model, tokens unknown', async () => {
    const c = find('openai/chat-stream-include-usage-gpt35.sse');
    const body = fixtureBody(c);
    const r = await runTap(c, [body.subarray(0, 600)], { complete: false });
    expect(r.model).toBe('gpt-3.5-turbo-0125');
    expect(r.completionTokens).toBeUndefined();
  });

  it('continuous usage (usage on every chunk): the last cumulative value, never a sum', async () => {
    const c = find('openai-compatible-hosted/hyperbolic-chat-stream-vllm-continuous-usage-spaced-json.sse');
    const r = await runTap(c, splitEvents(fixtureBody(c), true));
    expect(r.completionTokens).toBe(21);
  });

  it('SSE `event: error` marks the response as failed', async () => {
    const r = await runTap({ file: 'x', path: '/v1/chat/completions', api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined }, [
      Buffer.from('data: {"model":"m","choices":[]}\n\nevent: error\ndata: {"message":"overloaded"}\n\n'),
    ], { contentType: 'text/event-stream' });
    expect(r.errorSeen).toBe(true);
    expect(r.model).toBe('m');
  });

  it('SSE data lines never ended by a blank line: the event is bounded like a line, not kept and re-copied whole', async () => {
    // Each line re-joined to the event so far copied it again: quadratic, 18 s of blocked event loop for
    // 20,000 token lines (2 MB). Now the event is joined once, and dropped past maxParseBytes.
    const line = Buffer.from('data: {"model":"m","choices":[{"delta":{"content":"tok"}}]}\n');
    const concat = vi.spyOn(Buffer, 'concat');
    let copied = 0;
    let r: TapResult;
    try {
      const tap = createResponseTap({ api: 'openai.chat', contentType: 'text/event-stream', contentEncoding: undefined, maxParseBytes: 64 * 1024 });
      for (let i = 0; i < 5000; i++) tap.write(line);
      tap.write(Buffer.from('\ndata: {"model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'));
      r = await new Promise<TapResult>((resolve) => tap.end(true, resolve));
      for (const res of concat.mock.results) copied += (res.value as Buffer).length;
    } finally {
      concat.mockRestore();
    }
    expect(copied).toBeLessThanOrEqual(64 * 1024);
    expect(got(r)).toEqual({ model: 'm', promptTokens: 3, completionTokens: 4, errorSeen: false });
  });

  it('SSE: several data lines of one event are joined by LF (spec), the event read once', async () => {
    const r = await runTap({ file: 'x', path: '/v1/chat/completions', api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined }, [
      Buffer.from('data: {"model":"m",\ndata: "choices":[],\ndata: "usage":{"prompt_tokens":3,"completion_tokens":4}}\n\n'),
    ], { contentType: 'text/event-stream' });
    expect(got(r)).toEqual({ model: 'm', promptTokens: 3, completionTokens: 4, errorSeen: false });
  });

  it('vLLM error object (`"object": "error"`) in a stream marks it failed', async () => {
    const r = await runTap({ file: 'x', path: '/v1/chat/completions', api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined }, [
      Buffer.from('data: {"model":"m","choices":[]}\n\ndata: {"object": "error", "message": "boom", "type": "BadRequestError", "code": 400}\n\n'),
    ], { contentType: 'text/event-stream' });
    expect(r.errorSeen).toBe(true);
  });

  it('a content token that is literally "usage" or "error" is not taken for usage or an error', async () => {
    const r = await runTap({ file: 'x', path: '/v1/chat/completions', api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined }, [
      Buffer.from('data: {"model":"m","choices":[{"delta":{"content":"usage"}}]}\n\ndata: {"model":"m","choices":[{"delta":{"content":"\\"error\\": 1"}}]}\n\ndata: [DONE]\n\n'),
    ], { contentType: 'text/event-stream' });
    expect(r.errorSeen).toBe(false);
    expect(r.completionTokens).toBeUndefined();
  });

  // llama.cpp: no licensed recording exists (SOURCES.md, Gaps); these bodies are SYNTHETIC, shaped after
  // the field list of tools/server/README.md in ggml-org/llama.cpp.
  it('llama.cpp /completion JSON (synthetic): tokens_evaluated and tokens_predicted', async () => {
    const body = Buffer.from('{"content":"x","model":"qwen2.5-0.5b","tokens_predicted":17,"tokens_evaluated":9,"stop":true,"timings":{"prompt_n":2,"predicted_n":17}}');
    const r = await runTap({ file: 'x', path: '/completion', api: 'llamacpp.completion', model: undefined, prompt: undefined, completion: undefined }, [body], { contentType: 'application/json; charset=utf-8' });
    expect(got(r)).toEqual({ model: 'qwen2.5-0.5b', promptTokens: 9, completionTokens: 17, errorSeen: false });
  });

  it('llama.cpp /completion stream (synthetic): the final stop:true event counts', async () => {
    const body = Buffer.from(
      'data: {"content":"Hel","stop":false,"id_slot":0}\n\ndata: {"content":"lo","stop":false,"id_slot":0}\n\n' +
        'data: {"content":"","model":"qwen2.5-0.5b","stop":true,"tokens_predicted":2,"tokens_evaluated":5,"timings":{"prompt_n":5,"predicted_n":2}}\n\n',
    );
    const r = await runTap({ file: 'x', path: '/completion', api: 'llamacpp.completion', model: undefined, prompt: undefined, completion: undefined }, splitBytes(body, 9), { contentType: 'text/event-stream' });
    expect(got(r)).toEqual({ model: 'qwen2.5-0.5b', promptTokens: 5, completionTokens: 2, errorSeen: false });
  });

  // TGI 3 /generate_stream with details: no recorded stream carrying `input_length` is in the corpus
  // (test/fixtures/llm-responses/SOURCES.md: the TGI 3 stream there has `details: null`); this body is
  // SYNTHETIC, shaped after the stream details of TGI's spec as huggingface_hub generates its types from
  // it (src/huggingface_hub/inference/_generated/types/text_generation.py,
  // TextGenerationStreamOutputStreamDetails: finish_reason, generated_tokens, input_length, seed) and the
  // framing of the recorded TGI streams.
  it('TGI 3 /generate_stream (synthetic): the final event\'s details.input_length is the prompt\'s token count', async () => {
    const body = Buffer.from(
      'data: {"index":1,"token":{"id":1820,"text":" the","logprob":-0.5,"special":false},"generated_text":null,"details":null}\n\n' +
        'data: {"index":2,"token":{"id":1917,"text":" world","logprob":-0.3,"special":false},"generated_text":" the world","details":{"finish_reason":"length","generated_tokens":2,"input_length":7,"seed":null}}\n\n',
    );
    const c = { file: 'x', path: '/generate_stream', api: 'tgi.generate_stream' as const, model: undefined, prompt: undefined, completion: undefined };
    for (const chunks of [[body], splitBytes(body, 11)]) {
      expect(got(await runTap(c, chunks, { contentType: 'text/event-stream' }))).toEqual({ model: undefined, promptTokens: 7, completionTokens: 2, errorSeen: false });
    }
  });

  it('cached prompt tokens: the recorded OpenAI bodies that report prompt_tokens_details say 0, and none is made up where a body does not say', async () => {
    const byFile = (f: string) => FIXTURES.find((c) => c.file === f)!;
    for (const f of ['openai/chat-nonstream-gpt35.json', 'openai/chat-stream-include-usage-gpt35.sse', 'openai/responses-api-nonstream-gzip.json']) {
      const c = byFile(f);
      expect((await runTap(c, [fixtureBody(c)])).cachedPromptTokens, f).toBe(0);
    }
    const plain = byFile('openai/chat-stream-usage-no-details.sse');
    expect((await runTap(plain, [fixtureBody(plain)])).cachedPromptTokens).toBeUndefined();
  });

  // vLLM with prefix caching reports the cached part of the prompt as OpenAI does; no recorded response
  // with a non-zero count is in the corpus, so these bodies are SYNTHETIC, shaped after OpenAI's usage
  // object (CompletionUsage.prompt_tokens_details.cached_tokens; ResponseUsage.input_tokens_details).
  it('cached prompt tokens (synthetic): prompt_tokens_details.cached_tokens, streamed or not, and the Responses API\'s input_tokens_details', async () => {
    const chat = { file: 'x', path: '/v1/chat/completions', api: 'openai.chat' as const, model: undefined, prompt: undefined, completion: undefined };
    const json = Buffer.from('{"id":"c1","object":"chat.completion","model":"m","choices":[],"usage":{"prompt_tokens":1200,"completion_tokens":40,"total_tokens":1240,"prompt_tokens_details":{"cached_tokens":1024}}}');
    for (const chunks of [[json], splitBytes(json, 7)]) {
      const r = await runTap(chat, chunks, { contentType: 'application/json' });
      expect([r.promptTokens, r.completionTokens, r.cachedPromptTokens]).toEqual([1200, 40, 1024]);
    }
    const sse = Buffer.from('data: {"id":"c1","choices":[{"index":0,"delta":{"content":"hi"}}]}\n\ndata: {"id":"c1","choices":[],"usage":{"prompt_tokens":900,"completion_tokens":2,"prompt_tokens_details":{"cached_tokens":512}}}\n\ndata: [DONE]\n\n');
    const s = await runTap(chat, splitBytes(sse, 5), { contentType: 'text/event-stream' });
    expect([s.promptTokens, s.completionTokens, s.cachedPromptTokens]).toEqual([900, 2, 512]);
    const responses = { ...chat, path: '/v1/responses', api: 'openai.responses' as const };
    const rb = Buffer.from('{"id":"r1","object":"response","model":"m","usage":{"input_tokens":300,"output_tokens":9,"input_tokens_details":{"cached_tokens":256}}}');
    const rr = await runTap(responses, [rb], { contentType: 'application/json' });
    expect([rr.promptTokens, rr.cachedPromptTokens]).toEqual([300, 256]);
  });

  it('an unsupported Content-Encoding leaves the body unread, tokens unknown', async () => {
    const tap = createResponseTap({ api: 'openai.chat', contentType: 'application/json', contentEncoding: 'zstd', maxParseBytes: 1 << 20 });
    tap.write(Buffer.from('garbage'));
    const r = await new Promise<TapResult>((resolve) => tap.end(true, resolve));
    expect(r.unread).toBe('encoding');
    expect(r.promptTokens).toBeUndefined();
  });
});

describe('request tap', () => {
  it('learns model and stream from a small JSON body', () => {
    const t = createRequestTap(1024, undefined, undefined);
    t.write(Buffer.from('{"model":"gpt-4o",'));
    t.write(Buffer.from('"stream":true,"messages":[]}'));
    expect(t.end()).toEqual({ model: 'gpt-4o', stream: true, unread: undefined });
  });
  it('does not keep or parse a body over the bound (declared length)', () => {
    const t = createRequestTap(10, 11, undefined);
    t.write(Buffer.from('{"model":"x"}'));
    expect(t.end()).toEqual({ model: undefined, stream: undefined, unread: 'too_large' });
  });
  it('does not keep or parse a chunked body that grows over the bound', () => {
    const t = createRequestTap(10, undefined, undefined);
    t.write(Buffer.from('{"model":'));
    t.write(Buffer.from('"x"}'));
    expect(t.end().unread).toBe('too_large');
  });
  it('leaves a malformed body unread', () => {
    const t = createRequestTap(100, undefined, undefined);
    t.write(Buffer.from('{"model":'));
    expect(t.end()).toEqual({ model: undefined, stream: undefined, unread: 'invalid' });
  });
});

describe('JSON bodies over the parse bound', () => {
  it('an embeddings batch over maxParseBytes: model and usage are read from the last bytes', async () => {
    // Derived from the recorded openai/embeddings-3-small-dim256.json: its one `data` entry repeated
    // 400 times (≈ 2 MiB), model and usage left as recorded, at the end.
    const rec = JSON.parse(fixtureBody(FIXTURES.find((f) => f.file === 'openai/embeddings-3-small-dim256.json')!).toString()) as { data: unknown[] };
    rec.data = Array.from({ length: 400 }, () => rec.data[0]);
    const big = Buffer.from(JSON.stringify(rec, null, 2));
    expect(big.length).toBeGreaterThan(1024 * 1024);
    const c: FixtureCase = { file: 'x.json', path: '/v1/embeddings', api: 'openai.embeddings', model: undefined, prompt: undefined, completion: undefined };
    const r = await runTap(c, splitBytes(big, 16 * 1024));
    expect(got(r)).toEqual({ model: 'text-embedding-3-small', promptTokens: 2, completionTokens: 0, errorSeen: false });
    expect(r.unread).toBeUndefined();
  });

  it('an Ollama /api/embed body over the bound: prompt_eval_count from the last bytes', async () => {
    const rec = JSON.parse(fixtureBody(FIXTURES.find((f) => f.file === 'ollama/api-embed-nomic.json')!).toString()) as { embeddings: unknown[] };
    rec.embeddings = Array.from({ length: 200 }, () => rec.embeddings[0]);
    const big = Buffer.from(JSON.stringify(rec));
    const c: FixtureCase = { file: 'x.json', path: '/api/embed', api: 'ollama.embed', model: undefined, prompt: undefined, completion: undefined };
    const r = await runTap(c, splitBytes(big, 10_000), { maxParseBytes: 64 * 1024 });
    expect(r.promptTokens).toBe(2);
    expect(r.completionTokens).toBe(0);
  });

  it('a member name found as a string value ("role": "model") is not taken for the member', async () => {
    const big = Buffer.from(JSON.stringify({ data: 'x'.repeat(5000), model: 'm-1', usage: { prompt_tokens: 4, completion_tokens: 5 }, parts: [{ role: 'model' }] }));
    const c: FixtureCase = { file: 'x.json', path: '/v1/chat/completions', api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined };
    const r = await runTap(c, [big], { maxParseBytes: 1000 });
    expect(got(r)).toEqual({ model: 'm-1', promptTokens: 4, completionTokens: 5, errorSeen: false });
  });

  it('a large body without usage at its end stays unknown (too_large)', async () => {
    const big = Buffer.from(JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: 1 }, data: 'x'.repeat(300_000) }));
    const c: FixtureCase = { file: 'x.json', path: '/v1/chat/completions', api: 'openai.chat', model: undefined, prompt: undefined, completion: undefined };
    const r = await runTap(c, [big], { maxParseBytes: 1000 });
    expect(r.promptTokens).toBeUndefined();
    expect(r.unread).toBe('too_large');
  });
});
