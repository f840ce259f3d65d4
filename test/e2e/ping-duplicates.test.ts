// Duplicate screening of pinged leads over HTTP on the real servers: a ping carries no contact data, so the person
// is screened when the source posts the full lead with its pingId, exactly as a lead posted whole is.
import type { PartnerSimulator } from '../../scripts/simulators';
import { Lead } from '../../shared/models';
import { bidderPartner } from '../support/bidders';
import { useStack } from '../support/e2e';
import { ADMIN_KEY, leadReaches, postJson } from '../support/stack';

const KEY = { 'x-api-key': 'key-src-1-abcdef' };
const SECRET = 'ping-duplicates-secret-0123456789';

/** acme never sells a person twice within 90 days; quick's bids hold 100 ms, so a post on one comes too late. */
function config(action: 'reject' | 'flag'): unknown {
  const quick = bidderPartner('quick', e2e.quick.url);
  return {
    settings: { duplicates: { secret: SECRET, window: '30d', action } },
    routing: { auction: { timeoutMs: 10_000 } },
    partners: [
      { ...bidderPartner('acme', e2e.acme.url), routing: { duplicates: { window: '90d' } } },
      bidderPartner('bravo', e2e.bravo.url),
      { ...quick, ping: { ...quick.ping, bidValidityMs: 100 } },
    ],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
  };
}

const e2e = useStack({
  partners: { acme: {}, bravo: {}, quick: {} },
  source: false,
  config: () => config('reject'),
  ready: ({ acme, bravo, quick }) => {
    for (const p of [acme, bravo, quick]) p.setBehavior(() => ({ body: { status: 'accepted' } }));
  },
});
const { stack, acme, bravo, quick } = e2e;

beforeEach(() => {
  stack.useConfig(config('reject'));
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  bravo.setPingBehavior(() => ({ bid: '7.50' }));
  quick.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
});

const PING = { vertical: 'auto', geo: { country: 'US' } };
const postedTo = (p: PartnerSimulator, leadId: string) => p.received.filter((l) => l.subid === leadId);

async function pingThenPost(contact: Record<string, string>) {
  const ping = await postJson(`${stack.baseUrl}/ping`, PING, KEY);
  expect(ping.status).toBe(200);
  const pingId = ping.body.pingId as string;
  const post = await postJson(`${stack.baseUrl}/leads`, { ...PING, contact, pingId }, KEY);
  return { pingId, post };
}

/** A lead posted whole, sold to acme (the highest bid). */
async function soldToAcme(contact: Record<string, string>): Promise<string> {
  const first = await postJson(`${stack.baseUrl}/leads`, { ...PING, contact }, KEY);
  expect(first.status).toBe(202);
  const leadId = first.body.leadId as string;
  await leadReaches(stack, leadId, 'accepted', KEY);
  expect(postedTo(acme, leadId)).toHaveLength(1);
  return leadId;
}

test('action reject: the post of a pinged lead whose person came before is 409 duplicate_lead naming the earlier lead; nobody gets it', async () => {
  const earlier = await soldToAcme({ email: 'Pat.Pinged@example.com' });
  // Spelled otherwise, the same person.
  const { pingId, post } = await pingThenPost({ email: ' pat.pinged@EXAMPLE.com' });
  expect(post.status).toBe(409);
  const error = post.body.error as { code: string; message: string };
  expect(error.code).toBe('duplicate_lead');
  expect(error.message).toContain(earlier);
  // The full lead was not taken in: its contact data is not stored, and no buyer gets it.
  expect((await Lead.findById(pingId, { contact: 1 }).lean())?.contact).toBeUndefined();
  expect([...postedTo(acme, pingId), ...postedTo(bravo, pingId)]).toHaveLength(0);
});

test('action flag: the pinged lead is taken in and marked; the buyer that bought the person is passed over (duplicate), the next bid takes it', async () => {
  const earlier = await soldToAcme({ phone: '+1 415 555 0177' });
  stack.useConfig(config('flag'));
  const { pingId, post } = await pingThenPost({ phone: '(415) 555-0177' });
  expect(post.status).toBe(202);
  const lead = await leadReaches(stack, pingId, 'accepted', KEY);
  expect(lead).toMatchObject({ partnerId: 'bravo', payout: '7.50' });
  expect(postedTo(acme, pingId)).toHaveLength(0);
  expect(postedTo(bravo, pingId)).toHaveLength(1);
  expect((await Lead.findById(pingId, { duplicateOf: 1 }).lean())?.duplicateOf).toBe(earlier);
});

test('a suppressed person is posted to no bidder: the lead fails saying why', async () => {
  const suppress = await postJson(
    `${stack.baseUrl}/admin/suppressions`,
    { email: ['never.me@example.com'] },
    { 'x-api-key': ADMIN_KEY },
  );
  expect(suppress.status).toBe(200);
  const { pingId, post } = await pingThenPost({ email: 'Never.Me@example.com' });
  expect(post.status).toBe(202);
  const lead = await leadReaches(stack, pingId, 'failed', KEY);
  const failed = (lead.history as { status: string; reason: string }[]).find((h) => h.status === 'failed');
  expect(failed?.reason).toBe(
    'no bidder took the lead (quick: not buying; acme: suppressed; bravo: suppressed)',
  );
  expect([...postedTo(acme, pingId), ...postedTo(bravo, pingId)]).toHaveLength(0);
});

test('a post refused because its ping lapsed holds no claim on the person: the lead posted whole after it is no duplicate', async () => {
  acme.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  bravo.setPingBehavior(() => ({ bid: null, reason: 'not buying' }));
  quick.setPingBehavior(() => ({ bid: '5.00' }));
  const ping = await postJson(`${stack.baseUrl}/ping`, PING, KEY);
  const pingId = ping.body.pingId as string;
  // The reservation lapses in the run, which then fails the lead: wait for that, not for a clock.
  await leadReaches(stack, pingId, 'failed', KEY);
  const contact = { email: 'late.poster@example.com' };
  const late = await postJson(`${stack.baseUrl}/leads`, { ...PING, contact, pingId }, KEY);
  expect(late.status).toBe(409);
  expect((late.body.error as { code: string }).code).toBe('conflict');
  const whole = await postJson(`${stack.baseUrl}/leads`, { ...PING, contact }, KEY);
  expect(whole.status).toBe(202);
});
