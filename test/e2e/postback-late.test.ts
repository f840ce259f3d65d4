// Postbacks after the lead's workflow has decided (docs/status-mapping.md, "Late postbacks"): a chargeback
// reverses a sale, a late answer decides an expired lead, a scrubbed lead can be re-approved, an accepted
// one cannot be scrubbed (409), and a pending step (lead, hold) is followed by the final one.
import { StatusEvent } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import {
  ACME_TOKEN,
  applied,
  historyOf,
  notificationsOf,
  partnersConfig,
  pendingLead,
  queued,
  repeated,
  send,
  verticalPartner,
  waitForStatus,
} from '../support/postbacks';

const { stack, source } = useStack({
  config: ({ partner, source }) => {
    const config = partnersConfig(partner.url, source.url);
    config.partners.push(
      verticalPartner(
        partner.url,
        'slow',
        'pets',
        { token: 'slow-token-1234', timeout: '2s' },
        { payout: 4.25 },
      ),
    );
    return config;
  },
});

const acme = (subid: string, status: string, extra: Record<string, string> = {}) =>
  send(stack.baseUrl, {
    path: '/postback/acme',
    query: new URLSearchParams({ subid, status, token: ACME_TOKEN, ...extra }).toString(),
  });
const settled = (leadId: string) => stack.client.workflow.getHandle(leadWorkflowId(leadId)).result();
const hits = (clickId: string) =>
  source.hits.filter((h) => h.query.clickid === clickId).map((h) => `${h.query.status}:${h.query.payout}`);

test('a chargeback that overtakes its approval waits for it in the outbox, then returns the lead', async () => {
  // The approval hit a gateway that died and sits in the partner's retry queue; the chargeback came first.
  const leadId = await pendingLead(stack, 'auto', 'clk-late-overtaken');
  expect(await acme(leadId, 'chargeback', { txid: 'T-950-CB' })).toEqual(queued(leadId, 'returned'));
  expect(await acme(leadId, 'chargeback', { txid: 'T-950-CB' })).toMatchObject({
    status: 200,
    body: { duplicate: true },
  });
  expect((await acme(leadId, 'approved', { payout: '18.00', txid: 'T-950' })).status).toBe(200);
  const returned = await waitForStatus(leadId, 'returned');
  expect(returned.revenueCents).toBe(0);
  const events = await StatusEvent.find({ leadId }).sort({ at: 1, _id: 1 }).lean();
  expect(events.map((e) => e.status)).toEqual(['received', 'pending', 'accepted', 'returned']);
});

test('accepted, then a chargeback: returned, revenue reversed, source told', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-late-cb');
  // The chargeback carries its own transaction id: the sale's id again would make it a repeat (SPEC, txid).
  expect((await acme(leadId, 'approved', { payout: '18.00', txid: 'T-900' })).status).toBe(200);
  const accepted = await waitForStatus(leadId, 'accepted');
  expect(accepted.revenueCents).toBe(1800);
  await settled(leadId); // the workflow has finished: the chargeback needs a new run (signal-with-start)

  expect(await acme(leadId, 'chargeback', { txid: 'T-900-CB' })).toEqual(applied(leadId, 'returned'));
  const returned = await waitForStatus(leadId, 'returned');
  expect(returned.revenueCents).toBe(0);
  expect(returned.payoutCents).toBe(1800); // the agreed payout stays on record
  await settled(leadId); // the lead document is written before its history event: wait for the run to end
  const events = await StatusEvent.find({ leadId }).sort({ at: 1, _id: 1 }).lean();
  expect(events.map((e) => [e.status, e.revenueDeltaCents])).toEqual([
    ['received', 0],
    ['pending', 0],
    ['accepted', 1800],
    ['returned', -1800],
  ]);
  expect(events.reduce((sum, e) => sum + (e.revenueDeltaCents ?? 0), 0)).toBe(0);
  expect(hits('clk-late-cb')).toEqual(['accepted:18.00', 'returned:18.00']);
  expect(await notificationsOf(leadId, 'returned')).toHaveLength(1);

  // Nothing follows a return. A new status is a 409; the approval or the chargeback again is a repeat of
  // a postback already applied (same lead and status), so a duplicate with no effect.
  expect(await acme(leadId, 'on hold')).toMatchObject({
    status: 409,
    body: { error: { code: 'conflict', message: 'a lead that is returned cannot become pending' } },
  });
  expect(await acme(leadId, 'approved', { payout: '1.00' })).toEqual(repeated(leadId));
  expect(await acme(leadId, 'refund')).toEqual(repeated(leadId, 'returned'));
  await new Promise((r) => setTimeout(r, 300));
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted', 'returned']);
  expect((await waitForStatus(leadId, 'returned')).revenueCents).toBe(0);
});

test('expired (partner timeout 2s), then a late approval: accepted with the partner payout', async () => {
  const leadId = await pendingLead(stack, 'pets', 'clk-late-exp');
  await waitForStatus(leadId, 'expired', 30_000);
  await settled(leadId);

  const late = await send(stack.baseUrl, {
    path: '/postback/slow',
    query: `subid=${leadId}&status=approved&token=slow-token-1234`,
  });
  expect(late).toEqual(applied(leadId));
  const lead = await waitForStatus(leadId, 'accepted');
  expect(lead.revenueCents).toBe(425);
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'expired', 'accepted']);
  expect(hits('clk-late-exp')).toEqual(['accepted:4.25']);
});

test('a returned postback on an expired lead is refused (409): there was no sale to reverse', async () => {
  const leadId = await pendingLead(stack, 'pets', 'clk-late-exp-cb');
  await waitForStatus(leadId, 'expired', 30_000);
  const res = await send(stack.baseUrl, {
    path: '/postback/slow',
    query: `subid=${leadId}&status=chargeback&token=slow-token-1234`,
  });
  expect(res).toMatchObject({ status: 409, body: { error: { code: 'conflict' } } });
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'expired']);
});

test('rejected, then re-approved: accepted; the old rejection again is only a repeat', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-late-reapprove');
  expect((await acme(leadId, 'declined')).body).toMatchObject({ status: 'rejected', duplicate: false });
  await waitForStatus(leadId, 'rejected');
  await settled(leadId);

  expect(await acme(leadId, 'approved', { payout: '11.00' })).toEqual(applied(leadId));
  const lead = await waitForStatus(leadId, 'accepted');
  expect(lead.revenueCents).toBe(1100);
  await settled(leadId);

  // A late retry of the first rejection (any word that maps to rejected) changes nothing.
  expect(await acme(leadId, 'trash')).toEqual(repeated(leadId, 'rejected'));
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'rejected', 'accepted']);
  expect(hits('clk-late-reapprove')).toEqual(['rejected:0.00', 'accepted:11.00']);
});

test('accepted, then rejected: 409, the sale stands', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-late-scrub');
  expect((await acme(leadId, 'approve')).body).toMatchObject({ status: 'accepted', duplicate: false });
  await waitForStatus(leadId, 'accepted');
  const scrub = await acme(leadId, 'scrubbed');
  expect(scrub).toMatchObject({
    status: 409,
    body: { error: { code: 'conflict', message: 'a lead that is accepted cannot become rejected' } },
  });
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  expect(hits('clk-late-scrub')).toEqual(['accepted:12.50']);
});

test('multi-step: "lead" keeps it pending, then "sale" accepts it', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-late-steps');
  expect(await acme(leadId, 'lead')).toEqual(applied(leadId, 'pending'));
  await eventuallyHistory(leadId, ['received', 'pending', 'pending']);
  expect(await acme(leadId, 'Sale', { payout: '5.5' })).toEqual(applied(leadId));
  const lead = await waitForStatus(leadId, 'accepted');
  expect(lead.payoutCents).toBe(550);
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'pending', 'accepted']);
  expect(hits('clk-late-steps')).toEqual(['accepted:5.50']);
});

async function eventuallyHistory(leadId: string, expected: string[]) {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const got = await historyOf(leadId);
    if (JSON.stringify(got) === JSON.stringify(expected) || Date.now() > deadline)
      return expect(got).toEqual(expected);
    await new Promise((r) => setTimeout(r, 100));
  }
}
