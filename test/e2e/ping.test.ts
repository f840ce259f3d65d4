// Inbound ping-post end to end over HTTP on the real servers: a source pings (no contact data), gets the auction's
// bid, and posts the full lead with the pingId; the winner gets it with its own ping id and is not pinged again.
import { bidderPartner } from '../support/bidders';
import { useStack } from '../support/e2e';
import { getJson, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const OTHER_SOURCE_KEY = { 'x-api-key': 'key-src-2-abcdef' };

/** A bidder whose bids hold `bidValidityMs` (a reservation on it lapses after that). */
const bidder = (id: string, url: string, bidValidityMs = 60_000) => bidderPartner(id, url, { bidValidityMs });

const { stack, acme, bravo, quick } = useStack({
  partners: { acme: {}, bravo: {}, quick: {} },
  config: ({ acme, bravo, quick, source }) => ({
    // quick's bids hold 100 ms: a reservation on it lapses before any post.
    partners: [bidder('acme', acme.url), bidder('bravo', bravo.url), bidder('quick', quick.url, 100)],
    sources: [
      { id: 'src-1', apiKey: 'key-src-1-abcdef', postbackUrl: `${source.url}/pb?status={status}` },
      { id: 'src-2', apiKey: 'key-src-2-abcdef' },
    ],
    routing: { auction: { timeoutMs: 10_000, floor: '1.00' } },
  }),
});

const PING = { vertical: 'auto', geo: { country: 'US', state: 'TX' } };
const CONTACT = { contact: { email: 'pinged@example.com' } };

test('ping, then post with the pingId: the winner gets the lead with its ping id, and no second ping', async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  bravo.setPingBehavior(() => ({ bid: '7.50' }));
  quick.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  acme.setBehavior(() => ({ body: { status: 'accepted' } }));
  const ping = await postJson(`${stack.baseUrl}/ping`, PING, SOURCE_KEY);
  expect(ping.status).toBe(200);
  expect(ping.body).toMatchObject({ bid: '9.00', currency: 'USD' });
  const { leadId, pingId } = ping.body as { leadId: string; pingId: string };
  expect(Date.parse(ping.body.expiresAt as string)).toBeGreaterThan(0);
  const acmePings = acme.pings.length;
  expect(acme.pings.at(-1)?.body).toEqual({ vertical: 'auto', geo: { state: 'TX' } });

  const post = await postJson(`${stack.baseUrl}/leads`, { ...PING, ...CONTACT, pingId }, SOURCE_KEY);
  expect(post.status).toBe(202);
  expect(post.body).toMatchObject({ leadId, workflowId: `lead-${leadId}` });
  const lead = await leadReaches(stack, leadId, 'accepted', SOURCE_KEY);
  expect(lead).toMatchObject({ partnerId: 'acme', payout: '9.00', currency: 'USD' });
  const delivered = acme.received.find((l) => l.subid === leadId);
  expect(delivered?.body.ping_id).toBe(acme.pings.at(-1)?.pingId);
  expect(JSON.stringify(delivered?.body)).toContain('pinged@example.com');
  expect(acme.pings.length).toBe(acmePings);
  expect(bravo.received.find((l) => l.subid === leadId)).toBeUndefined();

  // The reservation is used: the same pingId again is refused.
  const again = await postJson(`${stack.baseUrl}/leads`, { ...PING, ...CONTACT, pingId }, SOURCE_KEY);
  expect(again.status).toBe(409);
});

test('a ping without a valid bid answers bid null with the reason', async () => {
  acme.setPingBehavior(() => ({ bid: '0.50' }));
  bravo.setPingBehavior(() => ({ bid: null, reason: 'duplicate lead' }));
  quick.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  const ping = await postJson(`${stack.baseUrl}/ping`, PING, SOURCE_KEY);
  expect(ping.status).toBe(200);
  expect(ping.body.bid).toBeNull();
  expect(ping.body.reason).toContain('acme: bid 50 below the floor of 100');
  expect(ping.body.reason).toContain('bravo: duplicate lead');
});

test('an expired pingId is refused with 409 and the lead is not posted', async () => {
  acme.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  bravo.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  quick.setPingBehavior(() => ({ bid: '5.00' }));
  const ping = await postJson(`${stack.baseUrl}/ping`, PING, SOURCE_KEY);
  expect(ping.body).toMatchObject({ bid: '5.00' });
  const pingId = ping.body.pingId as string;
  // The reservation lapses in the workflow, which then fails the lead: wait for that, not for a clock.
  const lead = await leadReaches(stack, pingId, 'failed', SOURCE_KEY);
  const failed = (lead.history as { status: string; reason: string }[]).find((h) => h.status === 'failed');
  expect(failed?.reason).toMatch(/^ping expired at /);
  const post = await postJson(`${stack.baseUrl}/leads`, { ...PING, ...CONTACT, pingId }, SOURCE_KEY);
  expect(post.status).toBe(409);
  expect((post.body.error as { code: string }).code).toBe('conflict');
  expect(quick.received.find((l) => l.subid === pingId)).toBeUndefined();
});

test("another source's pingId, or an unknown one, is 404; a ping with contact data is 400", async () => {
  acme.setPingBehavior(() => ({ bid: '3.00' }));
  bravo.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  quick.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  const ping = await postJson(`${stack.baseUrl}/ping`, PING, SOURCE_KEY);
  const pingId = ping.body.pingId as string;
  const stolen = await postJson(`${stack.baseUrl}/leads`, { ...PING, ...CONTACT, pingId }, OTHER_SOURCE_KEY);
  expect(stolen.status).toBe(404);
  expect((stolen.body.error as { code: string }).code).toBe('not_found');
  const unknown = await postJson(
    `${stack.baseUrl}/leads`,
    { ...PING, ...CONTACT, pingId: 'no-such-ping-id' },
    SOURCE_KEY,
  );
  expect(unknown.status).toBe(404);
  // The other source's attempt left the reservation to its owner.
  const view = await getJson(`${stack.baseUrl}/leads/${pingId}`, SOURCE_KEY);
  expect(view.body.status).toBe('received');
  const withContact = await postJson(`${stack.baseUrl}/ping`, { ...PING, ...CONTACT }, SOURCE_KEY);
  expect(withContact.status).toBe(400);
});
