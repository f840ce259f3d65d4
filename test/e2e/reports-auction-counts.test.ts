// Two auction facts the reports count, end to end: a pinged lead flagged a duplicate when its full lead comes in
// (its `received` event was written at the ping, before the person was known) counts in `duplicates`, and a
// winning bidder whose post fails on transport through its last attempt counts in `postsRefused`, as one that
// answers no does. Over HTTP, and the same from the hourly buckets and from the logs.
import net from 'node:net';
import { Delivery, Lead } from '../../shared/models';
import { keepReportHouse, performanceReport, RecentStatusEvent, summaryReport } from '../../shared/reports';
import { bidderPartner } from '../support/bidders';
import { useStack } from '../support/e2e';
import { ADMIN_KEY, getJson, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const ADMIN = { 'x-api-key': ADMIN_KEY };
const LEAD = { vertical: 'auto', geo: { country: 'US', state: 'TX' } };
const CONTACT = { email: 'pat.twice@example.com' };

// A port nobody listens on: acme's posts are refused by the network, every attempt.
let deadUrl = '';
beforeAll(async () => {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  deadUrl = `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
  await new Promise((resolve) => server.close(resolve));
});

const { stack, acme, bravo } = useStack({
  partners: { acme: {}, bravo: {} },
  source: false,
  config: ({ acme, bravo }) => {
    const dead = bidderPartner('acme', acme.url);
    return {
      settings: {
        duplicates: { secret: 'reports-auction-counts-0123456789', window: '30d', action: 'flag' },
      },
      partners: [
        { ...dead, delivery: { ...dead.delivery, url: `${deadUrl}/leads`, maxAttempts: 2 } },
        bidderPartner('bravo', bravo.url),
      ],
      sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
      routing: { auction: { timeoutMs: 10_000 } },
    };
  },
});

let window: { from: string; to: string };
let first = '';
let pinged = '';
/** What the gateway had written when the pinged lead's run took its post: from then on the run is its only writer. */
let atHandover: { duplicateAt?: Date; marked: boolean } | undefined;

beforeAll(async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  bravo.setPingBehavior(() => ({ bid: '7.50' }));
  bravo.setBehavior(() => ({ body: { status: 'accepted' } }));
  // What the gateway's housekeeping does at start: from now on recent_status_events holds every mark written.
  await keepReportHouse(new Date());
  const from = new Date(Date.now() - 1000).toISOString();
  // Posted whole: acme's 9.00 wins, its post fails twice on transport, bravo's 7.50 takes the lead.
  const whole = await postJson(`${stack.baseUrl}/leads`, { ...LEAD, contact: CONTACT }, SOURCE_KEY);
  expect(whole.status).toBe(202);
  first = whole.body.leadId as string;
  expect(await leadReaches(stack, first, 'accepted', SOURCE_KEY, 60_000)).toMatchObject({
    partnerId: 'bravo',
  });
  // The same person pinged, then posted: flagged a duplicate of the first at the post, and sold the same way.
  const ping = await postJson(`${stack.baseUrl}/ping`, LEAD, SOURCE_KEY);
  expect(ping.body).toMatchObject({ bid: '9.00' });
  pinged = ping.body.pingId as string;
  const handOver = stack.temporal.postPinged.bind(stack.temporal);
  stack.temporal.postPinged = async (leadId, post) => {
    await handOver(leadId, post);
    const lead = await Lead.findById(leadId, { duplicateAt: 1 }).lean();
    const mark = await RecentStatusEvent.exists({ _id: `mark:duplicate:${leadId}` });
    atHandover = { duplicateAt: lead?.duplicateAt ?? undefined, marked: mark !== null };
  };
  const post = await postJson(
    `${stack.baseUrl}/leads`,
    { ...LEAD, contact: CONTACT, pingId: pinged },
    SOURCE_KEY,
  );
  expect(post.status).toBe(202);
  expect(await leadReaches(stack, pinged, 'accepted', SOURCE_KEY, 60_000)).toMatchObject({
    partnerId: 'bravo',
  });
  window = { from, to: new Date(Date.now() + 1000).toISOString() };
}, 180_000);

const byGroup = <T extends { group: string }>(rows: T[]) => Object.fromEntries(rows.map((r) => [r.group, r]));

test('the pinged lead is flagged at its post, and its duplicate is counted for its source', async () => {
  expect((await Lead.findById(pinged, { duplicateOf: 1 }).lean())?.duplicateOf).toBe(first);
  const r = await getJson(`${stack.baseUrl}/reports/sources?from=${window.from}&to=${window.to}`, ADMIN);
  expect(r.status).toBe(200);
  const rows = byGroup(r.body.rows as { group: string }[]);
  expect(rows['src-1']).toMatchObject({ accepted: 2, duplicates: 1 });
  const partners = await getJson(
    `${stack.baseUrl}/reports/partners?from=${window.from}&to=${window.to}`,
    ADMIN,
  );
  // On partner rows a lead's duplicate is under (none), as for a lead posted whole.
  expect(byGroup(partners.body.rows as { group: string }[])['(none)']).toMatchObject({ duplicates: 1 });
});

test('the gateway writes the flag on the pinged lead before its run takes the post, never beside the run', async () => {
  // The run writes the lead as soon as it has the post (offered, then each status). A write of the gateway's after
  // that could race the run's: on a server that updates a document by reading and replacing it (FerretDB), one of
  // the two is lost.
  const lead = await Lead.findById(pinged, { duplicateAt: 1 }).lean();
  expect(lead?.duplicateAt).toBeInstanceOf(Date);
  expect(atHandover).toEqual({ duplicateAt: lead?.duplicateAt, marked: true });
});

test('a winning post that failed on transport through its last attempt is a post refused after winning', async () => {
  // One log line per attempt; only the last is marked so, and counted once.
  const attempts = await Delivery.find(
    { leadId: first, partnerId: 'acme' },
    { attempt: 1, outcome: 1, lastAttempt: 1 },
  )
    .sort({ attempt: 1 })
    .lean();
  expect(attempts.map((a) => [a.attempt, a.outcome, a.lastAttempt ?? false])).toEqual([
    [1, 'error', false],
    [2, 'error', true],
  ]);
  const auction = { pings: 2, bids: 2, wins: 2, winRate: 1, postsRefused: 2 };
  const r = await getJson(`${stack.baseUrl}/reports/partners?from=${window.from}&to=${window.to}`, ADMIN);
  const rows = byGroup(r.body.rows as { group: string; auction?: unknown }[]);
  expect(rows.acme?.auction).toMatchObject(auction);
  expect(rows.bravo?.auction).toMatchObject({ wins: 2, postsRefused: 0 });
  const q = `from=${window.from}&to=${window.to}&groupBy=partner`;
  const summary = await getJson(`${stack.baseUrl}/reports/summary?${q}`, ADMIN);
  expect(byGroup(summary.body.rows as { group: string; auction?: unknown }[]).acme?.auction).toMatchObject(
    auction,
  );
});

test('the same counts from the hourly buckets and from the logs', async () => {
  const later = new Date(Date.now() + 3 * 3_600_000);
  for (const groupBy of ['partner', 'source'] as const) {
    const viaHttp = await getJson(
      `${stack.baseUrl}/reports/${groupBy}s?from=${window.from}&to=${window.to}`,
      ADMIN,
    );
    expect(await performanceReport(groupBy, window, new Date(), { useBuckets: false })).toEqual(viaHttp.body);
    expect(await performanceReport(groupBy, window, later)).toEqual(viaHttp.body);
    const live = await summaryReport({ ...window, groupBy }, new Date(), { useBuckets: false });
    expect(await summaryReport({ ...window, groupBy }, later)).toEqual(live);
  }
});
