// A partner's synchronous answer to a delivery: JSON path mapped like a postback, text patterns, or neither.
import { readPartnerAnswer } from '../../activities/delivery';
import type { PartnerConfig } from '../../shared/config';
import { parsedPartner } from '../support/partner-config';

const partner = (response: Record<string, unknown>, statusMap: Record<string, string> = {}): PartnerConfig =>
  parsedPartner({ response, postback: { statusMap } });

test('a JSON path, mapped with the default words, case-insensitively', () => {
  const p = partner({ statusPath: 'result.status', payoutPath: 'result.price' });
  expect(readPartnerAnswer(p, '{"result":{"status":"Approved","price":"12.345"}}')).toEqual({
    outcome: 'accepted',
    rawStatus: 'Approved',
    payoutCents: 1235,
  });
  expect(readPartnerAnswer(p, '{"result":{"status":"declined"}}')).toMatchObject({
    outcome: 'rejected',
    rawStatus: 'declined',
  });
  expect(readPartnerAnswer(p, '{"result":{"status":"pending"}}')).toMatchObject({ outcome: 'pending' });
});

test("the partner's own words: response map over postback map over the default", () => {
  const p = partner(
    { statusPath: 'code', statusMap: { '1': 'accepted' } },
    { '2': 'rejected', lead: 'pending' },
  );
  expect(readPartnerAnswer(p, '{"code":1}')).toMatchObject({ outcome: 'accepted', rawStatus: '1' });
  expect(readPartnerAnswer(p, '{"code":2}')).toMatchObject({ outcome: 'rejected', rawStatus: '2' });
  expect(readPartnerAnswer(p, '{"code":"lead"}')).toMatchObject({ outcome: 'pending' });
});

test('an unmapped synchronous status is not guessed: the lead waits for the postback, with the reason noted', () => {
  const p = partner({ statusPath: 'status' });
  const answer = readPartnerAnswer(p, '{"status":"maybe-later"}');
  expect(answer).toMatchObject({ outcome: 'pending', rawStatus: 'maybe-later' });
  expect(answer.reason).toMatch(/unmapped synchronous status "maybe-later"/);
});

test('text patterns for success=true; answers; JSON path first when both are set', () => {
  const p = partner({ acceptedPattern: '^success=true;', rejectedPattern: '^success=false;' });
  expect(readPartnerAnswer(p, 'success=true;id=9')).toEqual({ outcome: 'accepted', payoutCents: undefined });
  expect(readPartnerAnswer(p, 'success=false;reason=dup')).toEqual({
    outcome: 'rejected',
    payoutCents: undefined,
  });
  expect(readPartnerAnswer(p, 'queued')).toEqual({ outcome: 'pending', payoutCents: undefined });
  const both = partner({ statusPath: 'status', rejectedPattern: 'rejected' });
  expect(readPartnerAnswer(both, '{"status":"approved","note":"not rejected"}').outcome).toBe('accepted');
  // A body that is not JSON falls through to the patterns.
  expect(readPartnerAnswer(both, '<html>rejected</html>').outcome).toBe('rejected');
});

test('no response config: the HTTP status alone (2xx = delivered, awaiting the postback)', () => {
  expect(readPartnerAnswer(partner({}), '{"status":"rejected"}')).toEqual({
    outcome: 'pending',
    payoutCents: undefined,
  });
});

test('patterns run in linear time: a nested quantifier against a hostile body answers at once', () => {
  // With a backtracking engine, (a+)+$ against 40 "a"s and a "!" takes about 2^40 steps: the test would hang.
  const p = partner({ acceptedPattern: '^(a+)+$', rejectedPattern: 'a!$' });
  expect(readPartnerAnswer(p, `${'a'.repeat(40)}!`).outcome).toBe('rejected');
  expect(readPartnerAnswer(p, 'a'.repeat(40)).outcome).toBe('accepted');
});

test('backreferences and lookaround, which need backtracking, are refused when the config loads', () => {
  for (const pattern of ['(a)\\1', '^(?=ok)', 'ok(?!ay)']) {
    expect(() => partner({ acceptedPattern: pattern })).toThrow(/acceptedPattern: must be a valid RE2/);
  }
});
