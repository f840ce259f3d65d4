// Property-based tests of amounts: cents survive a text round trip exactly, rounding is half-up, and
// anything that is not plain decimal text (exponents, hex, commas, NaN) is refused rather than coerced.
import fc from 'fast-check';
import { amountSchema, currencySchema, fromCents, toCents } from '../../shared/money';
import { anyTextOr } from '../support/arbitraries';

/** Cents within what the amount format carries (12 integer digits). */
const cents = fc.integer({ min: -(10 ** 14) + 1, max: 10 ** 14 - 1 });
const digits = (min: number, max: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789'), minLength: min, maxLength: max });

/** Independent oracle: exact half-up rounding to cents with BigInt, from whole and fraction digits. */
function oracleCents(whole: string, fraction: string): bigint {
  const micro = BigInt(whole) * 1_000_000n + BigInt((fraction + '000000').slice(0, 6));
  return (micro + 5_000n) / 10_000n;
}

test('fromCents then toCents gives back the same integer', () => {
  fc.assert(
    fc.property(cents, (c) => {
      const text = fromCents(c);
      expect(text).toMatch(/^-?\d+\.\d{2}$/);
      expect(toCents(text)).toBe(c);
    }),
    { numRuns: 5000 },
  );
});

test('toCents of decimal text is exact half-up rounding (checked against BigInt arithmetic)', () => {
  fc.assert(
    fc.property(
      fc.boolean(),
      digits(1, 12),
      fc.option(digits(1, 6), { nil: undefined }),
      fc.constantFrom('', ' ', '\t'),
      (negative, whole, fraction, pad) => {
        const text = `${pad}${negative ? '-' : ''}${whole}${fraction !== undefined ? `.${fraction}` : ''}${pad}`;
        const expected = oracleCents(whole, fraction ?? '');
        const got = toCents(text);
        expect(Number.isSafeInteger(got)).toBe(true);
        expect(BigInt(Math.abs(got))).toBe(expected);
        if (got !== 0) expect(got < 0).toBe(negative);
      },
    ),
    { numRuns: 5000 },
  );
});

test('toCents of text with at most two decimals round-trips through fromCents to the canonical spelling', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 ** 12 - 1 }), fc.integer({ min: 0, max: 99 }), (whole, c) => {
      const text = `${whole}.${String(c).padStart(2, '0')}`;
      expect(fromCents(toCents(text))).toBe(text);
    }),
  );
});

test('toCents of a finite number agrees with its decimal text', () => {
  fc.assert(
    fc.property(fc.integer({ min: 0, max: 10 ** 9 }), fc.integer({ min: 0, max: 99 }), (whole, c) => {
      const n = Number(`${whole}.${String(c).padStart(2, '0')}`);
      expect(toCents(n)).toBe(whole * 100 + c);
    }),
  );
});

const notDecimal = anyTextOr(
  [
    '',
    ' ',
    '.',
    '.5',
    '5.',
    '1e3',
    '1E-2',
    '0x10',
    '+1',
    '1,50',
    '1 000',
    'NaN',
    'Infinity',
    '-Infinity',
    '--1',
    '1..2',
    '١٢٣',
    '１２',
  ],
  fc
    .tuple(digits(1, 4), fc.constantFrom('e', 'E', 'x', ',', '_', '/', ' '), digits(1, 4))
    .map(([a, sep, b]) => `${a}${sep}${b}`),
  digits(13, 20), // more integer digits than an amount carries
  fc.tuple(digits(1, 3), digits(7, 10)).map(([a, b]) => `${a}.${b}`), // more than 6 decimals
);

test('anything but plain decimal text throws a RangeError (never NaN, never a silent coercion)', () => {
  fc.assert(
    fc.property(notDecimal, (text) => {
      fc.pre(!/^-?\d{1,12}(\.\d{1,6})?$/.test(text.trim()));
      expect(() => toCents(text)).toThrow(RangeError);
      expect(amountSchema.safeParse(text).success).toBe(false);
    }),
    { numRuns: 1500 },
  );
  for (const n of [Number.NaN, Number.POSITIVE_INFINITY, 1e21, 1e-7])
    expect(() => toCents(n)).toThrow(RangeError);
});

test('amountSchema accepts exactly the non-negative decimal amounts that toCents reads', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string(), cents.map(fromCents), fc.double({ noNaN: false })), (value) => {
      const accepted = amountSchema.safeParse(value).success;
      let cents: number | undefined;
      try {
        cents = toCents(value);
      } catch (err) {
        expect(err).toBeInstanceOf(RangeError);
      }
      expect(accepted).toBe(cents !== undefined && !String(value).trim().startsWith('-'));
    }),
    { numRuns: 3000 },
  );
});

test('currencySchema accepts three ASCII letters (upper-cased) and nothing else', () => {
  fc.assert(
    fc.property(fc.oneof(fc.string({ maxLength: 5 }), fc.stringMatching(/^[A-Za-z]{3}$/)), (text) => {
      const parsed = currencySchema.safeParse(text);
      expect(parsed.success).toBe(/^[A-Za-z]{3}$/.test(text.trim()));
      if (parsed.success) expect(parsed.data).toBe(text.trim().toUpperCase());
    }),
    { numRuns: 2000 },
  );
});
