// A ping-post auction end to end over HTTP on the real servers: a lead submitted with POST /leads is auctioned
// among two bidders, the winner refuses the post, the second bid takes it; the bids show in the lead's journey.
import { bidderPartner } from '../support/bidders';
import { useStack } from '../support/e2e';
import { ADMIN_KEY, getJson, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const ADMIN = { 'x-api-key': ADMIN_KEY };
const { stack, acme, bravo } = useStack({
  partners: { acme: {}, bravo: {} },
  config: ({ acme, bravo, source }) => ({
    partners: [bidderPartner('acme', acme.url), bidderPartner('bravo', bravo.url)],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef', postbackUrl: `${source.url}/pb?status={status}` }],
    // A generous deadline: on a loaded machine, an immediate answer must not count as late.
    routing: { auction: { timeoutMs: 10_000, floor: '1.00' } },
  }),
});

test('the highest bidder refuses the post, the second bid takes the lead; the journey shows both bids', async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  bravo.setPingBehavior(() => ({ bid: '7.50' }));
  acme.setBehavior(() => ({ body: { status: 'rejected' } }));
  bravo.setBehavior(() => ({ body: { status: 'accepted' } }));
  const r = await postJson(
    `${stack.baseUrl}/leads`,
    { vertical: 'auto', geo: { country: 'US', state: 'TX' }, contact: { email: 'x@example.com' } },
    SOURCE_KEY,
  );
  expect(r.status).toBe(202);
  const leadId = r.body.leadId as string;
  const lead = await leadReaches(stack, leadId, 'accepted', SOURCE_KEY);
  expect(lead).toMatchObject({ partnerId: 'bravo', payout: '7.50', currency: 'USD' });

  // Pings carried no contact data; each post carried its own bid's ping id in the configured field.
  expect(acme.pings.at(-1)?.body).toEqual({ vertical: 'auto', geo: { state: 'TX' } });
  expect(acme.received.find((l) => l.subid === leadId)?.body.ping_id).toBe(acme.pings.at(-1)?.pingId);
  expect(bravo.received.find((l) => l.subid === leadId)?.body.ping_id).toBe(bravo.pings.at(-1)?.pingId);

  const journey = await getJson(`${stack.baseUrl}/admin/leads/${leadId}/journey`, ADMIN);
  expect(journey.status).toBe(200);
  const timeline = journey.body.timeline as {
    kind: string;
    partnerId?: string;
    summary: string;
    ok?: boolean;
  }[];
  const bids = timeline.filter((e) => e.kind === 'bid');
  expect(bids.map((b) => [b.partnerId, b.ok]).sort()).toEqual([
    ['acme', true],
    ['bravo', true],
  ]);
  expect(bids.find((b) => b.partnerId === 'acme')?.summary).toMatch(
    /^ping to acme: bid 9\.00 USD in \d+ ms \(ping id /,
  );
  const kinds = timeline.map((e) => e.kind);
  expect(kinds.indexOf('bid')).toBeLessThan(kinds.indexOf('delivery'));
});

test('no bid at or above the floor: the lead fails, and says why', async () => {
  acme.setPingBehavior(() => ({ bid: '0.99' }));
  bravo.setPingBehavior(() => ({ bid: null, reason: 'duplicate lead' }));
  const r = await postJson(`${stack.baseUrl}/leads`, { vertical: 'auto' }, SOURCE_KEY);
  const lead = await leadReaches(stack, r.body.leadId as string, 'failed', SOURCE_KEY);
  const failed = (lead.history as { status: string; reason: string }[]).find((h) => h.status === 'failed');
  expect(failed?.reason).toContain('acme: bid 99 below the floor of 100');
  expect(failed?.reason).toContain('bravo: duplicate lead');
});
