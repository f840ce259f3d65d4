// Temporal goes down (this file's own dev server): postbacks and new leads are stored and answered 202;
// when the server is back the reconciler applies every one of them exactly once, in arrival order.
import { IntakeOutbox, Lead, PostbackClaim, PostbackLog, StatusEvent } from '../../shared/models';
import { useStack } from '../support/e2e';
import { submitLead } from '../support/stack';
import {
  ACME_TOKEN,
  historyOf,
  notificationsOf,
  partnersConfig,
  pendingLead,
  queued,
  repeated,
  send,
  SOURCE_KEY,
  waitForStatus,
} from '../support/postbacks';

const { stack, partner, source, temporal } = useStack({
  ownTemporal: true,
  config: ({ partner, source }) => partnersConfig(partner.url, source.url),
});

const pb = (params: Record<string, string>) =>
  send(stack.baseUrl, {
    path: '/postback/acme',
    query: new URLSearchParams({ token: ACME_TOKEN, ...params }).toString(),
  });
const hits = (clickId: string) =>
  source.hits.filter((h) => h.query.clickid === clickId).map((h) => h.query.status);

test('postbacks and a lead received while Temporal is down are applied once it is back, each exactly once', async () => {
  const [sold, scrubbed, held, reversed] = await Promise.all([
    pendingLead(stack, 'auto', 'clk-out-sold'),
    pendingLead(stack, 'auto', 'clk-out-scrubbed'),
    pendingLead(stack, 'auto', 'clk-out-held'),
    pendingLead(stack, 'auto', 'clk-out-reversed'),
  ]);

  await temporal.stop();

  // Stored and answered 202, never lost; the repeat of a queued postback is already a duplicate.
  const whileDown = await Promise.all([
    pb({ subid: sold, status: 'approved', payout: '31.40' }),
    pb({ subid: scrubbed, status: 'scrubbed' }),
  ]);
  expect(whileDown).toEqual([queued(sold, 'accepted'), queued(scrubbed, 'rejected')]);
  // Each answered 202, queued with the status it maps to, sent one after the other.
  for (const [params, status] of [
    // Two steps for one lead while down: they must reach the workflow in this order.
    [{ subid: held, status: 'on hold' }, 'pending'],
    [{ subid: held, status: 'approved' }, 'accepted'],
    // A sale and its chargeback, both while down: the chargeback is valid after the queued sale, and waits behind it.
    [{ subid: reversed, status: 'approved', payout: '8.00' }, 'accepted'],
    [{ subid: reversed, status: 'chargeback' }, 'returned'],
  ] as const) {
    expect(await pb(params)).toMatchObject({ status: 202, body: { status, queued: true } });
  }
  expect(await pb({ subid: sold, status: 'approved', payout: '31.40' })).toEqual(repeated(sold));

  const lateId = await submitLead(
    stack,
    { clickId: 'clk-out-late', vertical: 'auto', geo: { country: 'US' } },
    SOURCE_KEY,
  );

  // While down nothing has moved, and the reconciler keeps everything queued across its passes.
  await new Promise((r) => setTimeout(r, 1500));
  expect(
    (await Lead.find({ _id: { $in: [sold, scrubbed, held, reversed] } }).lean()).map((l) => l.status),
  ).toEqual(['pending', 'pending', 'pending', 'pending']);
  expect(await PostbackClaim.countDocuments({ sentAt: { $exists: false } })).toBe(6);
  expect(await IntakeOutbox.countDocuments({ _id: lateId })).toBe(1);
  expect(await PostbackLog.countDocuments({ outcome: 'queued' })).toBe(6);

  await temporal.start();

  const soldLead = await waitForStatus(sold, 'accepted', 60_000);
  expect(soldLead.payoutCents).toBe(3140);
  await waitForStatus(scrubbed, 'rejected', 60_000);
  await waitForStatus(held, 'accepted', 60_000);
  const reversedLead = await waitForStatus(reversed, 'returned', 60_000);
  expect([reversedLead.payoutCents, reversedLead.revenueCents]).toEqual([800, 0]);
  await waitForStatus(lateId, 'pending', 60_000);
  expect(await pb({ subid: lateId, status: 'approved' })).toMatchObject({
    status: 200,
    body: { status: 'accepted', duplicate: false },
  });
  await waitForStatus(lateId, 'accepted', 30_000);

  for (const leadId of [sold, scrubbed, held, reversed, lateId]) {
    await stack.client.workflow.getHandle(`lead-${leadId}`).result();
  }
  expect(await historyOf(sold)).toEqual(['received', 'pending', 'accepted']);
  expect(await historyOf(scrubbed)).toEqual(['received', 'pending', 'rejected']);
  expect(await historyOf(held)).toEqual(['received', 'pending', 'pending', 'accepted']);
  expect(await historyOf(lateId)).toEqual(['received', 'pending', 'accepted']);
  expect(await historyOf(reversed)).toEqual(['received', 'pending', 'accepted', 'returned']);
  expect(
    await StatusEvent.countDocuments({ leadId: { $in: [sold, scrubbed, held, reversed, lateId] } }),
  ).toBe(17);
  // One notification per status the source asked for (accepted, rejected), none twice.
  expect(hits('clk-out-sold')).toEqual(['accepted']);
  expect(hits('clk-out-scrubbed')).toEqual(['rejected']);
  expect(hits('clk-out-held')).toEqual(['accepted']);
  expect(hits('clk-out-reversed')).toEqual(['accepted', 'returned']);
  expect(hits('clk-out-late')).toEqual(['accepted']);
  for (const [leadId, status] of [
    [sold, 'accepted'],
    [scrubbed, 'rejected'],
    [held, 'accepted'],
  ] as const) {
    expect(await notificationsOf(leadId, status)).toHaveLength(1);
  }
  // The outbox is empty: every claim was sent, the queued lead started.
  expect(await PostbackClaim.countDocuments({ sentAt: { $exists: false } })).toBe(0);
  expect(await IntakeOutbox.countDocuments()).toBe(0);
  expect(partner.received.filter((l) => l.subid === lateId)).toHaveLength(1);
}, 150_000);
