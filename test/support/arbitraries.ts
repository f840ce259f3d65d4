// Arbitraries the property tests share.
import fc from 'fast-check';

/**
 * Any text (`fc.string()`, and any code point but lone surrogates), or one of `values`, or what the
 * `more` arbitraries give: each of these picked alike, as one `fc.oneof`.
 */
export function anyTextOr(values: readonly string[], ...more: fc.Arbitrary<string>[]): fc.Arbitrary<string> {
  return fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom(...values), ...more);
}
