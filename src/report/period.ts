/**
 * `--from` / `--to` of `inferwatt report`: `now`, relative to now (`-30d`, `-1h`, `-90m`, `-2w`, `-45s`),
 * a day (`2025-01-31`, its 00:00 UTC) or an RFC 3339 time with its offset (`2025-01-31T12:00:00Z`,
 * `2025-01-31T13:00:00+01:00`). A time without an offset is refused: it would depend on the machine's
 * time zone, and a report for disclosure must not.
 */
const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 7 * 86_400_000 };
const RELATIVE = /^-(\d+(?:\.\d+)?)([smhdw])$/;
const DAY = /^(\d{4})-(\d{2})-(\d{2})$/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

export const PERIOD_FORMS = '`now`, -30d, -12h, -90m, -2w, a day (2025-01-31) or RFC 3339 with an offset (2025-01-31T12:00:00Z)';

/** Unix ms of `text`, or a problem naming what is wrong. */
export function parseInstant(text: string, nowMs: number): { ms: number } | { problem: string } {
  const s = text.trim();
  if (s === 'now') return { ms: nowMs };
  const rel = RELATIVE.exec(s);
  if (rel) return { ms: nowMs - Number(rel[1]) * UNIT_MS[rel[2]!]! };
  const day = DAY.exec(s);
  if (day) {
    const ms = Date.UTC(Number(day[1]), Number(day[2]) - 1, Number(day[3]));
    // Date.UTC rolls 2025-02-30 over to March: refuse instead.
    if (new Date(ms).toISOString().slice(0, 10) !== s) return { problem: `"${text}" is not a calendar day` };
    return { ms };
  }
  if (RFC3339.test(s)) {
    const ms = Date.parse(s);
    if (Number.isFinite(ms)) return { ms };
    return { problem: `"${text}" is not a valid time` };
  }
  if (/^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}/.test(s)) return { problem: `"${text}" has no UTC offset: add Z or +hh:mm` };
  return { problem: `"${text}" is not a time: use ${PERIOD_FORMS}` };
}

export interface Period { fromMs: number; toMs: number }

/** Both ends, or every problem (exit 2). */
export function parsePeriod(from: string, to: string, nowMs: number): { period: Period } | { problems: string[] } {
  const problems: string[] = [];
  const f = parseInstant(from, nowMs);
  const t = parseInstant(to, nowMs);
  if ('problem' in f) problems.push(`--from ${f.problem}`);
  if ('problem' in t) problems.push(`--to ${t.problem}`);
  if ('ms' in f && 'ms' in t && !(t.ms > f.ms)) problems.push(`--to (${new Date(t.ms).toISOString()}) must be after --from (${new Date(f.ms).toISOString()})`);
  return problems.length || !('ms' in f) || !('ms' in t) ? { problems } : { period: { fromMs: f.ms, toMs: t.ms } };
}

const STEPS_S = [1, 5, 15, 30, 60, 300, 900, 1800, 3600, 3 * 3600, 6 * 3600, 12 * 3600, 86_400, 7 * 86_400, 30 * 86_400];

/** The chart step: the smallest round step that cuts the period into at most `maxBuckets` pieces. */
export function chartStepS(period: Period, maxBuckets = 60): number {
  const spanS = (period.toMs - period.fromMs) / 1000;
  return STEPS_S.find((s) => spanS / s <= maxBuckets) ?? Math.ceil(spanS / maxBuckets);
}
