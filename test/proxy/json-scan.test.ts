import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { hasAnyMarker, hasMarker, marker, startsAt } from '../../src/proxy/json-scan.js';
import { ERROR_MARKERS, finalMarkersFor } from '../../src/proxy/usage/index.js';

const MARKER_SETS = [
  ERROR_MARKERS,
  finalMarkersFor(undefined),
  finalMarkersFor('openai.chat'),
  finalMarkersFor('ollama.chat'),
  [marker('type', { oneOf: ['error'] }), marker('typed', { startsWith: '{' }), marker('t', { notNull: true })],
];

// Documents made of pieces that form, or almost form, marker occurrences.
const piece = fc.constantFrom('"usage"', '"usage":', ' : ', '{', '}', '"error"', ':null', ':"error"', '"object":"error"', '"type"', '"typed"', '"t"', ':', ' ', '"', '\\"', 'x', 'null', '"response.failed"', '"eval_count"', '"timings"', '"details"', '1', '\n');
const doc = fc.array(piece, { maxLength: 30 }).map((p) => Buffer.from(p.join('')));

describe('hasAnyMarker: one pass over small documents answers as hasMarker for each marker', () => {
  it('property: generated near-miss documents, every marker set the taps use', () => {
    fc.assert(
      fc.property(doc, fc.constantFrom(...MARKER_SETS.keys()), (d, k) => {
        const set = MARKER_SETS[k]!;
        expect(hasAnyMarker(d, set)).toBe(set.some((m) => hasMarker(d, m)));
      }),
      { numRuns: 5000 },
    );
  });

  it('documents over the one-pass bound take the per-marker path with the same answers', () => {
    const pad = ' '.repeat(5000);
    expect(hasAnyMarker(Buffer.from(`{${pad}"usage": {"prompt_tokens":1}}`), finalMarkersFor('openai.chat'))).toBe(true);
    expect(hasAnyMarker(Buffer.from(`{${pad}"usage": null}`), finalMarkersFor('openai.chat'))).toBe(false);
    expect(hasAnyMarker(Buffer.from(`{"error": {"message":"x"}${pad}}`), ERROR_MARKERS)).toBe(true);
  });

  it('a key at the very end (no value) is not a marker', () => {
    expect(hasAnyMarker(Buffer.from('{"usage"'), finalMarkersFor('openai.chat'))).toBe(false);
    expect(hasAnyMarker(Buffer.from('{"usage" : '), finalMarkersFor('openai.chat'))).toBe(false);
  });

  it('startsAt compares bytes at an offset, false past either end', () => {
    const d = Buffer.from('ab"usage"');
    expect(startsAt(d, Buffer.from('"usage"'), 2)).toBe(true);
    expect(startsAt(d, Buffer.from('"usage"'), 3)).toBe(false);
    expect(startsAt(d, Buffer.from('ge"x'), 6)).toBe(false);
    expect(startsAt(d, Buffer.from('a'), -1)).toBe(false);
  });
});
