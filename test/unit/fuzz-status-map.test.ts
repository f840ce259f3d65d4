// Property-based tests of the status mapping: arbitrary raw statuses and partner maps never crash it, and
// spelling variants of a word ("On Hold", " on-hold ") always land on the same canonical status.
import fc from 'fast-check';
import { AppError } from '../../shared/errors';
import {
  buildStatusMap,
  DEFAULT_STATUS_MAP,
  mapPartnerStatus,
  normalizeRawStatus,
  type StatusMapping,
} from '../../shared/status-map';
import { POSTBACK_STATUSES, type PostbackStatus } from '../../shared/statuses';
import { anyTextOr } from '../support/arbitraries';

const postbackStatus = fc.constantFrom<PostbackStatus>(...POSTBACK_STATUSES);
/** Any text a partner might send, including control characters, astral planes and whitespace only. */
const rawText = anyTextOr(['', ' ', '\t\n', '-', '_']);
const partnerMapping: fc.Arbitrary<StatusMapping> = fc.record(
  { statusMap: fc.dictionary(rawText, postbackStatus, { maxKeys: 8 }), defaultStatus: postbackStatus },
  { requiredKeys: [] },
);

/** The same word as a partner's engineer might type it: random case, "_" as space or dash, padded. */
function spellingOf(word: string): fc.Arbitrary<string> {
  return fc
    .tuple(
      fc.array(fc.boolean(), { minLength: word.length, maxLength: word.length }),
      fc.constantFrom('_', ' ', '-', ' - ', '\t'),
      fc.constantFrom('', ' ', '  ', '\t', '\n'),
      fc.constantFrom('', ' ', '\r\n'),
    )
    .map(([upper, sep, before, after]) => {
      const cased = [...word].map((ch, i) => (upper[i] ? ch.toUpperCase() : ch)).join('');
      return before + cased.replace(/_/g, sep) + after;
    });
}

test('mapPartnerStatus returns a postback status or throws an AppError (400/422), nothing else', () => {
  fc.assert(
    fc.property(fc.option(rawText, { nil: undefined }), partnerMapping, (raw, partner) => {
      let result: unknown;
      try {
        result = mapPartnerStatus(raw, partner);
      } catch (err) {
        expect(err).toBeInstanceOf(AppError);
        expect(['invalid_request', 'unmapped_status']).toContain((err as AppError).code);
        expect([400, 422]).toContain((err as AppError).status);
        // The message quotes at most 64 characters of what the partner sent.
        expect((err as AppError).message.length).toBeLessThan(140);
        return;
      }
      expect(POSTBACK_STATUSES).toContain(result);
    }),
    { numRuns: 2000 },
  );
});

test('normalizeRawStatus is idempotent and leaves no whitespace, dashes or capitals', () => {
  fc.assert(
    fc.property(rawText, (raw) => {
      const once = normalizeRawStatus(raw);
      expect(normalizeRawStatus(once)).toBe(once);
      expect(once).not.toMatch(/[\s-]/);
      expect(once).toBe(once.toLowerCase());
    }),
    { numRuns: 2000 },
  );
});

test('every spelling of a default word maps like the word itself', () => {
  const defaults = Object.entries(DEFAULT_STATUS_MAP);
  fc.assert(
    fc.property(
      fc.constantFrom(...defaults).chain(([word, status]) => fc.tuple(spellingOf(word), fc.constant(status))),
      ([spelled, status]) => {
        expect(mapPartnerStatus(spelled, {})).toBe(status);
      },
    ),
    { numRuns: 1000 },
  );
});

test("a partner's own map wins over the default map, under any spelling of its key", () => {
  const word = fc.oneof(
    fc.constantFrom(...Object.keys(DEFAULT_STATUS_MAP)),
    fc.stringMatching(/^[a-z][a-z0-9]{0,7}(_[a-z0-9]{1,5}){0,2}$/),
    fc.constantFrom('lead', '1', '2', '-1', 'open', 'new'),
  );
  fc.assert(
    fc.property(word, postbackStatus, fc.boolean(), (key, status, spelledKeyInConfig) =>
      fc.assert(
        fc.property(spellingOf(key), spellingOf(key), (configKey, sent) => {
          const partner = { statusMap: { [spelledKeyInConfig ? configKey : key]: status } };
          expect(mapPartnerStatus(sent, partner)).toBe(status);
          expect(mapPartnerStatus(sent, partner, buildStatusMap(partner))).toBe(status);
        }),
        { numRuns: 5 },
      ),
    ),
    { numRuns: 300 },
  );
});

test('a word in neither map is a 422 unmapped_status, never guessed', () => {
  const unknown = fc
    .oneof(
      fc.string({ minLength: 1 }),
      fc.string({ unit: 'binary', minLength: 1 }),
      // Object.prototype's names: a lookup in a plain object would "find" them.
      fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf'),
    )
    .filter((s) => s.trim() !== '' && !Object.hasOwn(DEFAULT_STATUS_MAP, normalizeRawStatus(s)));
  fc.assert(
    fc.property(unknown, fc.option(postbackStatus, { nil: undefined }), (raw, defaultStatus) => {
      const call = () => mapPartnerStatus(raw, { defaultStatus });
      expect(call).toThrow(AppError);
      try {
        call();
      } catch (err) {
        expect((err as AppError).code).toBe('unmapped_status');
        expect((err as AppError).status).toBe(422);
      }
    }),
    { numRuns: 1000 },
  );
});

test("a missing or blank status takes the partner's defaultStatus, else it is a 400", () => {
  const blank = fc.option(fc.constantFrom('', ' ', '\t', '\n \r'), { nil: undefined });
  fc.assert(
    fc.property(blank, fc.option(postbackStatus, { nil: undefined }), (raw, defaultStatus) => {
      if (defaultStatus) {
        expect(mapPartnerStatus(raw, { defaultStatus })).toBe(defaultStatus);
      } else {
        expect(() => mapPartnerStatus(raw, {})).toThrow(
          expect.objectContaining({ code: 'invalid_request', status: 400 }),
        );
      }
    }),
  );
});
