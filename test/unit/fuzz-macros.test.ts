// Property-based tests of the source postback URL template: whatever the values, the result is a valid URL
// to the same host, each value arrives URL-encoded and decodes back to itself, and nothing else changes.
import fc from 'fast-check';
import { fillTemplate, NOTIFICATION_MACROS, type MacroValues } from '../../shared/macros';
import { anyTextOr } from '../support/arbitraries';

/**
 * Well-formed text of any kind (control characters, "&", "#", "%", "/", astral planes). Lone UTF-16
 * surrogates are left out: values come from MongoDB documents, and BSON strings are UTF-8, so a lone
 * surrogate in a lead's input has become U+FFFD by the time it is read back for a notification.
 */
const value = anyTextOr([
  '',
  '&status=accepted',
  '#frag',
  '%',
  '%25',
  '%zz',
  '../..',
  '?a=b',
  ' ',
  '+',
  '{clickid}',
  '\r\nX-Injected: 1',
]);
const values: fc.Arbitrary<MacroValues> = fc.record(
  Object.fromEntries(NOTIFICATION_MACROS.map((m) => [m, value])) as Record<
    (typeof NOTIFICATION_MACROS)[number],
    fc.Arbitrary<string>
  >,
  { requiredKeys: [] },
);

const QUERY_TEMPLATE =
  'http://127.0.0.1:4020/pb?clickid={clickid}&lead={lead_id}&status={status}&payout={payout}&cur={currency}&partner={partner}&source={source}&event={event_id}&s1={sub1}&s2={sub2}&s3={sub3}&s4={sub4}&s5={sub5}';
const PARAM_OF: Record<string, string> = {
  clickid: 'clickid',
  lead_id: 'lead',
  status: 'status',
  payout: 'payout',
  currency: 'cur',
  partner: 'partner',
  source: 'source',
  event_id: 'event',
  sub1: 's1',
  sub2: 's2',
  sub3: 's3',
  sub4: 's4',
  sub5: 's5',
};

test('every macro value lands, URL-encoded, in its own query parameter of a valid URL to the same host', () => {
  fc.assert(
    fc.property(values, (v) => {
      const url = new URL(fillTemplate(QUERY_TEMPLATE, v));
      expect(url.origin).toBe('http://127.0.0.1:4020');
      expect(url.pathname).toBe('/pb');
      expect(url.hash).toBe('');
      expect([...url.searchParams.keys()]).toEqual(Object.values(PARAM_OF));
      for (const macro of NOTIFICATION_MACROS) {
        const got = url.searchParams.get(PARAM_OF[macro]!);
        // A macro without a value stays as written, so a misconfigured template shows in the receiver's logs.
        expect(got).toBe(macro in v ? v[macro] : `{${macro}}`);
      }
    }),
    { numRuns: 2000 },
  );
});

test('a value in the path never changes the host, adds a query or becomes a fragment', () => {
  fc.assert(
    fc.property(values, (v) => {
      const filled = fillTemplate('https://hooks.example.test/t/{source}/{clickid}?e={event_id}', v);
      const url = new URL(filled);
      expect(url.host).toBe('hooks.example.test');
      expect(url.hash).toBe('');
      expect([...url.searchParams.keys()]).toEqual(['e']);
      expect(filled).not.toMatch(/[\s#]/);
    }),
    { numRuns: 2000 },
  );
});

test('text outside macros and unknown macros are left exactly as written', () => {
  fc.assert(
    fc.property(
      fc.array(
        fc.oneof(
          fc.stringMatching(/^[A-Za-z0-9/?&=._~:-]{0,12}$/),
          fc.constantFrom('{unknown}', '{CLICKID}', '{ clickid }', '{}', '{'),
        ),
        { maxLength: 8 },
      ),
      values,
      (parts, v) => {
        const template = parts.join('');
        expect(fillTemplate(template, v)).toBe(template);
      },
    ),
    { numRuns: 1000 },
  );
});

test('filling is encoding: decoding each filled macro gives the value back', () => {
  fc.assert(
    fc.property(fc.constantFrom(...NOTIFICATION_MACROS), value, (macro, text) => {
      const filled = fillTemplate(`<{${macro}}>`, { [macro]: text });
      expect(filled).toMatch(/^<[A-Za-z0-9\-_.!~*'()%]*>$/);
      expect(decodeURIComponent(filled.slice(1, -1))).toBe(text);
    }),
    { numRuns: 2000 },
  );
});

test('a known macro given without a value is filled with nothing; one not given at all is left as written', () => {
  expect(fillTemplate('https://t.example/?c={clickid}&p={payout}', { clickid: undefined })).toBe(
    'https://t.example/?c=&p={payout}',
  );
});
