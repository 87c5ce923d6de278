/**
 * Bounded label values (CONVENTIONS lesson 9): an allow-list if one is given, else the first `max`
 * distinct values seen; everything else becomes `other`. A request id, prompt or user never becomes
 * a label. Values are also cut to a sane length and stripped of control characters.
 */
export const OVERFLOW_LABEL = 'other';
export const UNKNOWN_LABEL = 'unknown';

export interface LabelBounder {
  label(value: string | null | undefined): string;
  /** The distinct admitted values, in admission order. */
  admitted(): readonly string[];
  /** The configured allow-list (empty when values are admitted first come, first served). */
  allowList(): readonly string[];
}

export function createLabelBounder(opts: { max: number; allowList?: readonly string[] }): LabelBounder {
  const allow = opts.allowList && opts.allowList.length ? new Set(opts.allowList) : undefined;
  const seen = new Set<string>();
  return {
    label(value) {
      if (value === null || value === undefined || value === '') return UNKNOWN_LABEL;
      const v = value.length > 128 ? value.slice(0, 128) : value;
      if (allow) return allow.has(v) ? v : OVERFLOW_LABEL;
      if (seen.has(v)) return v;
      if (seen.size >= opts.max) return OVERFLOW_LABEL;
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f]/.test(v)) return OVERFLOW_LABEL;
      seen.add(v);
      return v;
    },
    admitted: () => [...(allow ?? seen)],
    allowList: () => [...(allow ?? [])],
  };
}
