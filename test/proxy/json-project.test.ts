import { readdirSync, readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { keySet, projectTopLevel, type KeySet } from '../../src/proxy/json-project.js';
import { createUsageState, READ_KEYS, readDocument } from '../../src/proxy/usage/index.js';
import { FIXTURES } from './fixture-table.js';
import { jsonArbitraries } from '../helpers/json-arbitrary.js';

const KEYS = keySet(['model', 'usage', 'object', 'eval_count']);

/** What JSON.parse gives, cut down to the top-level members named in `keys`. */
function viaParse(text: string, names: readonly string[]): Record<string, unknown> {
  const d = JSON.parse(text) as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const k of names) if (Object.hasOwn(d, k)) out[k] = d[k];
  return out;
}

const { tricky, value, object } = jsonArbitraries(['model', 'usage', 'object', 'choices']);
const doc = object(['eval_count', 'data'], 7);

describe('projectTopLevel: the kept members exactly as JSON.parse gives them', () => {
  it('property: generated documents (nested kept keys, quotes, escapes, control characters, unicode, numbers, any indentation)', () => {
    fc.assert(
      fc.property(doc, fc.constantFrom(undefined, 0, 1, 2, '\t'), (d, indent) => {
        const text = JSON.stringify(d, null, indent);
        expect(projectTopLevel(Buffer.from(text), KEYS)).toEqual(viaParse(text, KEYS.names));
      }),
      { numRuns: 3000 },
    );
  });

  it('property: a key set with a nested key set gives the nested object cut down to its members', () => {
    const nested = keySet(['model', ['usage', keySet(['prompt_tokens', 'completion_tokens'])]]);
    const usage = fc.dictionary(fc.oneof(fc.constantFrom('prompt_tokens', 'completion_tokens', 'total_tokens', 'details'), tricky), value, { maxKeys: 5 });
    const top = fc.record({ model: value, usage: fc.oneof(usage, value), choices: value }, { requiredKeys: [] });
    fc.assert(
      fc.property(top, fc.constantFrom(undefined, 0, 2), (d, indent) => {
        const text = JSON.stringify(d, null, indent);
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const want: Record<string, unknown> = {};
        if (Object.hasOwn(parsed, 'model')) want.model = parsed.model;
        if (Object.hasOwn(parsed, 'usage')) {
          const u = parsed.usage;
          if (typeof u === 'object' && u !== null && !Array.isArray(u)) want.usage = viaParse(JSON.stringify(u), ['prompt_tokens', 'completion_tokens']);
          else want.usage = u;
        }
        expect(projectTopLevel(Buffer.from(text), nested)).toEqual(want);
      }),
      { numRuns: 2000 },
    );
  });

  it('property: duplicate keys (plain or escaped), the last wins at every depth, as with JSON.parse', () => {
    const nested = keySet(['model', 'error', ['usage', keySet(['prompt_tokens', 'completion_tokens'])]]);
    const key = fc.constantFrom('model', 'error', 'usage', 'prompt_tokens', 'other');
    const write = (k: string, escaped: boolean) => (escaped ? JSON.stringify(k).replace(/e/g, '\\u0065') : JSON.stringify(k));
    const member = fc.tuple(key, fc.boolean(), fc.oneof(value, fc.array(fc.tuple(key, fc.boolean(), value), { maxLength: 5 })));
    fc.assert(
      fc.property(fc.array(member, { maxLength: 8 }), (members) => {
        const text = '{' + members.map(([k, esc, v]) =>
          write(k, esc) + ':' + (Array.isArray(v) && v.every((m) => Array.isArray(m) && m.length === 3 && typeof m[0] === 'string')
            ? '{' + (v as [string, boolean, unknown][]).map(([k2, e2, v2]) => write(k2, e2) + ':' + JSON.stringify(v2)).join(',') + '}'
            : JSON.stringify(v))).join(',') + '}';
        const parsed = JSON.parse(text) as Record<string, unknown>;
        const want = viaParse(text, ['model', 'error', 'usage']);
        const u = parsed.usage;
        if (typeof u === 'object' && u !== null && !Array.isArray(u)) want.usage = viaParse(JSON.stringify(u), ['prompt_tokens', 'completion_tokens']);
        expect(projectTopLevel(Buffer.from(text), nested), text).toEqual(want);
      }),
      { numRuns: 3000 },
    );
  });

  it('hand-picked values: plain and escaped strings, integers, negative, float, exponent, literals, the last duplicate wins', () => {
    for (const text of [
      '{"model":"m","model":"n"}',
      '{"model":"a\\"b\\\\c\\u00e9\\n"}',
      '{"model":"é😀"}',
      '{"eval_count":0,"usage":{"prompt_tokens":12,"completion_tokens":9}}',
      '{"eval_count":-3}',
      '{"eval_count":1.5}',
      '{"eval_count":1e3}',
      '{"eval_count":123456789012345}',
      '{"eval_count":1234567890123456789}',
      '{"object":true,"usage":null,"model":false}',
      '{ "model" : "x" , "choices" : [ { "model" : "inner" , "usage" : { } } ] , "usage" : { "a" : [ 1 , { } ] } }',
      '{"choices":[{"message":{"content":"\\"usage\\": {\\"prompt_tokens\\": 1}"}}],"usage":{"prompt_tokens":2}}',
      '{}',
      ' \n{"model":"spaced"}\n ',
    ]) {
      expect(projectTopLevel(Buffer.from(text), KEYS), text).toEqual(viaParse(text, KEYS.names));
    }
  });

  it('a key written with escapes is the key JSON.parse decodes it to (\\u0065), at the top level and inside a kept object', () => {
    const nested = keySet(['model', ['usage', keySet(['prompt_tokens'])]]);
    for (const text of [
      '{"mod\\u0065l":"x"}',
      '{"model":"a","mod\\u0065l":"b"}',
      '{"\\u006dodel":"c"}',
      '{"us\\u0061ge":{"prompt_\\u0074okens":3}}',
      '{"usage":{"prompt_tokens":1,"prompt\\u005ftokens":4}}',
      '{"\\u006D\\u006f\\u0064\\u0065\\u006C":"upper and lower hex"}',
      '{"model\\u00e9":1,"mod\\"el":2,"m\\/odel":3,"model":"v"}',
    ]) {
      const parsed = JSON.parse(text) as Record<string, unknown>;
      const want: Record<string, unknown> = {};
      if (Object.hasOwn(parsed, 'model')) want.model = parsed.model;
      if (Object.hasOwn(parsed, 'usage')) want.usage = parsed.usage;
      expect(projectTopLevel(Buffer.from(text), nested), text).toEqual(want);
    }
    // An invalid escape in a walked key: JSON.parse refuses the body, so does the projection.
    for (const bad of ['{"mod\\ql":"x"}', '{"mod\\u00zzl":"x"}', '{"\\u00":"x"}']) {
      expect(() => JSON.parse(bad)).toThrow();
      expect(projectTopLevel(Buffer.from(bad), nested), bad).toBeUndefined();
    }
  });

  it('a kept member written many times is parsed once, the last (a hostile body of duplicates costs a scan, not a JSON.parse each)', () => {
    const nested = keySet(['model', 'error', ['usage', keySet(['prompt_tokens'])]]);
    const text = '{' + '"error":[1],"model":"a\\n","usage":{"prompt_tokens":[2]},'.repeat(1000) + '"error":[3],"model":"z\\n","usage":{"prompt_tokens":[4]}}';
    const parse = vi.spyOn(JSON, 'parse');
    try {
      expect(projectTopLevel(Buffer.from(text), nested)).toEqual({ error: [3], model: 'z\n', usage: { prompt_tokens: [4] } });
      // Each kept member (error, model, usage.prompt_tokens) parsed where first met and once more, the
      // last, at the end; the `usage` objects between are walked (checked), not read.
      expect(parse.mock.calls.length).toBeLessThanOrEqual(6);
    } finally {
      parse.mockRestore();
    }
  });

  it('undefined where JSON.parse refuses a kept value or the structure is broken', () => {
    for (const text of [
      '{"model":', '{"model":"x"', '{"model":"x"]', '{"a":[}', '{"a":}', '{"a":,"b":1}', '{"model":"x"} x',
      '{"model":"x\\"}', '{"model":"\\q"}', '{"model":"a\u0001b"}', '{"eval_count":012}', '{"eval_count":tru}',
      '{"usage":{"a":}}', '{"usage":{"a":1,}}', '[1]', '', '   ', '{abc:1}', '{"model" "x"}', '{"model":"x",}', '{"model":"x" "y":1}',
    ]) {
      expect(projectTopLevel(Buffer.from(text), KEYS), JSON.stringify(text)).toBeUndefined();
    }
  });

  it('a skipped member is checked for structure only (documented): balanced but malformed inside is still read', () => {
    expect(projectTopLevel(Buffer.from('{"choices":[1,],"model":"m"}'), KEYS)).toEqual({ model: 'm' });
    expect(() => JSON.parse('{"choices":[1,],"model":"m"}')).toThrow();
  });
});

/** Every document of the recorded corpus: JSON bodies, SSE data payloads and NDJSON lines. */
function corpusDocuments(): { file: string; text: string }[] {
  const root = new URL('../fixtures/llm-responses/', import.meta.url);
  const out: { file: string; text: string }[] = [];
  for (const dir of readdirSync(root)) {
    let files: string[];
    try {
      files = readdirSync(new URL(`${dir}/`, root));
    } catch {
      continue;
    }
    for (const f of files) {
      const file = `${dir}/${f}`;
      if (f.endsWith('.request.json') || f.endsWith('.gz') || f.endsWith('.md')) continue;
      const text = readFileSync(new URL(file, root), 'utf8');
      if (f.endsWith('.json')) out.push({ file, text });
      else if (f.endsWith('.ndjson')) { for (const line of text.split('\n')) if (line.trim()) out.push({ file, text: line }); }
      else if (f.endsWith('.sse')) for (const m of text.matchAll(/^data: ?(.*)$/gm)) if (m[1]!.trim().startsWith('{')) out.push({ file, text: m[1]! });
    }
  }
  return out;
}

describe('READ_KEYS: the usage readers look at no other top-level member', () => {
  const docs = corpusDocuments();

  it('the corpus has documents of every kind', () => {
    expect(docs.length).toBeGreaterThan(200);
    expect(new Set(docs.map((d) => d.file.split('/')[0])).size).toBeGreaterThanOrEqual(6);
  });

  /** Every path the key set keeps (`usage.prompt_tokens`), its own members and those of its sub-sets. */
  function keptPaths(keys: KeySet, prefix = ''): string[] {
    return keys.names.flatMap((n, i) => [prefix + n, ...(keys.sub[i] ? keptPaths(keys.sub[i], `${prefix}${n}.`) : [])]);
  }
  /** `v` with every object in it wrapped so that each property read is recorded with its path. */
  function spy(v: unknown, read: Set<string>, prefix = ''): unknown {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return v;
    return new Proxy(v, {
      get: (t, k, r) => {
        const got: unknown = Reflect.get(t, k, r);
        if (typeof k !== 'string') return got;
        read.add(prefix + k);
        return spy(got, read, `${prefix}${k}.`);
      },
    });
  }

  it('every read of readDocument on every corpus document, at any depth, is a path the key set keeps', () => {
    const read = new Set<string>();
    for (const { file, text } of docs) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        continue; // the corpus holds malformed chunks on purpose
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
      const api = FIXTURES.find((c) => c.file === file)?.api;
      readDocument(spy(parsed, read), createUsageState(), api);
    }
    expect(read.size).toBeGreaterThan(10);
    // `length` of an array (details.prefill) is read on the array, not a member of an object
    const kept = new Set(keptPaths(READ_KEYS));
    expect([...read].filter((k) => !kept.has(k) && !k.endsWith('.length'))).toEqual([]);
    expect([...read].filter((k) => k.includes('.')).length).toBeGreaterThan(3);
  });

  it('readDocument gives the same state from the projection as from JSON.parse, for every corpus document', () => {
    let compared = 0;
    for (const { file, text } of docs) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        expect(projectTopLevel(Buffer.from(text), READ_KEYS), file).toBeUndefined();
        continue;
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) continue;
      const api = FIXTURES.find((c) => c.file === file)?.api;
      const a = createUsageState();
      const b = createUsageState();
      readDocument(parsed, a, api);
      readDocument(projectTopLevel(Buffer.from(text), READ_KEYS), b, api);
      expect(b, file).toEqual(a);
      compared++;
    }
    expect(compared).toBeGreaterThan(200);
  });
});
