// Ping-post auctions inside the lead workflow on the time-skipping server, with the real activities, a real
// Mongo-wire database and loopback partners that bid: who wins, the floor, ties, a late bid, refused posts.
import { randomBytes } from 'node:crypto';
import { Bid, PingClaim } from '../../shared/bids';
import { Lead, StatusEvent } from '../../shared/models';
import { leadWorkflowId, postbackSignal, SEARCH_ATTRIBUTES } from '../../shared/temporal';
import type { PingBehavior } from '../../scripts/simulators';
import { accepts, rejects, useRoutingHarness, type PartnerName } from '../support/routing-harness';
import { buyersPending } from '../support/stack';

const h = useRoutingHarness();

const LEAD = {
  vertical: 'auto',
  geo: { country: 'US', state: 'CA', zip: '94107' },
  contact: { email: 'lead@example.com', phone: '+15550100' },
  data: { loanAmount: 5000, ssnLast4: '1234' },
};

/** Each partner's ping answer; every partner accepts its post unless `refusePost` names it. */
function bidders(bids: Partial<Record<PartnerName, PingBehavior>>, refusePost: PartnerName[] = []) {
  for (const id of ['a', 'b', 'c'] as const) {
    h.sims[id].setPingBehavior(() => bids[id] ?? { bid: null, reason: 'not interested' });
    h.sims[id].setBehavior(refusePost.includes(id) ? rejects : accepts);
  }
}

const postsTo = (id: PartnerName, leadId: string) => h.sims[id].received.filter((l) => l.subid === leadId);
const pingIdOf = (id: PartnerName) => h.sims[id].pings.at(-1)?.pingId;

async function storedBids(leadId: string) {
  const docs = await Bid.find({ leadId }).sort({ partnerId: 1 }).lean();
  return docs.map((d) => ({ partnerId: d.partnerId, outcome: d.outcome, bidCents: d.bidCents ?? undefined }));
}

const allBidders = [
  { id: 'a', ping: true },
  { id: 'b', ping: true },
  { id: 'c', ping: true },
] as const;

test('the highest bid wins: only the winner gets the post, with its ping id; the bid is the payout', async () => {
  h.useConfig([...allBidders]);
  bidders({ a: { bid: '5.00' }, b: { bid: 7.25 }, c: { bid: '6.10' } });
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', payoutCents: 725, currency: 'USD' });
  expect(view.auction?.winner).toEqual({ partnerId: 'b', bidCents: 725, currency: 'USD' });
  // Searchable in the Temporal UI, not only in the memo: `WinningBidCurrency="USD" AND WinningBidCents > 700`.
  const { typedSearchAttributes: attrs, memo } = await h.env.client.workflow
    .getHandle(leadWorkflowId(leadId))
    .describe();
  expect(attrs.get(SEARCH_ATTRIBUTES.winningBidCents)).toBe(725);
  expect(attrs.get(SEARCH_ATTRIBUTES.winningBidCurrency)).toBe('USD');
  expect(attrs.get(SEARCH_ATTRIBUTES.partnerId)).toBe('b');
  expect(memo?.winningBid).toEqual({ partnerId: 'b', bidCents: 725, currency: 'USD' });
  expect(postsTo('a', leadId)).toHaveLength(0);
  expect(postsTo('c', leadId)).toHaveLength(0);
  const [post] = postsTo('b', leadId);
  expect(post?.body.pingId).toBe(pingIdOf('b'));
  expect(await storedBids(leadId)).toEqual([
    { partnerId: 'a', outcome: 'bid', bidCents: 500 },
    { partnerId: 'b', outcome: 'bid', bidCents: 725 },
    { partnerId: 'c', outcome: 'bid', bidCents: 610 },
  ]);
  // A ping carries only the listed fields: no contact data, no other data fields, no lead id.
  expect(h.sims.a.pings.at(-1)?.body).toEqual({
    vertical: 'auto',
    geo: { state: 'CA' },
    data: { loanAmount: 5000 },
  });
});

test('floor: bids under it never win; with no waterfall partner the lead fails with the reasons', async () => {
  h.useConfig([...allBidders], {}, { floor: '6.00' });
  bidders({ a: { bid: '5.99' }, b: { bid: null, reason: 'out of budget' } });
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({ status: 'failed', partnersTried: [] });
  const failed = await StatusEvent.findOne({ leadId, status: 'failed' }).lean();
  expect(failed?.reason).toMatch(/^no valid bid in the auction/);
  expect(failed?.reason).toContain('a: bid 599 below the floor of 600');
  expect(failed?.reason).toContain('b: out of budget');
  expect(postsTo('a', leadId)).toHaveLength(0);
});

test('floor: a bid at the floor wins', async () => {
  h.useConfig([...allBidders], {}, { floor: '6.00' });
  bidders({ a: { bid: '6' }, b: { bid: '5.50' } });
  const { view } = await h.runLead(LEAD);
  expect(view).toMatchObject({ status: 'accepted', partnerId: 'a', payoutCents: 600 });
});

test('ties: equal bids go to the partner of higher priority', async () => {
  h.useConfig([
    { id: 'a', ping: true, routing: { priority: 2 } },
    { id: 'b', ping: true, routing: { priority: 1 } },
  ]);
  bidders({ a: { bid: '8.00' }, b: { bid: '8.00' } });
  const { leadId, view } = await h.runLead(LEAD);
  expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', partnersTried: ['b'] });
  expect(postsTo('a', leadId)).toHaveLength(0);
});

test('a bid in another currency than the auction is refused, never compared', async () => {
  h.useConfig([...allBidders]);
  bidders({ a: { bid: '50.00', currency: 'EUR' }, b: { bid: '4.00' } });
  const { view } = await h.runLead(LEAD);
  expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', payoutCents: 400 });
  expect(view.auction?.bids.find((b) => b.partnerId === 'a')).toMatchObject({
    outcome: 'bid',
    currency: 'EUR',
  });
});

test('a bid after the auction deadline is ignored: recorded as a timeout, the lead goes to a bid in time', async () => {
  // 2 s for b's immediate answer even on a loaded machine; a answers 4 s after that deadline.
  h.useConfig([...allBidders], {}, { timeoutMs: 2000 });
  bidders({ a: { bid: '20.00', latencyMs: 6000 }, b: { bid: '5.00' } });
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', payoutCents: 500 });
  expect(postsTo('a', leadId)).toHaveLength(0);
  const a = await Bid.findOne({ leadId, partnerId: 'a' }).lean();
  expect(a).toMatchObject({ outcome: 'timeout' });
  expect(a?.bidCents).toBeUndefined();
});

test('the winner refuses the post: the next-highest bid gets it, with its own ping id', async () => {
  h.useConfig([...allBidders]);
  bidders({ a: { bid: '9.00' }, b: { bid: '7.00' }, c: { bid: '3.00' } }, ['a']);
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({
    status: 'accepted',
    partnerId: 'b',
    payoutCents: 700,
    partnersTried: ['a', 'b'],
  });
  expect(postsTo('a', leadId)[0]?.body.pingId).toBe(pingIdOf('a'));
  expect(postsTo('b', leadId)[0]?.body.pingId).toBe(pingIdOf('b'));
  expect(postsTo('c', leadId)).toHaveLength(0);
});

test('every bidder refuses the post: the waterfall partners are next', async () => {
  h.useConfig([
    { id: 'a', ping: true },
    { id: 'b', ping: true },
    { id: 'c', routing: { priority: 1 } },
  ]);
  bidders({ a: { bid: '9.00' }, b: { bid: '7.00' } }, ['a', 'b']);
  const cPings = h.sims.c.pings.length;
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({
    status: 'accepted',
    partnerId: 'c',
    payoutCents: 1000,
    partnersTried: ['a', 'b', 'c'],
  });
  expect(h.sims.c.pings.length).toBe(cPings); // c is not a bidder: never pinged
  expect(postsTo('c', leadId)[0]?.body.pingId).toBeUndefined();
});

test('every bidder refuses the post and there is no waterfall: failed, saying who refused', async () => {
  h.useConfig([...allBidders]);
  bidders({ a: { bid: '9.00' }, b: { bid: '7.00' } }, ['a', 'b']);
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({ status: 'failed', partnersTried: ['a', 'b'] });
  const failed = await StatusEvent.findOne({ leadId, status: 'failed' }).lean();
  expect(failed?.reason).toMatch(/^no bidder took the lead/);
  expect(failed?.reason).toContain('a: rejected');
  expect(failed?.reason).toContain('c: not interested');
});

test('a lost workflow task had pinged the bidders (worker killed): its retry pings no one again, the waterfall takes the lead', async () => {
  h.useConfig([
    { id: 'a', ping: true },
    { id: 'b', ping: true },
    { id: 'c', routing: { priority: 1 } },
  ]);
  bidders({ a: { bid: '9.00' }, b: { bid: '7.00' } });
  const pings = [h.sims.a.pings.length, h.sims.b.pings.length];
  // The claim the lost task took before its pings, found by its retry.
  const leadId = `wf${randomBytes(6).toString('hex')}`;
  await PingClaim.create({ _id: leadId, at: new Date() });
  const { view } = await h.runLead(LEAD, leadId);

  expect([h.sims.a.pings.length, h.sims.b.pings.length]).toEqual(pings);
  expect(view).toMatchObject({ status: 'accepted', partnerId: 'c', partnersTried: ['c'] });
  expect(view.auction?.bids.map((b) => [b.partnerId, b.outcome])).toEqual([
    ['a', 'error'],
    ['b', 'error'],
  ]);
  expect(postsTo('a', leadId)).toHaveLength(0);
  expect(await storedBids(leadId)).toEqual([
    { partnerId: 'a', outcome: 'error' },
    { partnerId: 'b', outcome: 'error' },
  ]);
});

test('caps count posts, not pings: a capped bidder is still pinged, and the post goes to the next bid', async () => {
  h.useConfig([
    { id: 'a', ping: true, routing: { dailyCap: 1 } },
    { id: 'b', ping: true },
  ]);
  bidders({ a: { bid: '9.00' }, b: { bid: '7.00' } });
  const first = await h.runLead(LEAD);
  expect(first.view).toMatchObject({ status: 'accepted', partnerId: 'a' });
  const pingsBefore = h.sims.a.pings.length;
  const second = await h.runLead(LEAD);
  expect(h.sims.a.pings.length).toBe(pingsBefore + 1);
  expect(second.view).toMatchObject({
    status: 'accepted',
    partnerId: 'b',
    payoutCents: 700,
    partnersTried: ['b'],
  });
  expect(postsTo('a', second.leadId)).toHaveLength(0);
});

test('a bid past its validity is not posted to: after the winner fails, the lead goes on to the waterfall', async () => {
  h.useConfig([
    { id: 'a', ping: true },
    { id: 'b', ping: { bidValidityMs: 100 } },
    { id: 'c', routing: { priority: 1 } },
  ]);
  bidders({ a: { bid: '9.00' }, b: { bid: '7.00' } });
  // a's post fails twice (503), with a retry backoff of 1 s between: b's 100 ms bid is stale by then.
  h.sims.a.setBehavior(() => ({ httpStatus: 503 }));
  const { leadId, view } = await h.runLead(LEAD);

  expect(view).toMatchObject({ status: 'accepted', partnerId: 'c', partnersTried: ['a', 'c'] });
  expect(postsTo('b', leadId)).toHaveLength(0);
  expect(postsTo('a', leadId)).toHaveLength(2);
});

describe('multisell (routing.auction.winners)', () => {
  /** Each buyer event of a lead: whose verdict, which, and the revenue it moved. */
  async function buyerEvents(leadId: string) {
    const events = await StatusEvent.find({ leadId, status: { $ne: 'received' } })
      .sort({ at: 1, _id: 1 })
      .lean();
    return events.map((e) => [e.partnerId, e.status, e.revenueDeltaCents]);
  }

  test('winners 2 of 3 bidders: the two best bids get the post, each with its ping id; the payout is their sum', async () => {
    h.useConfig([...allBidders], {}, { winners: 2 });
    bidders({ a: { bid: '5.00' }, b: { bid: 7.25 }, c: { bid: '6.10' } });
    const { leadId, view } = await h.runLead(LEAD);

    expect(view).toMatchObject({
      status: 'accepted',
      partnerId: 'b',
      payoutCents: 1335,
      partnersTried: ['b', 'c'],
    });
    expect(view.auction?.winners).toEqual([
      { partnerId: 'b', bidCents: 725, currency: 'USD' },
      { partnerId: 'c', bidCents: 610, currency: 'USD' },
    ]);
    expect(view.auction?.winner).toEqual({ partnerId: 'b', bidCents: 725, currency: 'USD' });
    expect(postsTo('b', leadId)[0]?.body.pingId).toBe(pingIdOf('b'));
    expect(postsTo('c', leadId)[0]?.body.pingId).toBe(pingIdOf('c'));
    expect(postsTo('a', leadId)).toHaveLength(0);
    // Each buyer's acceptance is its own event with its own revenue: reports credit each partner its bid.
    expect(await buyerEvents(leadId)).toEqual([
      ['b', 'accepted', 725],
      ['c', 'accepted', 610],
    ]);
    const lead = await Lead.findById(leadId).lean();
    expect(lead).toMatchObject({ status: 'accepted', partnerId: 'b', payoutCents: 1335, revenueCents: 1335 });
    const offeredAt = expect.any(String) as string;
    expect(lead?.buyers).toEqual({
      b: { status: 'accepted', payoutCents: 725, currency: 'USD', offeredAt },
      c: { status: 'accepted', payoutCents: 610, currency: 'USD', offeredAt },
    });
  });

  test('a winner refuses its post: the third bid takes its place', async () => {
    h.useConfig([...allBidders], {}, { winners: 2 });
    bidders({ a: { bid: '5.00' }, b: { bid: '7.25' }, c: { bid: '6.10' } }, ['b']);
    const { leadId, view } = await h.runLead(LEAD);

    expect(view).toMatchObject({
      status: 'accepted',
      partnerId: 'c',
      payoutCents: 1110,
      partnersTried: ['b', 'c', 'a'],
    });
    expect(view.auction?.winners?.map((w) => w.partnerId)).toEqual(['c', 'a']);
    expect(postsTo('b', leadId)).toHaveLength(1);
    expect(postsTo('a', leadId)[0]?.body.pingId).toBe(pingIdOf('a'));
    expect(await buyerEvents(leadId)).toEqual([
      ['c', 'accepted', 610],
      ['a', 'accepted', 500],
    ]);
  });

  test('fewer valid bids than winners: every valid bid gets the post, and no one else', async () => {
    h.useConfig([...allBidders], {}, { winners: 3, floor: '1.00' });
    bidders({ a: { bid: '0.50' }, b: { bid: '7.25' }, c: { bid: '6.10' } });
    const { leadId, view } = await h.runLead(LEAD);

    expect(view).toMatchObject({ status: 'accepted', payoutCents: 1335, partnersTried: ['b', 'c'] });
    expect(postsTo('a', leadId)).toHaveLength(0);
  });

  test('caps count each post: a buyer whose cap its share filled is passed over on the next lead', async () => {
    // c's cap, not a's: the single-winner cap test above took a's slot for today.
    h.useConfig(
      [
        { id: 'a', ping: true },
        { id: 'b', ping: true },
        { id: 'c', ping: true, routing: { dailyCap: 1 } },
      ],
      {},
      { winners: 2 },
    );
    bidders({ a: { bid: '7.00' }, b: { bid: '5.00' }, c: { bid: '9.00' } });
    const first = await h.runLead(LEAD);
    expect(first.view).toMatchObject({ status: 'accepted', payoutCents: 1600, partnersTried: ['c', 'a'] });
    const second = await h.runLead(LEAD);
    expect(second.view).toMatchObject({ status: 'accepted', payoutCents: 1200, partnersTried: ['a', 'b'] });
    expect(postsTo('c', second.leadId)).toHaveLength(0);
  });

  test('a buyer that never posts back expires at its own deadline; the other buyer keeps the lead accepted', async () => {
    h.useConfig([...allBidders], {}, { winners: 2 });
    bidders({ b: { bid: '7.25' }, c: { bid: '6.10' } });
    h.sims.b.setBehavior(() => ({ body: { received: true } }));
    const { leadId, view } = await h.runLead(LEAD);

    expect(view).toMatchObject({ status: 'accepted', partnerId: 'c', payoutCents: 610 });
    expect(await buyerEvents(leadId)).toEqual([
      ['b', 'pending', 0],
      ['c', 'accepted', 610],
      ['b', 'expired', 0],
    ]);
  });

  test("a buyer's chargeback after the run ended: a new run reverses that buyer's sale alone; the other's stands", async () => {
    h.useConfig([...allBidders], {}, { winners: 2 });
    bidders({ b: { bid: '7.25' }, c: { bid: '6.10' } });
    const { leadId } = await h.runLead(LEAD);
    const returned = {
      postbackId: 'pb-c-returned',
      partnerId: 'c',
      status: 'returned' as const,
      receivedAt: new Date().toISOString(),
    };
    const late = await h.env.client.workflow.signalWithStart('leadWorkflow', {
      workflowId: leadWorkflowId(leadId),
      taskQueue: h.taskQueue,
      args: [{ leadId }],
      signal: postbackSignal,
      signalArgs: [returned],
    });
    const view = await late.result();

    expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', payoutCents: 725 });
    expect(await buyerEvents(leadId)).toEqual([
      ['b', 'accepted', 725],
      ['c', 'accepted', 610],
      ['c', 'returned', -610],
    ]);
    const lead = await Lead.findById(leadId).lean();
    expect(lead).toMatchObject({ status: 'accepted', payoutCents: 725, revenueCents: 725 });
    expect(lead?.buyers).toMatchObject({ b: { status: 'accepted' }, c: { status: 'returned' } });
  });

  test('buyers decide by postback, each for itself: one rejects, one accepts; the lead is accepted at that bid', async () => {
    h.useConfig([...allBidders], {}, { winners: 2 });
    bidders({ b: { bid: '7.25' }, c: { bid: '6.10' } });
    // No synchronous verdict: both buyers hold the lead pending their postbacks.
    for (const id of ['b', 'c'] as const) h.sims[id].setBehavior(() => ({ body: { received: true } }));
    const leadId = `wf${randomBytes(6).toString('hex')}`;
    await Lead.create({ _id: leadId, sourceId: 'src-1', status: 'received', ...LEAD });
    const handle = await h.env.client.workflow.start('leadWorkflow', {
      workflowId: leadWorkflowId(leadId),
      taskQueue: h.taskQueue,
      args: [{ leadId }],
    });
    await buyersPending(leadId, ['b', 'c']);
    const postback = (partnerId: string, status: 'accepted' | 'rejected') => ({
      postbackId: `pb-${partnerId}-${status}`,
      partnerId,
      status,
      receivedAt: new Date().toISOString(),
    });
    await handle.signal(postbackSignal, postback('b', 'rejected'));
    await handle.signal(postbackSignal, postback('c', 'accepted'));
    const view = await handle.result();

    expect(view).toMatchObject({ status: 'accepted', partnerId: 'c', payoutCents: 610 });
    expect(await buyerEvents(leadId)).toEqual([
      ['b', 'pending', 0],
      ['c', 'pending', 0],
      ['b', 'rejected', 0],
      ['c', 'accepted', 610],
    ]);
    expect((await Lead.findById(leadId, { status: 1 }).lean())?.status).toBe('accepted');
  });
});
