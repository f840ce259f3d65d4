// Amounts are stored as integer cents: exact, and summable by the database without float drift.
import { z } from 'zod';

const DECIMAL = /^-?\d{1,12}(\.\d{1,6})?$/;

/** Parses "12.5", "12.50", "1e3"-free decimal text or a finite number into integer cents (half-up). */
export function toCents(value: string | number): number {
  const text = typeof value === 'number' ? String(value) : value.trim();
  if (!DECIMAL.test(text)) throw new RangeError(`not a decimal amount: ${text}`);
  const negative = text.startsWith('-');
  const [whole = '0', fraction = ''] = text.replace('-', '').split('.');
  const padded = (fraction + '000').slice(0, 3);
  let cents = Number(whole) * 100 + Number(padded.slice(0, 2));
  if (Number(padded[2]) >= 5) cents += 1;
  return negative ? -cents : cents;
}

export function fromCents(cents: number): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(cents);
  return `${sign}${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
}

/** A non-negative decimal amount as it arrives in a postback (text) or a config file (number). */
export const amountSchema = z
  .union([z.string(), z.number()])
  .refine((v) => DECIMAL.test(String(v).trim()) && !String(v).trim().startsWith('-'), {
    message: 'must be a non-negative decimal amount',
  });

/** The currency of an amount that names none: a partner's default when its config names none. */
export const DEFAULT_CURRENCY = 'USD';

export const currencySchema = z
  .string()
  .trim()
  .regex(/^[A-Za-z]{3}$/, 'must be a 3-letter ISO 4217 code')
  .transform((c) => c.toUpperCase());
