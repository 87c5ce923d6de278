import { describe, expect, it } from 'vitest';
import { chartStepS, parseInstant, parsePeriod } from '../../src/report/period.js';

const NOW = Date.parse('2025-06-15T12:00:00Z');

describe('--from / --to', () => {
  it('reads now, relative times, days (00:00 UTC) and RFC 3339 with an offset', () => {
    expect(parseInstant('now', NOW)).toEqual({ ms: NOW });
    expect(parseInstant('-30d', NOW)).toEqual({ ms: NOW - 30 * 86_400_000 });
    expect(parseInstant('-1h', NOW)).toEqual({ ms: NOW - 3_600_000 });
    expect(parseInstant('-90m', NOW)).toEqual({ ms: NOW - 90 * 60_000 });
    expect(parseInstant('-2w', NOW)).toEqual({ ms: NOW - 14 * 86_400_000 });
    expect(parseInstant('-45s', NOW)).toEqual({ ms: NOW - 45_000 });
    expect(parseInstant('2025-01-31', NOW)).toEqual({ ms: Date.parse('2025-01-31T00:00:00Z') });
    expect(parseInstant('2025-01-31T13:00:00+01:00', NOW)).toEqual({ ms: Date.parse('2025-01-31T12:00:00Z') });
    expect(parseInstant('2025-01-31T12:00:00.250Z', NOW)).toEqual({ ms: Date.parse('2025-01-31T12:00:00.250Z') });
  });

  it('names what is wrong: no offset, no such day, no such form', () => {
    expect(parseInstant('2025-01-31T12:00:00', NOW)).toEqual({ problem: '"2025-01-31T12:00:00" has no UTC offset: add Z or +hh:mm' });
    expect(parseInstant('2025-02-30', NOW)).toEqual({ problem: '"2025-02-30" is not a calendar day' });
    expect(parseInstant('last week', NOW)).toEqual({ problem: expect.stringMatching(/^"last week" is not a time: use `now`, -30d/) });
    expect(parseInstant('+1d', NOW)).toHaveProperty('problem');
  });

  it('a period ends after it starts; every problem at once', () => {
    expect(parsePeriod('-7d', 'now', NOW)).toEqual({ period: { fromMs: NOW - 7 * 86_400_000, toMs: NOW } });
    expect(parsePeriod('now', '-1h', NOW)).toEqual({ problems: [expect.stringMatching(/^--to \(2025-06-15T11:00:00\.000Z\) must be after --from/)] });
    expect(parsePeriod('x', 'y', NOW)).toEqual({ problems: [expect.stringMatching(/^--from "x"/), expect.stringMatching(/^--to "y"/)] });
  });

  it('charts a period in at most 60 round steps', () => {
    expect(chartStepS({ fromMs: 0, toMs: 7 * 86_400_000 })).toBe(3 * 3600);
    expect(chartStepS({ fromMs: 0, toMs: 30 * 86_400_000 })).toBe(12 * 3600);
    expect(chartStepS({ fromMs: 0, toMs: 31 * 86_400_000 })).toBe(86_400);
    expect(chartStepS({ fromMs: 0, toMs: 90_000 })).toBe(5);
  });
});
