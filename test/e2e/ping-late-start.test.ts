// An inbound ping's first step against the real database and a real buyer: its pings get what is left of the
// source's wait, and none are sent once too little is (a backlog: the gateway has answered 503 already).
import { leadActivities } from '../../activities/leads';
import { Bid } from '../../shared/bids';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { pingAnswerWaitMs } from '../../shared/temporal';
import { startPartnerSimulator, type PartnerSimulator } from '../../scripts/simulators';
import { bidderPartner } from '../support/bidders';
import { activityDeps, insertPingedLead } from '../support/activity-deps';
import { useDatabase } from '../support/e2e';

useDatabase('ping-late-start');

const AUCTION_MS = 1000;
let buyer: PartnerSimulator;
let startLead: ReturnType<typeof leadActivities>['startLead'];

/** startLead with an auction of this deadline, among one bidder: the buyer. */
function startLeadWith(auctionMs: number) {
  const config = new ConfigIndex(
    parseRoutingConfig({
      routing: { auction: { timeoutMs: auctionMs, floor: '1.00' } },
      partners: [bidderPartner('acme', buyer.url)],
      sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
    }),
  );
  return leadActivities(activityDeps(config)).startLead;
}

beforeAll(async () => {
  buyer = await startPartnerSimulator();
  startLead = startLeadWith(AUCTION_MS);
});

afterAll(() => buyer?.stop());

const pingedLead = () => insertPingedLead('late-start');

const storedBid = (leadId: string) => Bid.findOne({ leadId }, { outcome: 1, reason: 1 }).lean();

test('a run that starts at once pings the bidder with the auction deadline', async () => {
  buyer.setPingBehavior(() => ({ bid: '9.00', latencyMs: 300 }));
  const leadId = await pingedLead();
  const before = buyer.pings.length;
  const started = await startLead({ leadId, ping: true, pingedAt: Date.now() });
  expect(started.pinged?.pings).toEqual([
    expect.objectContaining({ partnerId: 'acme', outcome: 'bid', bidCents: 900 }),
  ]);
  expect(started.pinged?.stored).toBe(true);
  expect(buyer.pings.length).toBe(before + 1);
});

test('a run that starts late gives its pings only what is left of the source wait', async () => {
  buyer.setPingBehavior(() => ({ bid: '9.00', latencyMs: 600 }));
  const leadId = await pingedLead();
  // 400 ms of the wait left, less the answer's way back: a buyer answering in 600 ms is too late.
  const pingedAt = Date.now() - (pingAnswerWaitMs(AUCTION_MS) - 400);
  const started = await startLead({ leadId, ping: true, pingedAt });
  const [ping] = started.pinged?.pings ?? [];
  expect(ping).toMatchObject({ partnerId: 'acme', outcome: 'timeout' });
  expect(ping?.latencyMs).toBeLessThan(600);
});

test('a run that starts after the source stopped waiting pings no one and says why', async () => {
  buyer.setPingBehavior(() => ({ bid: '9.00' }));
  const leadId = await pingedLead();
  const before = buyer.pings.length;
  const started = await startLead({ leadId, ping: true, pingedAt: Date.now() - 5000 });
  const reason = expect.stringMatching(/^not pinged: the auction would start \d+ ms after the source's ping/);
  expect(started.pinged).toEqual({
    pings: [expect.objectContaining({ partnerId: 'acme', outcome: 'error', reason })],
    stored: true,
  });
  expect(buyer.pings.length).toBe(before);
  expect(await storedBid(leadId)).toMatchObject({ outcome: 'error', reason });
});

test('a step not told when the ping came (no source waiting) pings with the auction deadline, however short', async () => {
  buyer.setPingBehavior(() => ({ bid: '9.00' }));
  const leadId = await pingedLead();
  const before = buyer.pings.length;
  const started = await startLeadWith(60)({ leadId, ping: true });
  // Answered in time or not on a busy machine, the buyer was pinged: never "not pinged".
  expect(buyer.pings.length).toBe(before + 1);
  expect(started.pinged?.pings).toEqual([expect.objectContaining({ partnerId: 'acme' })]);
  expect(started.pinged?.pings[0]?.reason ?? '').not.toMatch(/not pinged/);
});
