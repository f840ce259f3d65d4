// Identity keys: many spellings of one person normalize to one email and one E.164 phone, and only their
// keyed hashes leave the module.
import { identityHash, identityKeys, normalizeEmail, normalizePhone } from '../../shared/identity';

const EMAIL = 'jane.doe@example.com';
test.each([
  'jane.doe@example.com',
  'Jane.Doe@Example.com',
  'JANE.DOE@EXAMPLE.COM',
  '  jane.doe@example.com  ',
  '\tjane.doe@example.com\n',
  'jane.doe@EXAMPLE.com',
  'mailto:jane.doe@example.com',
  'MAILTO:Jane.Doe@example.com',
  '<jane.doe@example.com>',
  ' <JANE.doe@example.COM> ',
  'jane.doe@example.com.',
])('email %j is %s', (raw) => {
  expect(normalizeEmail(raw)).toBe(EMAIL);
});

const GMAIL = 'janedoe@gmail.com';
test.each([
  'janedoe@gmail.com',
  'jane.doe@gmail.com',
  'j.a.n.e.d.o.e@gmail.com',
  'Jane.Doe+leads@gmail.com',
  'janedoe+a+b@gmail.com',
  'JANEDOE@GOOGLEMAIL.COM',
  'jane.doe+x@googlemail.com',
])('gmail %j is %s with the gmail rule', (raw) => {
  expect(normalizeEmail(raw, { gmail: true })).toBe(GMAIL);
});

test('without the gmail rule, dots and tags are kept; other domains keep them always', () => {
  expect(normalizeEmail('Jane.Doe+leads@gmail.com')).toBe('jane.doe+leads@gmail.com');
  expect(normalizeEmail('jane.doe+leads@example.com', { gmail: true })).toBe('jane.doe+leads@example.com');
});

test.each([
  undefined,
  null,
  42,
  '',
  'jane',
  'jane@',
  '@example.com',
  'jane doe@example.com',
  'jane@localhost',
  '+@gmail.com',
])('not an email: %j', (raw) => {
  expect(normalizeEmail(raw, { gmail: true })).toBeUndefined();
});

const PHONE = '+14155552671';
test.each([
  ['+1 415 555 2671', undefined],
  ['+14155552671', undefined],
  ['001 415 555 2671', undefined],
  ['(415) 555-2671', 'US'],
  ['415-555-2671', 'US'],
  ['415.555.2671', 'US'],
  ['415 555 2671', 'us'],
  ['1 (415) 555-2671', 'US'],
  ['+1 (415) 555-2671', 'GB'],
  ['4155552671', 'US'],
  ['  415 555 2671 ', 'US'],
  ['+1-415-555-2671', undefined],
  ['(415) 555-2671', 'CA'], // NANP: the same number from a Canadian lead
])('phone %j (country %s) is +14155552671', (raw, country) => {
  expect(normalizePhone(raw, country)).toBe(PHONE);
});

test.each([
  ['020 7946 0958', 'GB', '+442079460958'],
  ['+44 20 7946 0958', 'US', '+442079460958'],
  ['0044 20 7946 0958', undefined, '+442079460958'],
  ['030 123456', 'DE', '+4930123456'],
  ['06 12 34 56 78', 'FR', '+33612345678'],
])('phone %j (country %s) is %s', (raw, country, e164) => {
  expect(normalizePhone(raw, country)).toBe(e164);
});

test.each([
  ['', 'US'],
  ['123', 'US'],
  ['555-2671', 'US'],
  ['(415) 555-2671', undefined],
  ['not a phone', 'US'],
  ['+1 415 555 2671 9999 9999', undefined],
])('not a valid phone: %j (country %s)', (raw, country) => {
  expect(normalizePhone(raw, country)).toBeUndefined();
});

test('identity keys read contact.email and contact.phone with the lead country, only of the kinds asked', () => {
  const lead = {
    contact: { email: ' Jane.Doe@Example.com', phone: '(415) 555-2671' },
    geo: { country: 'US' },
  };
  expect(identityKeys(lead, ['email', 'phone'])).toEqual([
    { kind: 'email', value: EMAIL },
    { kind: 'phone', value: PHONE },
  ]);
  expect(identityKeys(lead, ['phone'])).toEqual([{ kind: 'phone', value: PHONE }]);
  expect(identityKeys({ contact: { email: 'nope' } }, ['email', 'phone'])).toEqual([]);
  expect(identityKeys({}, ['email'])).toEqual([]);
});

test('hashes are keyed: the same key gives the same hash, another secret or kind another one, never the value', () => {
  const a = identityHash('secret-one-0123456789', 'email', EMAIL);
  expect(a).toMatch(/^[0-9a-f]{64}$/);
  expect(identityHash('secret-one-0123456789', 'email', EMAIL)).toBe(a);
  expect(identityHash('secret-two-0123456789', 'email', EMAIL)).not.toBe(a);
  expect(identityHash('secret-one-0123456789', 'phone', EMAIL)).not.toBe(a);
  expect(a).not.toContain('jane');
});
