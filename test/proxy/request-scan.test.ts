import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { scanRequestBody } from '../../src/proxy/request-scan.js';
import { createRequestTap, SCAN_ABOVE_BYTES } from '../../src/proxy/tap.js';

/** What the JSON.parse path reads: top-level model if a string, stream if a boolean. */
function viaParse(text: string): { model: string | undefined; stream: boolean | undefined } {
  const d = JSON.parse(text) as { model?: unknown; stream?: unknown };
  return { model: typeof d.model === 'string' ? d.model : undefined, stream: typeof d.stream === 'boolean' ? d.stream : undefined };
}

const tricky = fc.string({ unit: fc.constantFrom('a', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '😀', '\n', ' ', 'model', '"model":', 'stream') });
const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  v: fc.oneof(
    { depthSize: 'small' },
    tricky,
    fc.boolean(),
    fc.constant(null),
    fc.double({ noNaN: true, noDefaultInfinity: true }),
    fc.array(tie('v'), { maxLength: 4 }),
    fc.dictionary(fc.oneof(fc.constantFrom('model', 'stream', 'messages'), tricky), tie('v'), { maxKeys: 4 }),
  ),
})).v;
const body = fc.dictionary(fc.oneof(fc.constantFrom('model', 'stream', 'messages', 'tools'), tricky), value, { maxKeys: 6 });

describe('scanRequestBody: the same model/stream as JSON.parse on valid bodies', () => {
  it('property: generated bodies (nested model/stream keys, quotes, backslashes, unicode, any indentation)', () => {
    fc.assert(
      fc.property(body, fc.constantFrom(undefined, 0, 1, 2, '\t'), (doc, indent) => {
        const text = JSON.stringify(doc, null, indent);
        expect(scanRequestBody(Buffer.from(text))).toEqual(viaParse(text));
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
      expect(scanRequestBody(Buffer.from(text)), text).toEqual(viaParse(text));
    }
  });

  it('structurally invalid bodies give undefined (truncated, unbalanced, missing value, trailing bytes, open string)', () => {
    for (const text of ['{"model":', '{"model":"x"', '{"model":"x"]', '{"a":[}', '{"a":}', '{"a":,"b":1}', '{"model":"x"} x', '{"model":"x\\"}', '{"model":"\\q"}', '[1]', '']) {
      expect(scanRequestBody(Buffer.from(text)), text).toBeUndefined();
    }
  });
});

describe('request tap over SCAN_ABOVE_BYTES', () => {
  const big = (model: string, stream: boolean, tail = '}') =>
    `{"model":${JSON.stringify(model)},"messages":[{"role":"user","content":${JSON.stringify('ctx "q" \\ '.repeat(SCAN_ABOVE_BYTES / 8))}}],"stream":${stream}${tail}`;

  it('a long chat request is scanned: model and stream as JSON.parse gives them, over several chunks', () => {
    const text = big('meta-llama/Llama-3.1-8B-Instruct', true);
    expect(Buffer.byteLength(text)).toBeGreaterThan(SCAN_ABOVE_BYTES);
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
