// Property-based tests of postback signatures: the canonical string does not depend on parameter order,
// and a signature verifies for the parameters it was made for and for no others.
import fc from 'fast-check';
import { canonicalString, safeEqual, sameSecret, signParams } from '../../shared/signature';

/** Parameter names as the gateway admits them (letters, digits, "_", "-"). */
const paramName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9_-]{0,11}$/);
/**
 * Values as a partner sends them, minus "&" and "=": the canonical string joins k=v with "&" unescaped,
 * so a value holding "&b=2" reads the same as a separate parameter b=2 (see docs/benchmarks.md, Fuzzing).
 */
const paramValue = fc.oneof(fc.string(), fc.string({ unit: 'binary' })).map((v) => v.replace(/[&=]/g, ''));
const params = fc.dictionary(paramName, paramValue, { minKeys: 1, maxKeys: 10 });
const secret = fc.string({ minLength: 1, maxLength: 64 });

/** The same entries inserted in another order. */
function reordered(p: Record<string, string>, order: number[]): Record<string, string> {
  const entries = Object.entries(p);
  const out: Record<string, string> = {};
  for (const i of order) out[entries[i]![0]] = entries[i]![1];
  return out;
}
const withPermutation = params.chain((p) => {
  const n = Object.keys(p).length;
  return fc.tuple(fc.constant(p), fc.shuffledSubarray([...Array(n).keys()], { minLength: n, maxLength: n }));
});

test('the canonical string and the signature do not depend on parameter order', () => {
  fc.assert(
    fc.property(withPermutation, secret, ([p, order], s) => {
      const q = reordered(p, order);
      expect(canonicalString(q)).toBe(canonicalString(p));
      expect(safeEqual(signParams(s, q), signParams(s, p))).toBe(true);
    }),
    { numRuns: 1000 },
  );
});

test('the canonical string lists every parameter but `signature`, sorted by name', () => {
  fc.assert(
    fc.property(params, paramValue, (p, sig) => {
      const text = canonicalString({ ...p, signature: sig });
      const names = Object.keys(p).filter((k) => k !== 'signature');
      expect(text).toBe(canonicalString(p));
      expect(text.split('&').map((kv) => kv.slice(0, kv.indexOf('=')))).toEqual(
        names.length ? [...names].sort() : [''],
      );
    }),
  );
});

test('a signature is a 64-hex HMAC that changes with any value, name, extra parameter or secret', () => {
  fc.assert(
    fc.property(params, secret, paramValue, paramName, secret, (p, s, other, extraName, otherSecret) => {
      const sig = signParams(s, p);
      expect(sig).toMatch(/^[0-9a-f]{64}$/);
      const [name, value] = Object.entries(p)[0]!;
      if (other !== value) expect(signParams(s, { ...p, [name]: other })).not.toBe(sig);
      if (!(extraName in p) && extraName !== 'signature')
        expect(signParams(s, { ...p, [extraName]: other })).not.toBe(sig);
      if (Object.keys(p).length > 1) {
        const fewer = { ...p };
        delete fewer[name];
        expect(signParams(s, fewer)).not.toBe(sig);
      }
      if (name !== 'signature' && !(`${name}x` in p)) {
        const renamed = { ...p, [`${name}x`]: value };
        delete renamed[name];
        expect(signParams(s, renamed)).not.toBe(sig);
      }
      if (otherSecret !== s) expect(signParams(otherSecret, p)).not.toBe(sig);
    }),
    { numRuns: 1000 },
  );
});

test.each([
  ['safeEqual', safeEqual],
  ['sameSecret (digest comparison)', sameSecret],
])('%s is string equality, for any lengths and contents', (_name, equal) => {
  fc.assert(
    fc.property(fc.string({ unit: 'binary' }), fc.string({ unit: 'binary' }), (a, b) => {
      expect(equal(a, b)).toBe(a === b);
      expect(equal(a, a)).toBe(true);
      expect(equal(b, b)).toBe(true);
    }),
    { numRuns: 2000 },
  );
});
