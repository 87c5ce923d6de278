import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createRequestTap } from '../../src/proxy/tap.js';
import { jsonArbitraries } from '../helpers/json-arbitrary.js';

/** model and stream as the request tap reads them from one body (the tap bounds the model at 256). */
function viaTap(text: string): { model: string | undefined; stream: boolean | undefined } | undefined {
  const t = createRequestTap(1 << 24, undefined, undefined);
  t.write(Buffer.from(text));
  const r = t.end();
  return r.unread === 'invalid' ? undefined : { model: r.model, stream: r.stream };
}
const LONG_BYTES = 8 * 1024;

/** What JSON.parse gives: top-level model if a non-empty string of at most 256, stream if a boolean. */
function viaParse(text: string): { model: string | undefined; stream: boolean | undefined } {
  const d = JSON.parse(text) as { model?: unknown; stream?: unknown };
  return { model: typeof d.model === 'string' && d.model.length > 0 && d.model.length <= 256 ? d.model : undefined, stream: typeof d.stream === 'boolean' ? d.stream : undefined };
}

const body = jsonArbitraries(['model', 'stream', 'messages']).object(['tools'], 6);

describe('request tap: the same model/stream as JSON.parse on valid bodies', () => {
  it('property: generated bodies (nested model/stream keys, quotes, backslashes, unicode, any indentation)', () => {
    fc.assert(
      fc.property(body, fc.constantFrom(undefined, 0, 1, 2, '\t'), (doc, indent) => {
        const text = JSON.stringify(doc, null, indent);
        expect(viaTap(text)).toEqual(viaParse(text));
      }),
      { numRuns: 2000 },
    );
  });

  it('the last of duplicate keys wins, as in JSON.parse, also when the last is not a string/boolean', () => {
    for (const text of [
      '{"model":"a","model":"b","stream":true,"stream":false}',
      '{"model":"a","model":1,"stream":true,"stream":"yes"}',
      '{"model":"a","model":{"x":1},"stream":true,"stream":[true]}',
      '{"model":"a","model":null,"stream":true,"stream":null}',
      '{ "model" : "a\\"b\\\\" , "x" : { "model" : "inner", "stream": true } }',
      '{"messages":[{"role":"user","content":"\\"model\\": \\"fake\\""}],"model":"m\\u00e9"}',
    ]) {
      expect(viaTap(text), text).toEqual(viaParse(text));
    }
  });

  it('malformed bodies are invalid (truncated, unbalanced, missing value or colon, trailing bytes, open string, bad escape in the model, bare key)', () => {
    for (const text of ['{"model":', '{"model":"x"', '{"model":"x"]', '{"a":[}', '{"a":}', '{"a":,"b":1}', '{"model":"x"} x', '{"model":"x\\"}', '{"model":"\\q"}', '{model:"x"}', '{"model" "x"}', '{"stream":tru}', '{"model":"x",}']) {
      expect(viaTap(text), text).toBeUndefined();
    }
    // not an object at all: not_json, and nothing is read
    for (const text of ['[1]', ' "x"']) {
      const t = createRequestTap(1 << 20, undefined, undefined);
      t.write(Buffer.from(text));
      expect(t.end()).toEqual({ model: undefined, stream: undefined, unread: 'not_json' });
    }
  });
});

describe('request tap on long bodies', () => {
  const big = (model: string, stream: boolean, tail = '}') =>
    `{"model":${JSON.stringify(model)},"messages":[{"role":"user","content":${JSON.stringify('ctx "q" \\ '.repeat(LONG_BYTES / 8))}}],"stream":${stream}${tail}`;

  it('a long chat request is scanned: model and stream as JSON.parse gives them, over several chunks', () => {
    const text = big('meta-llama/Llama-3.1-8B-Instruct', true);
    expect(Buffer.byteLength(text)).toBeGreaterThan(LONG_BYTES);
    const t = createRequestTap(1 << 20, undefined, undefined);
    const b = Buffer.from(text);
    for (let i = 0; i < b.length; i += 1000) t.write(b.subarray(i, i + 1000));
    expect(t.end()).toEqual({ model: 'meta-llama/Llama-3.1-8B-Instruct', stream: true, unread: undefined });
  });

  it('a truncated long body is invalid; a model over 256 characters is not taken', () => {
    const t1 = createRequestTap(1 << 20, undefined, undefined);
    t1.write(Buffer.from(big('m', false, '')));
    expect(t1.end()).toEqual({ model: undefined, stream: undefined, unread: 'invalid' });
    const t2 = createRequestTap(1 << 20, undefined, undefined);
    t2.write(Buffer.from(big('x'.repeat(257), false)));
    expect(t2.end()).toEqual({ model: undefined, stream: false, unread: undefined });
  });
});
