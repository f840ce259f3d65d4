// Money as integer cents: parsing decimal text (half-up at the third decimal), formatting, and round trips
// checked as properties over the whole range a payout can take.
import fc from 'fast-check';
import { amountSchema, currencySchema, fromCents, toCents } from '../../shared/money';

const pad2 = (n: number) => String(n).padStart(2, '0');

test('examples', () => {
  expect(toCents('12.5')).toBe(1250);
  expect(toCents('12.50')).toBe(1250);
  expect(toCents('0.01')).toBe(1);
  expect(toCents('  7 ')).toBe(700);
  expect(toCents('007.50')).toBe(750);
  expect(toCents(12.5)).toBe(1250);
  expect(toCents(0.1)).toBe(10);
  expect(toCents('-3.20')).toBe(-320);
  expect(fromCents(1250)).toBe('12.50');
  expect(fromCents(5)).toBe('0.05');
  expect(fromCents(0)).toBe('0.00');
  expect(fromCents(-320)).toBe('-3.20');
  expect(fromCents(-5)).toBe('-0.05');
});

test('half-up at the third decimal, the rest ignored', () => {
  expect(toCents('1.005')).toBe(101);
  expect(toCents('1.0049')).toBe(100);
  expect(toCents('1.004999')).toBe(100);
  expect(toCents('0.995')).toBe(100);
  expect(toCents('-1.005')).toBe(-101);
  expect(toCents(1.005)).toBe(101);
});

test.each([
  '',
  'abc',
  '1e3',
  '1.2.3',
  '12.1234567',
  '.5',
  '5.',
  '1,5',
  '0x10',
  '1234567890123',
  'NaN',
  'Infinity',
  '+1',
])('%p is not an amount', (text) => {
  expect(() => toCents(text)).toThrow(RangeError);
});

test('property: fromCents(toCents(x)) gives back any 2-decimal string (leading zeros dropped)', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 999_999_999_999 }),
      fc.integer({ min: 0, max: 99 }),
      fc.boolean(),
      fc.nat({ max: 3 }),
      (whole, cents, negative, zeros) => {
        const sign = negative && (whole > 0 || cents > 0) ? '-' : '';
        // Leading zeros count towards the 12 digits an amount may have.
        const wholeText = String(whole).length + zeros <= 12 ? `${'0'.repeat(zeros)}${whole}` : String(whole);
        const text = `${sign}${wholeText}.${pad2(cents)}`;
        return fromCents(toCents(text)) === `${sign}${whole}.${pad2(cents)}`;
      },
    ),
    { numRuns: 5000 },
  );
});

test('property: toCents(fromCents(n)) is n for every integer amount of cents', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: -99_999_999_999_999, max: 99_999_999_999_999 }),
      (n) => toCents(fromCents(n)) === n,
    ),
    { numRuns: 5000 },
  );
});

test('property: rounding matches exact integer arithmetic for up to 6 decimals', () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 999_999_999 }),
      fc.integer({ min: 0, max: 999_999 }),
      fc.integer({ min: 1, max: 6 }),
      (whole, fraction, digits) => {
        const frac = String(fraction % 10 ** digits).padStart(digits, '0');
        const thousandths = BigInt(whole) * 1000n + BigInt((frac + '00').slice(0, 3));
        const expected = Number((thousandths + 5n) / 10n);
        return toCents(`${whole}.${frac}`) === expected;
      },
    ),
    { numRuns: 5000 },
  );
});

test('schemas: amounts are non-negative decimals, currencies 3 letters upper-cased', () => {
  expect(amountSchema.safeParse('12.50').success).toBe(true);
  expect(amountSchema.safeParse(12.5).success).toBe(true);
  expect(amountSchema.safeParse('-1').success).toBe(false);
  expect(amountSchema.safeParse('1e3').success).toBe(false);
  expect(currencySchema.parse(' usd ')).toBe('USD');
  expect(currencySchema.safeParse('US').success).toBe(false);
});

test('surrounding spaces: trimmed before the checks, so " -5" is negative and " 12.50 " an amount', () => {
  expect(amountSchema.safeParse(' 12.50 ').success).toBe(true);
  expect(amountSchema.safeParse(' -5').success).toBe(false);
  expect(() => toCents('abc')).toThrow('not a decimal amount: abc');
});
