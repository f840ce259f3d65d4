// leadWorkflow on the time-skipping server with the real worker, activities, Mongo-wire database and
// loopback partner/source APIs: each case checks the lead document, its history and the workflow's own view.
import { randomBytes } from 'node:crypto';
import { postbackSignal, SEARCH_ATTRIBUTES, type LeadWorkflowView } from '../../shared/temporal';
import { eventually } from '../support/stack';
import {
  leadTestConfig,
  postbackFor,
  useWorkflowHarness,
  type LeadHandle,
  type LeadRecord,
} from '../support/workflow-harness';

const h = useWorkflowHarness((e) => leadTestConfig(e));
/** Workflows a test left waiting: terminated after it, so a later test's time skip does not move them. */
const open: LeadHandle[] = [];

beforeEach(() => {
  h.useConfig((e) => leadTestConfig(e));
  h.acme.setBehavior(() => ({}));
  h.bravo.setBehavior(() => ({}));
  h.source.failNext(0);
});

afterEach(async () => {
  for (const handle of open.splice(0)) {
    await handle.terminate('test over').catch(() => undefined);
  }
});

function clickId(): string {
  return `clk-${randomBytes(4).toString('hex')}`;
}

const postback = postbackFor;

/** Submits a lead and waits (in real time) until its workflow has recorded it as pending with a partner. */
async function pendingLead(fields: Record<string, unknown> = {}) {
  const { leadId, handle } = await h.submitLead({ clickId: clickId(), vertical: 'auto', ...fields });
  open.push(handle);
  await h.waitForStatus(leadId, 'pending');
  return { leadId, handle };
}

const statuses = (r: LeadRecord) => r.history.map((e) => e.status);

test('postback accepted: lead accepted with its payout, source notified once with the macros filled', async () => {
  const { leadId, handle } = await pendingLead();
  const { lead: pending } = await h.record(leadId);
  expect(pending).toMatchObject({ status: 'pending', partnerId: 'acme', seq: 1 });
  expect(h.acme.received.filter((l) => l.subid === leadId)).toHaveLength(1);

  await handle.signal(
    postbackSignal,
    postback(leadId, 'accepted', { rawStatus: 'approved', payoutCents: 2050, currency: 'USD', txid: 'tx-1' }),
  );
  const view = await handle.result();

  expect(view).toMatchObject({
    leadId,
    status: 'accepted',
    partnerId: 'acme',
    payoutCents: 2050,
    currency: 'USD',
    partnersTried: ['acme'],
  });
  expect(view.notifications).toEqual({ accepted: 'delivered' });
  const r = await h.record(leadId);
  expect(r.lead).toMatchObject({
    status: 'accepted',
    partnerId: 'acme',
    payoutCents: 2050,
    revenueCents: 2050,
    currency: 'USD',
    seq: 2,
  });
  expect(r.lead.finalAt).toBeInstanceOf(Date);
  expect(statuses(r)).toEqual(['received', 'pending', 'accepted']);
  expect(r.history[2]).toMatchObject({ partnerId: 'acme', rawStatus: 'approved', revenueDeltaCents: 2050 });
  expect(r.deliveries).toEqual([
    expect.objectContaining({ partnerId: 'acme', attempt: 1, outcome: 'pending', httpStatus: 200 }),
  ]);

  const hits = h.source.hits.filter((hit) => hit.query.lead === leadId);
  expect(hits).toHaveLength(1);
  expect(hits[0]?.query).toEqual({
    clickid: r.lead.clickId,
    status: 'accepted',
    payout: '20.50',
    currency: 'USD',
    partner: 'acme',
    lead: leadId,
    event: `${leadId}.accepted`,
  });
  expect(r.notifications).toEqual([
    expect.objectContaining({
      status: 'accepted',
      eventId: `${leadId}.accepted`,
      ok: true,
      httpStatus: 200,
      attempt: 1,
    }),
  ]);

  // The accepted status's step notified the source once the status was stored (decision 0025): the run
  // scheduled no notifySource, its only regular activity is the delivery.
  const history = await handle.fetchHistory();
  const scheduled = (history.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
  expect(scheduled).toEqual(['deliverLead']);

  // Ops find it in the Temporal UI by these (registered on the test server like the dev setup does).
  const attrs = (await handle.describe()).typedSearchAttributes;
  expect(attrs.get(SEARCH_ATTRIBUTES.leadStatus)).toBe('accepted');
  expect(attrs.get(SEARCH_ATTRIBUTES.partnerId)).toBe('acme');
  expect(attrs.get(SEARCH_ATTRIBUTES.sourceId)).toBe('src-1');
});

test('postback rejected: lead rejected, source notified of the rejection', async () => {
  const { leadId, handle } = await pendingLead();
  await handle.signal(postbackSignal, postback(leadId, 'rejected', { rawStatus: 'declined' }));
  const view = await handle.result();

  expect(view).toMatchObject({ status: 'rejected', partnerId: 'acme' });
  const r = await h.record(leadId);
  expect(r.lead).toMatchObject({ status: 'rejected', revenueCents: 0 });
  expect(statuses(r)).toEqual(['received', 'pending', 'rejected']);
  expect(r.history[2]).toMatchObject({ rawStatus: 'declined', revenueDeltaCents: 0 });
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId).map((hit) => hit.query.status)).toEqual([
    'rejected',
  ]);
});

test('no postback: expired after the partner timeout of 24h, skipped by the test server', async () => {
  const { leadId, handle } = await pendingLead();
  const { lead } = await h.record(leadId);
  const createdAt = await h.env.currentTimeMs();

  const view = await handle.result();

  expect(view).toMatchObject({ status: 'expired', partnerId: 'acme' });
  expect((await h.env.currentTimeMs()) - createdAt).toBeGreaterThanOrEqual(24 * 3_600_000 - 60_000);
  const r = await h.record(leadId);
  expect(r.lead.status).toBe('expired');
  expect(r.lead.expiresAt).toBeUndefined();
  expect(statuses(r)).toEqual(['received', 'pending', 'expired']);
  expect(r.history[2]?.reason).toMatch(/no postback/);
  // The deadline the workflow set when the lead went pending is 24h after delivery.
  expect((lead.expiresAt as Date).getTime() - (lead.updatedAt as Date).getTime()).toBe(24 * 3_600_000);
  // Expired is not in the source's notifyOn list.
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId)).toHaveLength(0);
});

test('the status query returns the current view while the lead is pending', async () => {
  const { leadId } = await pendingLead();
  const view = await h.queryStatus(leadId);
  const { lead } = await h.record(leadId);
  expect(view).toEqual<LeadWorkflowView>({
    leadId,
    sourceId: 'src-1',
    status: 'pending',
    partnerId: 'acme',
    partnersTried: ['acme'],
    deadline: (lead.expiresAt as Date).toISOString(),
    notifications: {},
  });
});

test('partner down then up: delivery retried with backoff until it lands, the lead is pending', async () => {
  // The simulator's own counter spans the whole file: count this lead's deliveries.
  const attempts = new Map<string, number>();
  h.acme.setBehavior((lead) => {
    const n = (attempts.get(lead.subid) ?? 0) + 1;
    attempts.set(lead.subid, n);
    return { httpStatus: n <= 2 ? 503 : 200 };
  });
  const { leadId, handle } = await h.submitLead({ clickId: clickId() });
  open.push(handle);

  // While the retries run, the workflow already reports whom it is trying.
  await eventually(
    async () => (h.acme.received.some((l) => l.subid === leadId) ? true : undefined),
    30_000,
    'first delivery',
  );
  expect(await h.queryStatus(leadId)).toMatchObject({ status: 'received', partnersTried: ['acme'] });

  const r = await h.waitForStatus(leadId, 'pending');
  expect(r.lead).toMatchObject({ status: 'pending', partnerId: 'acme' });
  expect(statuses(r)).toEqual(['received', 'pending']);
  expect(r.deliveries.map((d) => [d.attempt, d.outcome, d.httpStatus])).toEqual([
    [1, 'error', 503],
    [2, 'error', 503],
    [3, 'pending', 200],
  ]);
  expect(h.acme.received.filter((l) => l.subid === leadId)).toHaveLength(3);
  expect(await h.queryStatus(leadId)).toMatchObject({
    status: 'pending',
    partnerId: 'acme',
    partnersTried: ['acme'],
  });
});

test('partner down for good: delivery gives up after maxAttempts and the lead fails', async () => {
  h.acme.setBehavior(() => ({ httpStatus: 503 }));
  const { leadId, handle } = await h.submitLead({ clickId: clickId() });
  // Awaiting the result lets the test server skip the retry backoff (1s doubling).
  const view = await handle.result();

  expect(view).toMatchObject({ status: 'failed', partnersTried: ['acme'] });
  const r = await h.record(leadId);
  expect(statuses(r)).toEqual(['received', 'failed']);
  expect(r.deliveries.map((d) => [d.attempt, d.outcome, d.httpStatus])).toEqual(
    [1, 2, 3, 4, 5].map((attempt) => [attempt, 'error', 503]),
  );
  expect(h.acme.received.filter((l) => l.subid === leadId)).toHaveLength(5);
});

test('partner answers 4xx and is the only partner: one delivery attempt, no retry, lead failed', async () => {
  h.acme.setBehavior(() => ({ httpStatus: 400, body: { error: 'duplicate lead' } }));
  const { leadId, handle } = await h.submitLead({ clickId: clickId() });
  const view = await handle.result();

  expect(view).toMatchObject({ status: 'failed', partnersTried: ['acme'] });
  const r = await h.record(leadId);
  expect(r.lead.status).toBe('failed');
  expect(r.lead.partnerId).toBeUndefined();
  expect(statuses(r)).toEqual(['received', 'failed']);
  expect(r.history[1]?.reason).toBe('no partner took the lead');
  expect(r.deliveries.map((d) => [d.partnerId, d.attempt, d.outcome, d.httpStatus])).toEqual([
    ['acme', 1, 'rejected', 400],
  ]);
  expect(h.acme.received.filter((l) => l.subid === leadId)).toHaveLength(1);
});

test('partner answers 4xx with a second partner configured: the lead goes on to the next one', async () => {
  h.useConfig((e) => leadTestConfig(e, { withBravo: true }));
  h.acme.setBehavior(() => ({ httpStatus: 422 }));
  const { leadId } = await pendingLead();

  const r = await h.record(leadId);
  expect(r.lead).toMatchObject({ status: 'pending', partnerId: 'bravo' });
  expect(statuses(r)).toEqual(['received', 'pending']);
  expect(r.history[1]?.partnerId).toBe('bravo');
  expect(r.deliveries.map((d) => [d.partnerId, d.attempt, d.outcome, d.httpStatus])).toEqual([
    ['acme', 1, 'rejected', 422],
    ['bravo', 1, 'pending', 200],
  ]);
  expect(h.acme.received.filter((l) => l.subid === leadId)).toHaveLength(1);
  expect(h.bravo.received.filter((l) => l.subid === leadId)).toHaveLength(1);
  expect(await h.queryStatus(leadId)).toMatchObject({
    status: 'pending',
    partnerId: 'bravo',
    partnersTried: ['acme', 'bravo'],
  });
});

test('a postback signalled twice (the outbox resending) takes effect once', async () => {
  const { leadId, handle } = await pendingLead();
  const pending = postback(leadId, 'pending', { rawStatus: 'hold' });
  await handle.signal(postbackSignal, pending);
  await handle.signal(postbackSignal, pending);
  const accepted = postback(leadId, 'accepted', { payoutCents: 700 });
  await handle.signal(postbackSignal, accepted);
  await handle.signal(postbackSignal, accepted);
  const view = await handle.result();

  expect(view).toMatchObject({ status: 'accepted', payoutCents: 700 });
  const r = await h.record(leadId);
  expect(statuses(r)).toEqual(['received', 'pending', 'pending', 'accepted']);
  expect(r.history[2]).toMatchObject({ rawStatus: 'hold' });
  expect(r.lead).toMatchObject({ status: 'accepted', revenueCents: 700 });
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId)).toHaveLength(1);
});

test('source endpoint failing then OK: notification retried with the backoff policy of the source, delivered once', async () => {
  const initialInterval = 400;
  h.useConfig((e) => leadTestConfig(e, { notify: { initialInterval, maxInterval: 10_000 } }));
  const { leadId, handle } = await pendingLead();
  h.source.failNext(3);
  await handle.signal(postbackSignal, postback(leadId, 'accepted', { payoutCents: 1000 }));

  // Real time here: awaiting the result would let the test server skip the backoff timers.
  await eventually(
    async () =>
      h.source.hits.some((hit) => hit.query.lead === leadId && hit.answered === 200) ? true : undefined,
    30_000,
    'notification delivered',
  );
  const hits = h.source.hits.filter((hit) => hit.query.lead === leadId);
  expect(hits.map((hit) => hit.answered)).toEqual([500, 500, 500, 200]);
  expect(new Set(hits.map((hit) => hit.query.event))).toEqual(new Set([`${leadId}.accepted`]));
  // The spacing of the attempts is Temporal's, from the retry policy the workflow gave it: read from the
  // history, not measured on the wall clock.
  const history = await handle.fetchHistory();
  const scheduled = (history.events ?? []).find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'notifySource',
  )?.activityTaskScheduledEventAttributes;
  const ms = (d: { seconds?: unknown; nanos?: number | null } | null | undefined) =>
    Number(d?.seconds ?? 0) * 1000 + Math.round((d?.nanos ?? 0) / 1e6);
  expect(ms(scheduled?.retryPolicy?.initialInterval)).toBe(initialInterval);
  expect(scheduled?.retryPolicy?.backoffCoefficient).toBe(2);
  expect(ms(scheduled?.retryPolicy?.maximumInterval)).toBe(10_000);
  // The status step made the first attempt (decision 0025): notifySource's attempts are numbered on from it.
  expect(scheduled?.input?.payloads?.[0]?.data).toBeDefined();
  const input = JSON.parse(Buffer.from(scheduled?.input?.payloads?.[0]?.data as Uint8Array).toString('utf8'));
  expect(input).toEqual({ leadId, status: 'accepted', eventId: `${leadId}.accepted`, attemptsBefore: 1 });

  const view = await handle.result();
  expect(view.notifications).toEqual({ accepted: 'delivered' });
  const r = await h.record(leadId);
  expect(r.notifications.map((n) => [n.attempt, n.ok, n.httpStatus])).toEqual([
    [1, false, 500],
    [2, false, 500],
    [3, false, 500],
    [4, true, 200],
  ]);
  expect(r.notifications.filter((n) => n.exhausted)).toHaveLength(0);
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId)).toHaveLength(4);
});

test('exhausted notification is recorded on the lead, and the replayNotification signal sends it again', async () => {
  h.useConfig((e) =>
    leadTestConfig(e, { notify: { initialInterval: 100, maxInterval: 500, maxDuration: '2s' } }),
  );
  const { leadId, handle } = await pendingLead();
  h.source.failNext(1_000_000);
  await handle.signal(postbackSignal, postback(leadId, 'accepted', { payoutCents: 1500 }));
  const first = await handle.result();

  expect(first).toMatchObject({ status: 'accepted', notifications: { accepted: 'exhausted' } });
  const before = await h.record(leadId);
  const exhausted = before.notifications.filter((n) => n.exhausted);
  expect(exhausted).toEqual([
    expect.objectContaining({ status: 'accepted', eventId: `${leadId}.accepted`, ok: false }),
  ]);
  const failedAttempts = before.notifications.filter((n) => !n.exhausted);
  expect(failedAttempts.length).toBeGreaterThanOrEqual(1);
  expect(failedAttempts.every((n) => !n.ok && n.httpStatus === 500)).toBe(true);

  // The operator's replay after the source is fixed: the workflow has ended, so signal-with-start, as the gateway does.
  h.source.failNext(0);
  const replay = await h.signalWithStart(leadId, {
    replayNotification: { status: 'accepted', requestedAt: new Date().toISOString() },
  });
  expect(replay.runId).not.toBe(handle.firstExecutionRunId);
  const second = await replay.handle.result();

  expect(second).toMatchObject({ status: 'accepted', notifications: { accepted: 'delivered' } });
  const after = await h.record(leadId);
  const delivered = after.notifications.filter((n) => n.ok);
  expect(delivered).toEqual([
    expect.objectContaining({ status: 'accepted', eventId: `${leadId}.accepted`, httpStatus: 200 }),
  ]);
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId && hit.answered === 200)).toHaveLength(1);
  // A replay changes no status.
  expect(statuses(after)).toEqual(['received', 'pending', 'accepted']);
  expect(after.lead).toMatchObject({ status: 'accepted', revenueCents: 1500 });
});

test('late postback after the workflow completed: a returned signal-with-start starts a new run that records it', async () => {
  const { leadId, handle } = await pendingLead();
  await handle.signal(postbackSignal, postback(leadId, 'accepted', { payoutCents: 3000 }));
  await handle.result();
  expect((await h.record(leadId)).lead).toMatchObject({ status: 'accepted', revenueCents: 3000 });

  const late = await h.signalWithStart(leadId, {
    postback: postback(leadId, 'returned', { rawStatus: 'chargeback' }),
  });
  expect(late.runId).not.toBe(handle.firstExecutionRunId);
  const view = await late.handle.result();

  expect(view).toMatchObject({
    status: 'returned',
    partnerId: 'acme',
    payoutCents: 3000,
    notifications: { returned: 'delivered' },
  });
  const r = await h.record(leadId);
  expect(r.lead).toMatchObject({ status: 'returned', revenueCents: 0, payoutCents: 3000, seq: 3 });
  expect(statuses(r)).toEqual(['received', 'pending', 'accepted', 'returned']);
  expect(r.history.map((e) => e.revenueDeltaCents)).toEqual([0, 0, 3000, -3000]);
  expect(r.history[3]).toMatchObject({ rawStatus: 'chargeback', partnerId: 'acme' });
  expect(
    h.source.hits
      .filter((hit) => hit.query.lead === leadId)
      .map((hit) => [hit.query.status, hit.query.payout]),
  ).toEqual([
    ['accepted', '30.00'],
    ['returned', '30.00'],
  ]);
});

test('late acceptance after expiry: a new run accepts the lead at the partner default payout', async () => {
  const { leadId, handle } = await pendingLead();
  expect(await handle.result()).toMatchObject({ status: 'expired' });

  const late = await h.signalWithStart(leadId, {
    postback: postback(leadId, 'accepted', { rawStatus: 'sale' }),
  });
  const view = await late.handle.result();

  expect(view).toMatchObject({ status: 'accepted', partnerId: 'acme', payoutCents: 1250, currency: 'USD' });
  const r = await h.record(leadId);
  expect(r.lead).toMatchObject({ status: 'accepted', payoutCents: 1250, revenueCents: 1250, seq: 3 });
  expect(statuses(r)).toEqual(['received', 'pending', 'expired', 'accepted']);
  expect(r.history[3]).toMatchObject({ revenueDeltaCents: 1250, reason: 'late acceptance after expired' });
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId).map((hit) => hit.query.payout)).toEqual([
    '12.50',
  ]);
});

test('a late postback that is not a valid transition (rejected after accepted) changes nothing', async () => {
  const { leadId, handle } = await pendingLead();
  await handle.signal(postbackSignal, postback(leadId, 'accepted', { payoutCents: 900 }));
  await handle.result();

  const late = await h.signalWithStart(leadId, { postback: postback(leadId, 'rejected') });
  const view = await late.handle.result();

  expect(view).toMatchObject({ status: 'accepted', payoutCents: 900 });
  const r = await h.record(leadId);
  expect(r.lead).toMatchObject({ status: 'accepted', revenueCents: 900, seq: 2 });
  expect(statuses(r)).toEqual(['received', 'pending', 'accepted']);
  expect(h.source.hits.filter((hit) => hit.query.lead === leadId).map((hit) => hit.query.status)).toEqual([
    'accepted',
  ]);
});

test('an auction winner pending when its run was ended by hand: the resumed run still pays the winning bid', async () => {
  h.useConfig((e) => leadTestConfig(e, { auction: true }));
  h.acme.setPingBehavior(() => ({ bid: '9.00' }));
  try {
    const { leadId, handle } = await pendingLead();
    expect((await h.record(leadId)).lead).toMatchObject({ status: 'pending', payoutCents: 900 });
    await handle.terminate('ended by an operator');
    const resumed = await h.signalWithStart(leadId, { postback: postback(leadId, 'accepted') });
    const view = await resumed.handle.result();
    // The partner's default payout is 12.50: the bid, not the default, is what the lead earns.
    expect(view).toMatchObject({ status: 'accepted', partnerId: 'acme', payoutCents: 900 });
  } finally {
    h.acme.setPingBehavior(() => ({ bid: null }));
  }
});
