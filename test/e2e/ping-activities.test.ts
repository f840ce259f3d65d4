// The ping activities against the real database and a real buyer. pingBidders is what a run of this release
// calls; claimPings, sendPing, recordPings and pingPartner are what runs recorded before still call when they
// replay (decisions 0018 and 0020), so they must keep doing what they did.
import { pingActivities } from '../../activities/ping';
import { Bid, PingClaim } from '../../shared/bids';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { startPartnerSimulator, type PartnerSimulator } from '../../scripts/simulators';
import { simulatorPing } from '../support/bidders';
import { activityDeps, insertPingedLead } from '../support/activity-deps';
import { useDatabase } from '../support/e2e';

useDatabase('ping-activities');

let buyer: PartnerSimulator;
let activities: ReturnType<typeof pingActivities>;

beforeAll(async () => {
  buyer = await startPartnerSimulator();
  const partner = (id: string, ping: Record<string, unknown>) => ({
    id,
    delivery: { url: `${buyer.url}/leads` },
    ping: { ...simulatorPing(buyer.url), ...ping },
    postback: { token: `${id}-token-123`, timeout: '1h' },
  });
  const config = new ConfigIndex(
    parseRoutingConfig({
      partners: [
        partner('json', {}),
        partner('query', { method: 'GET', format: 'form' }),
        partner('form', { format: 'form' }),
      ],
      sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
    }),
  );
  activities = pingActivities(activityDeps(config));
});

afterAll(() => buyer?.stop());

const pingedLead = () => insertPingedLead('ping-activities');

const bidsOf = (leadId: string) =>
  Bid.find({ leadId }, { _id: 0, partnerId: 1, outcome: 1, bidCents: 1, sourceId: 1 })
    .sort({ partnerId: 1 })
    .lean();

test('pingBidders pings every bidder once, in its own format, and stores every answer', async () => {
  buyer.setPingBehavior(() => ({ bid: '7.25' }));
  const leadId = await pingedLead();
  const before = buyer.pings.length;
  const sent = await activities.pingBidders({
    leadId,
    sourceId: 'src-1',
    partnerIds: ['json', 'query', 'form'],
    timeoutMs: 5000,
  });
  expect(sent.stored).toBe(true);
  expect(sent.pings.map((p) => [p.partnerId, p.outcome, p.bidCents])).toEqual([
    ['json', 'bid', 725],
    ['query', 'bid', 725],
    ['form', 'bid', 725],
  ]);
  // The same fields whichever the format: JSON keeps `geo` an object, the query string and the form flatten
  // it to its leaf names.
  const bodies = buyer.pings.slice(before).map((p) => p.body);
  expect(bodies).toHaveLength(3);
  expect(bodies).toContainEqual({ vertical: 'auto', geo: { state: 'TX' } });
  expect(bodies.filter((b) => b.vertical === 'auto' && b.state === 'TX')).toHaveLength(2);
  expect(await bidsOf(leadId)).toEqual([
    { partnerId: 'form', outcome: 'bid', bidCents: 725, sourceId: 'src-1' },
    { partnerId: 'json', outcome: 'bid', bidCents: 725, sourceId: 'src-1' },
    { partnerId: 'query', outcome: 'bid', bidCents: 725, sourceId: 'src-1' },
  ]);
  // A second attempt (a retried workflow task) finds the claim: no one is pinged again.
  const again = await activities.pingBidders({ leadId, partnerIds: ['json'], timeoutMs: 5000 });
  expect(again.pings).toEqual([
    expect.objectContaining({
      partnerId: 'json',
      outcome: 'error',
      reason: expect.stringContaining('not pinged again'),
    }),
  ]);
  expect(buyer.pings.length).toBe(before + 3);
});

test('runs recorded before: claimPings once, sendPing stores nothing, recordPings stores once', async () => {
  buyer.setPingBehavior(() => ({ bid: '3.10' }));
  const leadId = await pingedLead();
  expect(await activities.claimPings({ leadId })).toEqual({ claimed: true });
  expect(await activities.claimPings({ leadId })).toEqual({ claimed: false });
  expect(await PingClaim.countDocuments({ _id: leadId })).toBe(1);

  const sent = await activities.sendPing({ leadId, partnerId: 'json', timeoutMs: 5000 });
  expect(sent).toMatchObject({ partnerId: 'json', outcome: 'bid', bidCents: 310, httpStatus: 200 });
  expect(await bidsOf(leadId)).toEqual([]);

  await activities.recordPings({ leadId, sourceId: 'src-1', pings: [sent] });
  await activities.recordPings({ leadId, sourceId: 'src-1', pings: [sent] });
  expect(await bidsOf(leadId)).toEqual([
    { partnerId: 'json', outcome: 'bid', bidCents: 310, sourceId: 'src-1' },
  ]);
});

test('runs recorded before pings were local: pingPartner stores its own answer', async () => {
  buyer.setPingBehavior(() => ({ bid: null, reason: 'out of budget' }));
  const leadId = await pingedLead();
  const result = await activities.pingPartner({ leadId, partnerId: 'form', timeoutMs: 5000 });
  expect(result).toMatchObject({ partnerId: 'form', outcome: 'refused', reason: 'out of budget' });
  expect(result).not.toHaveProperty('httpStatus');
  expect(await bidsOf(leadId)).toEqual([{ partnerId: 'form', outcome: 'refused', sourceId: 'src-1' }]);
});
