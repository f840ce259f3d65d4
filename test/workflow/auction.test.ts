// Ping-post auctions inside the lead workflow on the time-skipping server, with the real activities, a real
// Mongo-wire database and loopback partners that bid: who wins, the floor, ties, a late bid, refused posts.
import { Bid } from '../../shared/bids';
import { StatusEvent } from '../../shared/models';
import { leadWorkflowId, SEARCH_ATTRIBUTES } from '../../shared/temporal';
import type { PingBehavior } from '../../scripts/simulators';
import { accepts, rejects, useRoutingHarness, type PartnerName } from '../support/routing-harness';

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
