// The workflow's postback decision (workflows/decide.ts) against the transition table of shared/statuses.ts:
// every pair of current status and postback status, waiting for a verdict or after it.
import fc from 'fast-check';
import { CANONICAL_STATUSES, POSTBACK_STATUSES, canFollowLater, canTransition } from '../../shared/statuses';
import { decide, type DecisionView } from '../../workflows/decide';

const status = fc.constantFrom(...CANONICAL_STATUSES);
const postback = fc.constantFrom(...POSTBACK_STATUSES);
const view = fc.record(
  { status, awaiting: fc.option(fc.record({ allowResale: fc.boolean() }), { nil: undefined }) },
  { requiredKeys: ['status'] },
) as fc.Arbitrary<DecisionView>;

describe('decide: properties over all status pairs', () => {
  test('a postback the transition table forbids is ignored, waiting or not', () => {
    fc.assert(
      fc.property(view, postback, (v, next) => {
        if (!canTransition(v.status, next)) expect(decide(v, { status: next }).kind).toBe('ignore');
      }),
    );
  });

  test('what is recorded is the postback status itself, and only where the table allows it', () => {
    fc.assert(
      fc.property(view, postback, (v, next) => {
        const d = decide(v, { status: next });
        if (d.kind !== 'record') return;
        expect(d.status).toBe(next);
        expect(canTransition(v.status, next)).toBe(true);
        expect(d.reason).not.toBe('');
      }),
    );
  });

  test('while waiting, every allowed verdict acts and only a pending keeps the wait open; nothing to return yet', () => {
    fc.assert(
      fc.property(status, postback, fc.boolean(), (current, next, allowResale) => {
        const d = decide({ status: current, awaiting: { allowResale } }, { status: next });
        if (!canTransition(current, next)) return;
        if (next === 'returned') expect(d.kind).toBe('ignore');
        else if (next === 'rejected' && allowResale) expect(d).toEqual({ kind: 'resell' });
        else expect(d).toMatchObject({ kind: 'record', status: next, final: next !== 'pending' });
      }),
    );
  });

  test('after the verdict, an allowed postback is recorded unless it is a pending, and says it came late', () => {
    fc.assert(
      fc.property(status, postback, (current, next) => {
        const d = decide({ status: current }, { status: next });
        const recorded = canTransition(current, next) && next !== 'pending';
        expect(d.kind).toBe(recorded ? 'record' : 'ignore');
        if (d.kind === 'record' && next !== 'returned') expect(d.reason).toContain(`late`);
      }),
    );
  });

  test('resale is decided only while waiting, and only for a rejection', () => {
    fc.assert(
      fc.property(view, postback, (v, next) => {
        if (decide(v, { status: next }).kind === 'resell') {
          expect(v.awaiting?.allowResale).toBe(true);
          expect(next).toBe('rejected');
        }
      }),
    );
  });
});

describe('decide: every pair, spelled out', () => {
  const waiting = { status: 'pending', awaiting: { allowResale: false } } as const;

  test.each([
    ['pending', { kind: 'record', status: 'pending', reason: 'partner reports pending', final: false }],
    ['accepted', { kind: 'record', status: 'accepted', reason: 'accepted by partner postback', final: true }],
    ['rejected', { kind: 'record', status: 'rejected', reason: 'rejected by partner postback', final: true }],
    ['returned', { kind: 'ignore', why: 'not a valid transition' }],
  ] as const)('waiting for a verdict, a %s postback', (next, expected) => {
    expect(decide(waiting, { status: next })).toEqual(expected);
  });

  test('a rejection of a lead the partner may resell sends it on', () => {
    expect(decide({ status: 'pending', awaiting: { allowResale: true } }, { status: 'rejected' })).toEqual({
      kind: 'resell',
    });
  });

  test('after the verdict: chargebacks, late answers after expiry, re-approvals', () => {
    const late = (current: (typeof CANONICAL_STATUSES)[number], next: (typeof POSTBACK_STATUSES)[number]) =>
      decide({ status: current }, { status: next });
    expect(late('accepted', 'returned')).toMatchObject({ kind: 'record', reason: 'returned by partner' });
    expect(late('expired', 'accepted')).toMatchObject({ reason: 'late acceptance after expired' });
    expect(late('expired', 'rejected')).toMatchObject({ reason: 'late rejection after expired' });
    expect(late('rejected', 'accepted')).toMatchObject({ reason: 'late acceptance after rejected' });
    expect(late('accepted', 'rejected').kind).toBe('ignore');
    expect(late('returned', 'accepted').kind).toBe('ignore');
    expect(late('failed', 'accepted').kind).toBe('ignore');
    expect(late('expired', 'pending').kind).toBe('ignore');
  });

  test('the table: how many of the 7 x 4 pairs a late postback may change', () => {
    const pairs = CANONICAL_STATUSES.flatMap((c) =>
      POSTBACK_STATUSES.map((n) => [c, n, decide({ status: c }, { status: n }).kind] as const),
    );
    expect(pairs.filter(([, , kind]) => kind === 'record').map(([c, n]) => `${c}->${n}`)).toEqual([
      'received->accepted',
      'received->rejected',
      'pending->accepted',
      'pending->rejected',
      'accepted->returned',
      'rejected->accepted',
      'expired->accepted',
      'expired->rejected',
    ]);
  });
});

describe('canFollowLater: what the gateway queues behind a postback that has not arrived yet', () => {
  test('a chargeback can follow a lead still awaiting its verdict, and nothing else is held', () => {
    const held = CANONICAL_STATUSES.flatMap((current) =>
      POSTBACK_STATUSES.filter((next) => !canTransition(current, next) && canFollowLater(current, next)).map(
        (next) => `${current}->${next}`,
      ),
    );
    expect(held).toEqual(['received->returned', 'pending->returned']);
  });
});
