/**
 * Bounded label values: an allow-list if one is given, else the first `max`
 * distinct values ADMITTED; everything else becomes `other`. A request id, prompt or user never becomes
 * a label. Values are also cut to a sane length and stripped of control characters.
 *
 * Looking a value up (`label`) never takes a slot; `admit` does, and the agent admits a request's model
 * and tenant only once the upstream has served that request (`admitsLabels`): a client inventing model
 * names that the server refuses (404) or fails on (500) cannot fill the slots and push the real models
 * into `other` until restart. A server that answers 2xx for any model name (some echo the name they were
 * asked for) still lets a client admit names: `modelAllowList` is the bound that no client can move.
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
  /** The label of `value`: itself once admitted (or allow-listed), `unknown` for no value, else `other`. Takes no slot. */
  label(value: string | null | undefined): string;
  /** Gives `value` a slot if one is free (no allow-list; not reserved; no control characters). */
  admit(value: string | null | undefined): void;
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
  const cut = (value: string) => (value.length > 128 ? value.slice(0, 128) : value);
  return {
    label(value) {
      if (value === null || value === undefined || value === '') return UNKNOWN_LABEL;
      const v = cut(value);
      if (allow) return allow.has(v) ? v : reservedOr(v);
      if (seen.has(v)) return v;
      return reservedOr(v);
    },
    admit(value) {
      if (allow || value === null || value === undefined || value === '') return;
      const v = cut(value);
      if (seen.has(v) || seen.size >= opts.max || v === UNKNOWN_LABEL || v === OVERFLOW_LABEL) return;
      // eslint-disable-next-line no-control-regex
      if (/[\u0000-\u001f]/.test(v)) return;
      seen.add(v);
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

/**
 * Whether a finished request may give its model and tenant a label slot: the upstream served it (2xx)
 * and it was delivered whole (`ok`). A refusal (4xx), a failure (5xx, an error in the body) or an abort
 * proves nothing about the name the client sent.
 */
export function admitsLabels(rec: { outcome: string; status: number | null }): boolean {
  return rec.outcome === 'ok' && rec.status !== null && rec.status >= 200 && rec.status < 300;
}
