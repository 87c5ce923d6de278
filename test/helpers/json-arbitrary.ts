/**
 * fast-check generators of JSON documents that stress byte-level JSON readers (src/proxy/json-project.ts):
 * strings full of quotes, backslashes, brackets, unicode and the very member names being looked for,
 * numbers of every kind, and objects that nest those names at any depth.
 */
import fc from 'fast-check';

const STRESS_UNITS = ['a', '"', '\\', '{', '}', '[', ']', ',', ':', 'é', '😀', '\n', '\u0001', ' ', '0'];

/**
 * `names`: the member names of interest; they appear as keys at every depth and, quoted and followed by
 * `:`, inside strings. Returns a string, any JSON value, and a top-level object generator.
 */
export function jsonArbitraries(names: readonly string[]): {
  tricky: fc.Arbitrary<string>;
  value: fc.Arbitrary<unknown>;
  object: (extraKeys: readonly string[], maxKeys: number) => fc.Arbitrary<Record<string, unknown>>;
} {
  const tricky = fc.string({ unit: fc.constantFrom(...STRESS_UNITS, ...names, ...names.map((n) => `"${n}":`)) });
  const value: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
    v: fc.oneof(
      { depthSize: 'small' },
      tricky,
      fc.boolean(),
      fc.constant(null),
      fc.integer({ min: 0, max: 2 ** 40 }),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.array(tie('v'), { maxLength: 4 }),
      fc.dictionary(fc.oneof(fc.constantFrom(...names), tricky), tie('v'), { maxKeys: 4 }),
    ),
  })).v;
  const object = (extraKeys: readonly string[], maxKeys: number) =>
    fc.dictionary(fc.oneof(fc.constantFrom(...names, ...extraKeys), tricky), value, { maxKeys });
  return { tricky, value, object };
}
