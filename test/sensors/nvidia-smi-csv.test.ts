/** The pure helpers for nvidia-smi's CSV: absent tokens, numbers, rejected fields, line splitting. */
import { describe, expect, it } from 'vitest';
import { createLineSplitter, parseInvalidField, parseQueryNumber, splitQueryRow } from '../../src/sensors/nvidia-smi-csv.js';

describe('parseQueryNumber', () => {
  it('reads nounits values and values that kept their unit', () => {
    expect(parseQueryNumber(' 625.68')).toBe(625.68);
    expect(parseQueryNumber('0')).toBe(0); // a real 0 % stays 0
    expect(parseQueryNumber('631.95 W')).toBe(631.95);
    expect(parseQueryNumber('100 %')).toBe(100);
  });

  it('treats every absent token nvidia-smi prints as absent, never zero', () => {
    for (const t of ['[N/A]', '[Not Supported]', '[Insufficient Permissions]', '[Unknown Error]', 'N/A', '', '  ',
      '[Requested functionality has been deprecated]']) {
      expect(parseQueryNumber(t)).toBeUndefined();
    }
  });

  it('returns NaN for garbage so that callers count it', () => {
    expect(parseQueryNumber('garbage')).toBeNaN();
    expect(parseQueryNumber('12 parsecs')).toBeNaN();
  });
});

describe('parseInvalidField', () => {
  it('finds the field a driver rejected', () => {
    expect(parseInvalidField('Field "power.draw.instant" is not a valid field to query.\n\n')).toBe('power.draw.instant');
    expect(parseInvalidField('NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.')).toBeUndefined();
  });
});

describe('splitQueryRow', () => {
  it('trims tokens and rejects rows of the wrong width', () => {
    expect(splitQueryRow('0, 625.68, 631.95', 3)).toEqual(['0', '625.68', '631.95']);
    expect(splitQueryRow('0, 625.68', 3)).toBeUndefined();
    expect(splitQueryRow('0, 1, 2, 3', 3)).toBeUndefined();
  });

  it('joins surplus commas back into a trailing free-text field (a GPU name with a comma)', () => {
    expect(splitQueryRow('0, 70.5, Some GPU, Rev. B', 3, true)).toEqual(['0', '70.5', 'Some GPU, Rev. B']);
  });
});

describe('createLineSplitter', () => {
  it('emits complete lines across chunk boundaries and keeps only the unfinished tail', () => {
    const lines: string[] = [];
    const s = createLineSplitter((l) => lines.push(l));
    s.push('0, 62');
    expect(lines).toEqual([]);
    s.push('5.68\r\n1, 7');
    expect(lines).toEqual(['0, 625.68']);
    expect(s.pending()).toBe('1, 7');
    s.push('0.1\n2, 3\n');
    expect(lines).toEqual(['0, 625.68', '1, 70.1', '2, 3']);
    expect(s.pending()).toBe('');
  });

  it('drops an overlong line without a newline and reports it', () => {
    let overflows = 0;
    const lines: string[] = [];
    const s = createLineSplitter((l) => lines.push(l), () => overflows++, 16);
    s.push('x'.repeat(10));
    s.push('x'.repeat(10));
    expect(overflows).toBe(1);
    s.push('ok\n');
    expect(lines).toEqual(['ok']);
  });
});
