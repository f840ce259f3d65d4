// Inbound ping on the time-skipping server: the update-with-start answers the auction's best bid; a post in time
// goes to that bidder without a second ping; without a post the reservation lapses and the lead fails.
import { randomBytes } from 'node:crypto';
import { WithStartWorkflowOperation } from '@temporalio/client';
import { Lead, StatusEvent } from '../../shared/models';
import { leadWorkflowId, pingUpdate, postPingedUpdate, type LeadWorkflowView } from '../../shared/temporal';
import { accepts, useRoutingHarness } from '../support/routing-harness';

const h = useRoutingHarness();

const PING = { vertical: 'auto', geo: { country: 'US', state: 'CA' }, data: { loanAmount: 5000 } };

/** What the gateway does on POST /ping: store the partial lead, start its run with the ping update. */
async function ping() {
  const leadId = `wf${randomBytes(6).toString('hex')}`;
  await Lead.create({ _id: leadId, sourceId: 'src-1', status: 'received', ...PING });
  const startWorkflowOperation = new WithStartWorkflowOperation('leadWorkflow', {
    workflowId: leadWorkflowId(leadId),
    taskQueue: h.taskQueue,
    args: [{ leadId, ping: true }],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  const answer = await h.env.client.workflow.executeUpdateWithStart(pingUpdate, { startWorkflowOperation });
  const handle = await startWorkflowOperation.workflowHandle();
  return { leadId, answer, handle };
}

beforeEach(() => {
  h.useConfig([
    { id: 'a', ping: true },
    { id: 'b', ping: true },
  ]);
  h.sims.a.setPingBehavior(() => ({ bid: '6.00' }));
  h.sims.b.setPingBehavior(() => ({ bid: '4.00' }));
  h.sims.a.setBehavior(accepts);
  h.sims.b.setBehavior(accepts);
});

test('the ping answers the best bid; the post goes to that bidder with its ping id and pings no one again', async () => {
  const { leadId, answer, handle } = await ping();
  expect(answer).toMatchObject({ bidCents: 600, currency: 'USD' });
  const pingsA = h.sims.a.pings.length;
  const pingsB = h.sims.b.pings.length;

  await Lead.updateOne({ _id: leadId }, { $set: { contact: { email: 'lead@example.com' } } });
  await handle.executeUpdate(postPingedUpdate, { args: [{}] });
  const view = (await handle.result()) as LeadWorkflowView;

  expect(view).toMatchObject({ status: 'accepted', partnerId: 'a', payoutCents: 600 });
  const [post] = h.sims.a.received.filter((l) => l.subid === leadId);
  expect(post?.body.pingId).toBe(h.sims.a.pings.at(-1)?.pingId);
  expect([h.sims.a.pings.length, h.sims.b.pings.length]).toEqual([pingsA, pingsB]);
  // A second post of the same ping is refused by the run (it is over: the handle's update fails).
  await expect(handle.executeUpdate(postPingedUpdate, { args: [{}] })).rejects.toThrow();
});

test('multisell (winners 2): the ping answers the two best bids together; the post goes to both', async () => {
  h.useConfig(
    [
      { id: 'a', ping: true },
      { id: 'b', ping: true },
      { id: 'c', ping: true },
    ],
    {},
    { winners: 2 },
  );
  h.sims.c.setPingBehavior(() => ({ bid: '1.00' }));
  h.sims.c.setBehavior(accepts);
  const { leadId, answer, handle } = await ping();
  expect(answer).toMatchObject({ bidCents: 1000, currency: 'USD' });
  await handle.executeUpdate(postPingedUpdate, { args: [{}] });
  const view = (await handle.result()) as LeadWorkflowView;

  expect(view).toMatchObject({
    status: 'accepted',
    partnerId: 'a',
    payoutCents: 1000,
    partnersTried: ['a', 'b'],
  });
  expect(h.sims.c.received.filter((l) => l.subid === leadId)).toHaveLength(0);
});

test("buyers the full lead's person rules out are passed over at the post: the next bid takes it", async () => {
  const { leadId, handle } = await ping();
  await handle.executeUpdate(postPingedUpdate, { args: [{ skip: { a: 'duplicate' } }] });
  const view = (await handle.result()) as LeadWorkflowView;

  expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', payoutCents: 400 });
  expect(h.sims.a.received.filter((l) => l.subid === leadId)).toHaveLength(0);
  expect(h.sims.b.received.filter((l) => l.subid === leadId)).toHaveLength(1);
});

test('every buyer ruled out at the post (a suppressed person): failed with the reasons, nobody gets it', async () => {
  const { leadId, handle } = await ping();
  await handle.executeUpdate(postPingedUpdate, { args: [{ skip: { a: 'suppressed', b: 'suppressed' } }] });
  const view = (await handle.result()) as LeadWorkflowView;

  expect(view).toMatchObject({ status: 'failed', partnersTried: [] });
  const failed = await StatusEvent.findOne({ leadId, status: 'failed' }).lean();
  expect(failed?.reason).toBe('no bidder took the lead (a: suppressed; b: suppressed)');
  expect(h.sims.a.received.filter((l) => l.subid === leadId)).toHaveLength(0);
  expect(h.sims.b.received.filter((l) => l.subid === leadId)).toHaveLength(0);
});

test('no post before the bid lapses: the lead fails with the reason and nobody gets it', async () => {
  const { leadId, answer, handle } = await ping();
  expect(answer.bidCents).toBe(600);
  // Time skips through the 60 s reservation.
  const view = (await handle.result()) as LeadWorkflowView;
  expect(view.status).toBe('failed');
  const failed = await StatusEvent.findOne({ leadId, status: 'failed' }).lean();
  expect(failed?.reason).toMatch(/^ping expired at /);
  expect(h.sims.a.received.filter((l) => l.subid === leadId)).toHaveLength(0);
});

test('a ping without a valid bid answers why and fails the lead; a post is refused', async () => {
  h.sims.a.setPingBehavior(() => ({ bid: null, reason: 'out of budget' }));
  h.sims.b.setPingBehavior(() => ({ bid: null, reason: 'duplicate' }));
  const { answer, handle } = await ping();
  expect(answer).toMatchObject({ bidCents: null });
  expect(answer.bidCents === null && answer.reason).toContain('a: out of budget');
  const view = (await handle.result()) as LeadWorkflowView;
  expect(view.status).toBe('failed');
  await expect(handle.executeUpdate(postPingedUpdate, { args: [{}] })).rejects.toThrow();
});

test('the longest auction (30 s) is waited out in the first step: a buyer that never answers is a timeout, the others keep their bids', async () => {
  h.useConfig(
    [
      { id: 'a', ping: { timeoutMs: 30_000 } },
      { id: 'b', ping: true },
    ],
    {},
    { timeoutMs: 30_000 },
  );
  h.sims.a.setPingBehavior(() => ({ bid: '6.00', latencyMs: 31_000 }));
  const pingsBefore = h.sims.a.pings.length;
  const { answer } = await ping();
  // The pings, the reads and the writes take over 30 s together: the step must not time out and be retried
  // (its retry would find the pings claimed and answer no bid at all).
  expect(answer).toMatchObject({ bidCents: 400, currency: 'USD' });
  expect(h.sims.a.pings.length).toBe(pingsBefore + 1);
}, 90_000);
