import { describe, expect, it } from 'vitest';
import { createLabelBounder } from '../../src/exporter/label-bounder.js';

describe('label bounder', () => {
  it('admits the first `max` distinct values, then answers "other"; an admitted value stays admitted', () => {
    const b = createLabelBounder({ max: 2 });
    expect(['a', 'b', 'c', 'a', 'd', 'b'].map((v) => b.label(v))).toEqual(['a', 'b', 'other', 'a', 'other', 'b']);
    expect(b.admitted()).toEqual(['a', 'b']);
    expect(b.allowList()).toEqual([]);
  });

  it('answers "unknown" for no value (null, undefined, empty) without using a slot', () => {
    const b = createLabelBounder({ max: 1 });
    expect([null, undefined, ''].map((v) => b.label(v))).toEqual(['unknown', 'unknown', 'unknown']);
    expect(b.label('x')).toBe('x');
  });

  it('with an allow-list, only listed values pass, whatever `max` says', () => {
    const b = createLabelBounder({ max: 1, allowList: ['search', 'chat'] });
    expect(['chat', 'search', 'batch', null].map((v) => b.label(v))).toEqual(['chat', 'search', 'other', 'unknown']);
    expect(b.allowList()).toEqual(['search', 'chat']);
    expect(b.admitted()).toEqual(['search', 'chat']);
  });

  it('a real value spelled "unknown" or "other" is "other", takes no slot, and is reported once each', () => {
    const reported: string[] = [];
    const b = createLabelBounder({ max: 1, onReserved: (v) => reported.push(v) });
    expect(['unknown', 'other', 'unknown', 'real'].map((v) => b.label(v))).toEqual(['other', 'other', 'other', 'real']);
    expect(b.label(null)).toBe('unknown');
    expect(reported).toEqual(['unknown', 'other']);
    // Reserved words in an allow-list are ignored, so "unknown" keeps meaning "no value".
    const a = createLabelBounder({ max: 5, allowList: ['unknown', 'search'] });
    expect(a.label('unknown')).toBe('other');
    expect(a.allowList()).toEqual(['search']);
  });

  it('an allow-list of reserved words only still allows nothing else: it does not fall back to first come, first served', () => {
    const b = createLabelBounder({ max: 5, allowList: ['unknown'] });
    expect(['team-a', 'team-b', 'unknown', null].map((v) => b.label(v))).toEqual(['other', 'other', 'other', 'unknown']);
    expect(b.admitted()).toEqual([]);
  });

  it('cuts long values to 128 characters and refuses control characters', () => {
    const b = createLabelBounder({ max: 5 });
    expect(b.label('x'.repeat(300))).toBe('x'.repeat(128));
    expect(b.label('bad\nvalue')).toBe('other');
  });
});
