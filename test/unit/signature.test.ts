// Postback signatures: the canonical string SPEC.md defines, a fixed HMAC vector (computed with openssl),
// independence from parameter order, and the constant-time comparison.
import fc from 'fast-check';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import {
  canonicalString,
  safeEqual,
  sameSecret,
  secretDigest,
  SIGNATURE_WINDOW_SECONDS,
  signParams,
} from '../../shared/signature';

const SECRET = 'vector-secret-0123456789';
const PARAMS = { subid: 'abc', status: 'approved', ts: '1700000000', a: '1' };

test('canonical string: names sorted, k=v joined by &, values as received, signature left out', () => {
  expect(canonicalString(PARAMS)).toBe('a=1&status=approved&subid=abc&ts=1700000000');
  expect(canonicalString({ ...PARAMS, signature: 'ff'.repeat(32) })).toBe(
    'a=1&status=approved&subid=abc&ts=1700000000',
  );
  expect(canonicalString({ b: 'x y', a: 'é&' })).toBe('a=é&&b=x y');
  expect(canonicalString({})).toBe('');
});

test('HMAC-SHA256 hex of the canonical string (vector from `openssl dgst -sha256 -hmac`)', () => {
  expect(signParams(SECRET, PARAMS)).toBe('2079bbba2fe3bc54fc762caf0d1460dab05ff4a963a5ee3e1baa049df5060651');
});

test('the 300 s window of SPEC.md', () => {
  expect(SIGNATURE_WINDOW_SECONDS).toBe(300);
});

test('property: parameter order does not matter, any changed value or secret does', () => {
  const params = fc.dictionary(fc.stringMatching(/^[a-z][a-z0-9_]{0,9}$/), fc.string({ maxLength: 20 }), {
    minKeys: 1,
    maxKeys: 8,
  });
  fc.assert(
    fc.property(params, fc.string({ minLength: 1, maxLength: 10 }), (p, extra) => {
      const reversed = Object.fromEntries(Object.entries(p).reverse());
      const sig = signParams(SECRET, p);
      if (signParams(SECRET, reversed) !== sig || !/^[0-9a-f]{64}$/.test(sig)) return false;
      const key = Object.keys(p)[0] as string;
      return (
        signParams(SECRET, { ...p, [key]: `${p[key]}${extra}` }) !== sig &&
        signParams(`${SECRET}x`, p) !== sig
      );
    }),
    { numRuns: 300 },
  );
});

test('safeEqual: equal strings only, and no throw on different lengths', () => {
  expect(safeEqual('abc', 'abc')).toBe(true);
  expect(safeEqual('abc', 'abd')).toBe(false);
  expect(safeEqual('abc', 'abcd')).toBe(false);
  expect(safeEqual('', '')).toBe(true);
  expect(safeEqual('é', 'e')).toBe(false);
});

test('sameSecret compares digests: equal secrets only, any lengths, no throw', () => {
  expect(sameSecret('admin-key-0123456789', 'admin-key-0123456789')).toBe(true);
  expect(sameSecret('admin-key-0123456789', 'admin-key-012345678')).toBe(false);
  expect(sameSecret('', 'x'.repeat(10_000))).toBe(false);
  expect(secretDigest('abc').toString('hex')).toBe(
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', // SHA-256("abc"), FIPS 180-2
  );
});

test('sources are found by the digest of their key, never by the key itself', () => {
  const index = new ConfigIndex(
    parseRoutingConfig({
      partners: [{ id: 'p', delivery: { url: 'http://127.0.0.1:1/x' }, postback: { token: 'p-token-123' } }],
      sources: [{ id: 's', apiKey: 'key-of-source-s' }],
    }),
  );
  expect(index.sourceByKey('key-of-source-s')?.id).toBe('s');
  expect(index.sourceByKey('key-of-source-')).toBeUndefined();
  expect(Object.values(index).some((v) => v instanceof Map && v.has('key-of-source-s'))).toBe(false);
});
