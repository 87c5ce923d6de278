import { describe, expect, it } from 'vitest';
import { admitsLabels, createLabelBounder, type LabelBounder } from '../../src/exporter/label-bounder.js';

/** Admits then labels each value, as the agent does for requests the upstream served. */
const served = (b: LabelBounder, v: string | null | undefined) => {
  b.admit(v);
  return b.label(v);
};

describe('label bounder', () => {
  it('admits the first `max` distinct values, then answers "other"; an admitted value stays admitted', () => {
    const b = createLabelBounder({ max: 2 });
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((v) => served(b, v))).toEqual(['a', 'b', 'other', 'a', 'other', 'b']);
    expect(b.admitted()).toEqual(['a', 'b']);
    expect(b.allowList()).toEqual([]);
  });

  it('answers "unknown" for no value (null, undefined, empty) without using a slot', () => {
    const b = createLabelBounder({ max: 1 });
    expect([null, undefined, ''].map((v) => served(b, v))).toEqual(['unknown', 'unknown', 'unknown']);
    expect(served(b, 'x')).toBe('x');
  });

  it('with an allow-list, only listed values pass, whatever `max` says', () => {
    const b = createLabelBounder({ max: 1, allowList: ['search', 'chat'] });
    expect(['chat', 'search', 'batch', null].map((v) => served(b, v))).toEqual(['chat', 'search', 'other', 'unknown']);
    expect(b.allowList()).toEqual(['search', 'chat']);
    expect(b.admitted()).toEqual(['search', 'chat']);
  });

  it('a real value spelled "unknown" or "other" is "other", takes no slot, and is reported once each', () => {
    const reported: string[] = [];
    const b = createLabelBounder({ max: 1, onReserved: (v) => reported.push(v) });
    expect(['unknown', 'other', 'unknown', 'real'].map((v) => served(b, v))).toEqual(['other', 'other', 'other', 'real']);
    expect(b.label(null)).toBe('unknown');
    expect(reported).toEqual(['unknown', 'other']);
    // Reserved words in an allow-list are ignored, so "unknown" keeps meaning "no value".
    const a = createLabelBounder({ max: 5, allowList: ['unknown', 'search'] });
    expect(a.label('unknown')).toBe('other');
    expect(a.allowList()).toEqual(['search']);
  });

  it('an allow-list of reserved words only still allows nothing else: it does not fall back to first come, first served', () => {
    const b = createLabelBounder({ max: 5, allowList: ['unknown'] });
    expect(['team-a', 'team-b', 'unknown', null].map((v) => served(b, v))).toEqual(['other', 'other', 'other', 'unknown']);
    expect(b.admitted()).toEqual([]);
  });

  it('cuts long values to 128 characters and refuses control characters', () => {
    const b = createLabelBounder({ max: 5 });
    expect(served(b, 'x'.repeat(300))).toBe('x'.repeat(128));
    expect(served(b, 'bad\nvalue')).toBe('other');
  });

  it('looking a value up takes no slot: only `admit` does (issue 13: made-up names looked up never crowd out the real ones)', () => {
    const b = createLabelBounder({ max: 2 });
    expect(['junk-1', 'junk-2', 'junk-3'].map((v) => b.label(v))).toEqual(['other', 'other', 'other']);
    expect(b.admitted()).toEqual([]);
    expect(served(b, 'real')).toBe('real');
    expect(b.label('junk-1')).toBe('other');
  });

  it('a request gives its labels a slot only when the upstream served it: 2xx and delivered whole', () => {
    expect(admitsLabels({ outcome: 'ok', status: 200 })).toBe(true);
    expect(admitsLabels({ outcome: 'ok', status: 204 })).toBe(true);
    expect(admitsLabels({ outcome: 'ok', status: 404 })).toBe(false);
    expect(admitsLabels({ outcome: 'ok', status: 429 })).toBe(false);
    expect(admitsLabels({ outcome: 'error', status: 500 })).toBe(false);
    expect(admitsLabels({ outcome: 'error', status: 200 })).toBe(false); // an error in the body
    expect(admitsLabels({ outcome: 'aborted', status: 200 })).toBe(false);
    expect(admitsLabels({ outcome: 'error', status: null })).toBe(false);
  });
});
