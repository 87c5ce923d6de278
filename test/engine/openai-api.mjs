/**
 * The OpenAI-compatible HTTP surface of the test engine, shaped like vLLM's:
 *
 *   GET  /v1/models             the one served model, with its context length (`max_model_len`)
 *   POST /v1/chat/completions   plain, or streamed (SSE) with `stream_options.include_usage` giving a final
 *                               `choices: []` chunk with `usage`, then `data: [DONE]`
 *   POST /v1/completions        the same for a raw `prompt`
 *   GET  /health                200 once the model is loaded, with the slots: total, busy, queued requests
 *
 * `usage.prompt_tokens` is the number of tokens llama.cpp evaluated for the prompt (BOS included) and
 * `usage.completion_tokens` the number it generated. Parameters: `max_tokens` (or `max_completion_tokens`),
 * `temperature` (default 0: greedy, so a request is repeatable), `seed`, and vLLM's and llama.cpp's
 * `ignore_eos` (generate exactly `max_tokens`). Parameters that would change the output and are not
 * implemented (`n` > 1, `stop`, tools, logprobs, response formats) are refused with 400 rather than ignored.
 */
import { randomUUID } from 'node:crypto';
import { EngineRequestError } from './llama-engine.mjs';
import { renderChat } from './random-llama.mjs';

const MAX_BODY_BYTES = 8 << 20;
const UNSUPPORTED = ['stop', 'tools', 'functions', 'tool_choice', 'logprobs', 'top_logprobs', 'response_format', 'logit_bias'];

class BadRequest extends Error {
  constructor(message, status = 400, code = null, type = 'invalid_request_error') {
    super(message);
    this.status = status;
    this.code = code;
    this.type = type;
  }
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) { reject(new BadRequest(`body over ${MAX_BODY_BYTES} bytes`, 413)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

const errorBody = (e) => ({ error: { message: e.message, type: e.type ?? 'invalid_request_error', param: null, code: e.code ?? null } });

const isAbsent = (v) => v === undefined || v === null;

function optionalInt(body, key, min) {
  const v = body[key];
  if (isAbsent(v)) return undefined;
  if (!Number.isInteger(v) || v < min) throw new BadRequest(`${key} must be an integer ≥ ${min}`);
  return v;
}

/** Message content as text: a string, or an array of `{ type: 'text', text }` parts. */
function messageText(content, i) {
  if (typeof content === 'string') return content;
  if (Array.isArray(content) && content.every((p) => p && p.type === 'text' && typeof p.text === 'string')) return content.map((p) => p.text).join('');
  throw new BadRequest(`messages[${i}].content must be a string or text parts`);
}

/** The sampling and length parameters shared by both routes. */
function readParams(body) {
  for (const key of UNSUPPORTED) {
    const v = body[key];
    if (!isAbsent(v) && v !== false && !(Array.isArray(v) && v.length === 0) && !(key === 'response_format' && v?.type === 'text')) {
      throw new BadRequest(`${key} is not supported by this test engine`);
    }
  }
  if (!isAbsent(body.n) && body.n !== 1) throw new BadRequest('n must be 1 on this test engine');
  const temperature = body.temperature ?? 0;
  if (typeof temperature !== 'number' || !(temperature >= 0)) throw new BadRequest('temperature must be a number ≥ 0');
  if (!isAbsent(body.ignore_eos) && typeof body.ignore_eos !== 'boolean') throw new BadRequest('ignore_eos must be a boolean');
  if (!isAbsent(body.stream) && typeof body.stream !== 'boolean') throw new BadRequest('stream must be a boolean');
  return {
    maxTokens: optionalInt(body, 'max_completion_tokens', 1) ?? optionalInt(body, 'max_tokens', 1),
    temperature,
    seed: optionalInt(body, 'seed', 0),
    ignoreEos: body.ignore_eos === true,
    stream: body.stream === true,
    includeUsage: body.stream_options?.include_usage === true,
  };
}

function promptOf(route, body) {
  if (route === 'chat') {
    if (!Array.isArray(body.messages) || body.messages.length === 0) throw new BadRequest('messages must be a non-empty array');
    return renderChat(body.messages.map((m, i) => {
      if (!m || typeof m.role !== 'string') throw new BadRequest(`messages[${i}].role must be a string`);
      return { role: m.role, content: messageText(m.content, i) };
    }));
  }
  const p = Array.isArray(body.prompt) && body.prompt.length === 1 ? body.prompt[0] : body.prompt;
  if (typeof p !== 'string') throw new BadRequest('prompt must be a string (or an array of one string)');
  return p;
}

/**
 * @param {Awaited<ReturnType<typeof import('./llama-engine.mjs').createLlamaEngine>>} engine
 * @param {{ servedModelName: string }} opts
 */
export function createOpenAiHandler(engine, { servedModelName }) {
  const created = Math.floor(Date.now() / 1000);

  async function complete(route, req, res) {
    let body;
    try { body = JSON.parse(await readBody(req)); } catch (e) {
      throw e instanceof BadRequest ? e : new BadRequest('the body is not valid JSON');
    }
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw new BadRequest('the body must be a JSON object');
    if (!isAbsent(body.model) && body.model !== servedModelName) {
      throw new BadRequest(`The model \`${body.model}\` does not exist.`, 404, 'model_not_found', 'NotFoundError');
    }
    const params = readParams(body);
    const promptTokens = engine.tokenize(promptOf(route, body));
    const chat = route === 'chat';
    const id = `${chat ? 'chatcmpl' : 'cmpl'}-${randomUUID().replaceAll('-', '')}`;
    const object = chat ? 'chat.completion' : 'text_completion';
    const stamp = Math.floor(Date.now() / 1000);
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(); });
    const usageOf = (n) => ({ prompt_tokens: promptTokens.length, completion_tokens: n, total_tokens: promptTokens.length + n });

    if (!params.stream) {
      let text = '';
      const r = await engine.generate(promptTokens, { ...params, signal: abort.signal, onText: (t) => { text += t; } });
      if (r.finishReason === 'abort') return;
      const choice = chat
        ? { index: 0, message: { role: 'assistant', content: text }, logprobs: null, finish_reason: r.finishReason }
        : { index: 0, text, logprobs: null, finish_reason: r.finishReason };
      sendJson(res, 200, { id, object, created: stamp, model: servedModelName, choices: [choice], usage: usageOf(r.completionTokens) });
      return;
    }

    // Streamed: one chunk per token, as vLLM sends them. With include_usage every chunk carries
    // `usage: null` and a last chunk with no choices carries the totals (OpenAI's documented shape).
    const chunkObject = chat ? 'chat.completion.chunk' : 'text_completion';
    const usageField = params.includeUsage ? { usage: null } : {};
    const send = (choice) => res.write(`data: ${JSON.stringify({ id, object: chunkObject, created: stamp, model: servedModelName, choices: [choice], ...usageField })}\n\n`);
    const delta = (content, finish = null) => chat
      ? { index: 0, delta: content === null ? {} : { content }, logprobs: null, finish_reason: finish }
      : { index: 0, text: content ?? '', logprobs: null, finish_reason: finish };
    let started = false;
    const start = () => {
      if (started) return;
      started = true;
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      if (chat) send({ index: 0, delta: { role: 'assistant', content: '' }, logprobs: null, finish_reason: null });
    };
    let r;
    try {
      r = await engine.generate(promptTokens, { ...params, signal: abort.signal, onText: (t) => { start(); send(delta(t)); } });
    } catch (e) {
      if (!started) throw e;
      res.end(`data: ${JSON.stringify(errorBody(e))}\n\n`);
      return;
    }
    if (r.finishReason === 'abort') { res.destroy(); return; }
    start();
    send(delta(null, r.finishReason));
    if (params.includeUsage) {
      res.write(`data: ${JSON.stringify({ id, object: chunkObject, created: stamp, model: servedModelName, choices: [], usage: usageOf(r.completionTokens) })}\n\n`);
    }
    res.end('data: [DONE]\n\n');
  }

  return async function handle(req, res) {
    const path = (req.url ?? '/').split('?')[0];
    try {
      if (req.method === 'GET' && path === '/v1/models') {
        return sendJson(res, 200, {
          object: 'list',
          data: [{ id: servedModelName, object: 'model', created, owned_by: 'inferwatt-test-engine', max_model_len: engine.contextSize }],
        });
      }
      if (req.method === 'GET' && path === '/health') {
        return sendJson(res, 200, { status: 'ok', slots: { total: engine.pool.size, busy: engine.pool.busy, queued: engine.pool.queued } });
      }
      if (req.method === 'POST' && path === '/v1/chat/completions') return await complete('chat', req, res);
      if (req.method === 'POST' && path === '/v1/completions') return await complete('text', req, res);
      throw new BadRequest(`no route ${req.method} ${path}`, 404, null, 'NotFoundError');
    } catch (e) {
      const err = e instanceof BadRequest ? e
        : e instanceof EngineRequestError ? new BadRequest(e.message, 400, e.code)
          : new BadRequest(e instanceof Error ? e.message : String(e), 500, null, 'server_error');
      if (err.status === 500) process.stderr.write(`engine: ${e instanceof Error ? e.stack : String(e)}\n`);
      if (!res.headersSent) sendJson(res, err.status, errorBody(err));
      else res.destroy();
    }
  };
}
