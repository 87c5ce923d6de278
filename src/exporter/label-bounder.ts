/**
 * Bounded label values (CONVENTIONS lesson 9): an allow-list if one is given, else the first `max`
 * distinct values seen; everything else becomes `other`. A request id, prompt or user never becomes
 * a label. Values are also cut to a sane length and stripped of control characters.
 *
 * `unknown` (no value: a request without the tenant header, a body whose model could not be read) and
 * `other` (over the bound or off the allow-list) are reserved: a real value spelled like either is
 * grouped as `other` and never admitted, so that `unknown` always means "no value" and never a real
 * tenant or model of that name. `onReserved` hears of each such value once, for a warning.
 */
export const OVERFLOW_LABEL = 'other';
export const UNKNOWN_LABEL = 'unknown';
export const RESERVED_LABELS: readonly string[] = [UNKNOWN_LABEL, OVERFLOW_LABEL];

export interface LabelBounder {
  label(value: string | null | undefined): string;
  /** The distinct admitted values, in admission order. */
  admitted(): readonly string[];
  /** The configured allow-list (empty when values are admitted first come, first served). */
  allowList(): readonly string[];
}

export interface LabelBounderOptions {
  max: number;
  allowList?: readonly string[];
  /** Called once per reserved value (`unknown`, `other`) that arrives as a real value. */
  onReserved?: (value: string) => void;
}

export function createLabelBounder(opts: LabelBounderOptions): LabelBounder {
  // Reserved words in an allow-list would let a real value pass as the reserved meaning: dropped. A
  // list given with only those still allows nothing else (not first come, first served).
  const allowed = (opts.allowList ?? []).filter((v) => !RESERVED_LABELS.includes(v));
  const allow = opts.allowList !== undefined && opts.allowList.length > 0 ? new Set(allowed) : undefined;
  const seen = new Set<string>();
  const reported = new Set<string>();
  return {
    label(value) {
      if (value === null || value === undefined || value === '') return UNKNOWN_LABEL;
      const v = value.length > 128 ? value.slice(0, 128) : value;
      if (allow) return allow.has(v) ? v : reservedOr(v);
      if (seen.has(v)) return v;
      if (v === UNKNOWN_LABEL || v === OVERFLOW_LABEL) return reservedOr(v);
      if (seen.size >= opts.max) return OVERFLOW_LABEL;
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f]/.test(v)) return OVERFLOW_LABEL;
      seen.add(v);
      return v;
    },
    admitted: () => [...(allow ?? seen)],
    allowList: () => [...(allow ?? [])],
  };

  function reservedOr(v: string): string {
    if ((v === UNKNOWN_LABEL || v === OVERFLOW_LABEL) && !reported.has(v)) {
      reported.add(v);
      try { opts.onReserved?.(v); } catch { /* a warning hook never breaks labelling */ }
    }
    return OVERFLOW_LABEL;
  }
}
