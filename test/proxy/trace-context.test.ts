import { describe, expect, it } from 'vitest';
import { parseTraceparent } from '../../src/proxy/trace-context.js';

// Examples of the W3C Trace Context recommendation (https://www.w3.org/TR/trace-context/#traceparent-header).
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const SPAN = '00f067aa0ba902b7';

describe('traceparent (W3C Trace Context, level 1)', () => {
  it('reads the trace id and the parent (caller\'s span) id of a version-00 header, sampled or not', () => {
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-01`)).toEqual({ traceId: TRACE, spanId: SPAN });
    expect(parseTraceparent(`00-${TRACE}-${SPAN}-00`)).toEqual({ traceId: TRACE, spanId: SPAN });
  });

  it('accepts a later version with more fields after the four it knows, as the spec asks', () => {
    expect(parseTraceparent(`01-${TRACE}-${SPAN}-01-what-the-future-adds`)).toEqual({ traceId: TRACE, spanId: SPAN });
    expect(parseTraceparent(`cc-${TRACE}-${SPAN}-09`)).toEqual({ traceId: TRACE, spanId: SPAN });
  });

  it.each([
    ['absent', undefined],
    ['empty', ''],
    ['version ff (forbidden)', `ff-${TRACE}-${SPAN}-01`],
    ['version 00 with more after the flags', `00-${TRACE}-${SPAN}-01-x`],
    ['a later version glued to more without a dash', `01-${TRACE}-${SPAN}-01x`],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-${SPAN}-01`],
    ['an all-zero parent id', `00-${TRACE}-${'0'.repeat(16)}-01`],
    ['upper-case hex', `00-${TRACE.toUpperCase()}-${SPAN}-01`],
    ['a short trace id', `00-${TRACE.slice(1)}-${SPAN}-01`],
    ['a non-hex character', `00-${TRACE.slice(0, 31)}g-${SPAN}-01`],
    ['a bad flags field', `00-${TRACE}-${SPAN}-1`],
    ['two headers joined by node:http', `00-${TRACE}-${SPAN}-01, 00-${TRACE}-${SPAN}-01`],
    ['underscores for dashes', `00_${TRACE}_${SPAN}_01`],
  ])('ignores %s', (_n, v) => {
    expect(parseTraceparent(v)).toBeUndefined();
  });
});
