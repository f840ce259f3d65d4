// The status mapper: every default word, normalization, partner overrides, defaultStatus, and the refusal
// to guess (unmapped -> 422). The documented table in docs/status-mapping.md must match the code.
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { AppError } from '../../shared/errors';
import {
  buildStatusMap,
  DEFAULT_STATUS_MAP,
  mapPartnerStatus,
  normalizeRawStatus,
} from '../../shared/status-map';
import { parsedPartner } from '../support/partner-config';

/**
 * Written out by hand, not derived from the map, and grouped by status (the map is listed by word): a word moved or
 * dropped in the code fails here.
 */
const EXPECTED_WORDS: Record<string, string> = {
  accepted: 'approved approve accepted accept confirmed sale sold converted paid',
  rejected:
    'declined decline rejected reject denied cancel cancelled canceled trash scrubbed invalid refused duplicate dupe disqualified fraud disapproved not_approved unqualified not_qualified',
  pending:
    'pending hold on_hold in_review under_review processing pending_approval awaiting_approval pending_review',
  returned:
    'chargeback charged_back charge_back chargedback refund refunded returned reversed reversal clawback',
};
const EXPECTED_DEFAULTS: Record<string, string> = Object.fromEntries(
  Object.entries(EXPECTED_WORDS).flatMap(([status, words]) => words.split(' ').map((w) => [w, status])),
);

function failure(fn: () => unknown): AppError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AppError) return err;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('default map', () => {
  test.each(Object.entries(EXPECTED_DEFAULTS))('%s -> %s', (word, status) => {
    expect(mapPartnerStatus(word, {})).toBe(status);
    expect(mapPartnerStatus(word.toUpperCase(), {})).toBe(status);
  });

  test('holds exactly the documented words', () => {
    expect({ ...DEFAULT_STATUS_MAP }).toEqual(EXPECTED_DEFAULTS);
    // No word listed under two statuses above (the later one would win silently).
    expect(Object.values(EXPECTED_WORDS).join(' ').split(' ')).toHaveLength(
      Object.keys(EXPECTED_DEFAULTS).length,
    );
    expect(Object.isFrozen(DEFAULT_STATUS_MAP)).toBe(true);
  });

  test('the table in docs/status-mapping.md is the default map', () => {
    const doc = fs.readFileSync(path.join(__dirname, '..', '..', 'docs', 'status-mapping.md'), 'utf8');
    const section = doc.slice(
      doc.indexOf('## Default map'),
      doc.indexOf('\n## ', doc.indexOf('## Default map') + 1),
    );
    const rows = [...section.matchAll(/^\| `([a-z_]+)` +\| `([a-z]+)` +\|/gm)].map((m) => [m[1], m[2]]);
    expect(Object.fromEntries(rows)).toEqual(EXPECTED_DEFAULTS);
    expect(rows).toHaveLength(Object.keys(EXPECTED_DEFAULTS).length);
  });

  test.each(['lead', 'open', 'new', 'ok', 'success', 'void', '0', '1', '2', '5'])(
    'ambiguous word or code %p is never guessed',
    (word) => {
      const err = failure(() => mapPartnerStatus(word, {}));
      expect([err.code, err.status]).toEqual(['unmapped_status', 422]);
    },
  );
});

describe('normalization', () => {
  test.each(['On Hold', 'on-hold', ' ON_HOLD ', 'on  hold', 'On\tHold', 'on_-hold', 'ON--HOLD'])(
    '%p is on_hold',
    (raw) => {
      expect(normalizeRawStatus(raw)).toBe('on_hold');
      expect(mapPartnerStatus(raw, {})).toBe('pending');
    },
  );

  test('case and surrounding space do not matter; inner letters do', () => {
    expect(mapPartnerStatus('  APPROVED\n', {})).toBe('accepted');
    expect(mapPartnerStatus('In Review', {})).toBe('pending');
    expect(failure(() => mapPartnerStatus('approvedd', {})).code).toBe('unmapped_status');
  });
});

describe('partner map', () => {
  test('adds the ambiguous words and numeric codes of that partner', () => {
    const partner = {
      statusMap: { lead: 'pending', '1': 'pending', '2': 'accepted', '3': 'rejected' } as const,
    };
    expect(['lead', '1', '2', '3', 'LEAD'].map((w) => mapPartnerStatus(w, partner))).toEqual([
      'pending',
      'pending',
      'accepted',
      'rejected',
      'pending',
    ]);
    expect(mapPartnerStatus('approved', partner)).toBe('accepted');
  });

  test('overrides a default word, for that partner only', () => {
    const partner = { statusMap: { hold: 'rejected', 'Sale Pending': 'pending' } as const };
    expect(mapPartnerStatus('hold', partner)).toBe('rejected');
    expect(mapPartnerStatus('sale-pending', partner)).toBe('pending');
    expect(mapPartnerStatus('hold', {})).toBe('pending');
    expect(DEFAULT_STATUS_MAP.hold).toBe('pending');
  });

  test('"lead" means what each partner says it means', () => {
    expect(mapPartnerStatus('lead', { statusMap: { lead: 'pending' } })).toBe('pending');
    expect(mapPartnerStatus('lead', { statusMap: { lead: 'accepted' } })).toBe('accepted');
  });

  test('keys from the routing config are normalized the same way', () => {
    const pb = parsedPartner({
      postback: { statusMap: { 'On Hold': 'rejected', '7': 'accepted' } },
    }).postback;
    expect(pb.statusMap).toEqual({ on_hold: 'rejected', '7': 'accepted' });
    expect(mapPartnerStatus('on-hold', pb, buildStatusMap(pb))).toBe('rejected');
    expect(mapPartnerStatus('7', pb)).toBe('accepted');
  });
});

describe('missing and unmapped status', () => {
  test.each([undefined, '', '   '])('%p takes the partner defaultStatus', (raw) => {
    expect(mapPartnerStatus(raw, { defaultStatus: 'accepted' })).toBe('accepted');
  });

  test.each([undefined, '', '   '])('%p without a defaultStatus is a 400 naming the field', (raw) => {
    const err = failure(() => mapPartnerStatus(raw, {}));
    expect([err.code, err.status, err.issues]).toEqual([
      'invalid_request',
      400,
      [{ path: 'status', message: 'Required' }],
    ]);
  });

  test('an unmapped word is a 422 that names it (truncated) and says where to map it', () => {
    const err = failure(() => mapPartnerStatus('x'.repeat(100), { defaultStatus: 'accepted' }));
    expect([err.code, err.status]).toEqual(['unmapped_status', 422]);
    expect(err.message).toBe(`status "${'x'.repeat(64)}" is not mapped for this partner`);
    expect(err.issues).toEqual([{ path: 'status', message: 'add it to the partner statusMap' }]);
  });

  test.each(['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf'])(
    'object property name %p is not a status',
    (raw) => {
      expect(failure(() => mapPartnerStatus(raw, {})).code).toBe('unmapped_status');
    },
  );

  test('property: any word outside the maps is refused, never guessed', () => {
    const known = new Set(Object.keys(EXPECTED_DEFAULTS));
    fc.assert(
      fc.property(fc.string({ maxLength: 40 }), (raw) => {
        const key = normalizeRawStatus(raw);
        if (known.has(key)) return mapPartnerStatus(raw, {}) === EXPECTED_DEFAULTS[key];
        const err = failure(() => mapPartnerStatus(raw, {}));
        return key === '' ? err.code === 'invalid_request' : err.code === 'unmapped_status';
      }),
      { numRuns: 2000 },
    );
  });
});
