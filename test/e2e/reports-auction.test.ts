// Leads offered, EPL and the auctions' figures in the reports, end to end: three leads auctioned between two
// bidders (one bidding in a currency the auction refuses) with a fixed-payout partner behind them give exact
// pings, bids, wins, bid totals and averages per currency, posts refused after winning, leads offered and
// earnings per lead, over HTTP, in `leadrouter report`, and the same from the buckets and from the logs.
import { keepReportHouse, performanceReport, summaryReport } from '../../shared/reports';
import { auctionOf } from '../support/auction-figures';
import { useStack } from '../support/e2e';
import { bidderPartner } from '../support/bidders';
import { ADMIN_KEY, adminCli, getJson, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const ADMIN = { 'x-api-key': ADMIN_KEY };
let window: { from: string; to: string };

const stateOf = (body: Record<string, unknown>) => (body.geo as { state?: string } | undefined)?.state;

const { stack, acme, bravo, cola } = useStack({
  partners: { acme: {}, bravo: {}, cola: {} },
  source: false,
  config: ({ acme, bravo, cola }) => ({
    partners: [
      bidderPartner('acme', acme.url, { timeoutMs: 5000 }),
      bidderPartner('bravo', bravo.url, { timeoutMs: 5000 }),
      {
        id: 'cola',
        delivery: { url: `${cola.url}/leads`, timeoutMs: 5000, maxAttempts: 1 },
        response: { statusPath: 'status' },
        postback: { token: 'cola-token-123', timeout: '1h' },
        payout: 3,
        currency: 'EUR',
      },
    ],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
    routing: { auction: { timeoutMs: 10_000, floor: '1.00' } },
  }),
});

beforeAll(async () => {
  // TX: acme's 9.00 wins and acme refuses the post, bravo's 7.50 takes it.
  // CA: acme's 4.00 wins and is accepted; bravo's 6.00 EUR is a bid the USD auction refuses.
  // NY: acme does not bid, bravo's 0.50 is below the floor: the lead goes to cola at 3.00 EUR.
  acme.setPingBehavior(
    ({ body }) =>
      ({ TX: { bid: '9.00' }, CA: { bid: '4.00' } })[stateOf(body) ?? ''] ?? { bid: null, reason: 'no' },
  );
  bravo.setPingBehavior(({ body }) =>
    stateOf(body) === 'TX'
      ? { bid: '7.50' }
      : stateOf(body) === 'CA'
        ? { bid: '6.00', currency: 'EUR' }
        : { bid: '0.50' },
  );
  acme.setBehavior(({ body }) => ({ body: { status: stateOf(body) === 'TX' ? 'rejected' : 'accepted' } }));
  bravo.setBehavior(() => ({ body: { status: 'accepted' } }));
  cola.setBehavior(() => ({ body: { status: 'accepted' } }));

  // What the gateway's housekeeping does at start: from now on recent_status_events holds every mark written.
  await keepReportHouse(new Date());
  const from = new Date(Date.now() - 1000).toISOString();
  for (const [state, partnerId] of [
    ['TX', 'bravo'],
    ['CA', 'acme'],
    ['NY', 'cola'],
  ] as const) {
    const r = await postJson(
      `${stack.baseUrl}/leads`,
      { vertical: 'auto', geo: { country: 'US', state } },
      SOURCE_KEY,
    );
    expect(r.status).toBe(202);
    const lead = await leadReaches(stack, r.body.leadId as string, 'accepted', SOURCE_KEY, 60_000);
    expect(lead.partnerId).toBe(partnerId);
  }
  window = { from, to: new Date(Date.now() + 1000).toISOString() };
}, 180_000);

const byGroup = <T extends { group: string }>(rows: T[]) => Object.fromEntries(rows.map((r) => [r.group, r]));

const acmeAuction = auctionOf(
  { pings: 3, bids: 2, wins: 2, winRate: 1, postsRefused: 1 },
  { USD: ['13.00', '6.50'] },
);
const bravoAuction = auctionOf(
  { pings: 3, bids: 3, wins: 1, winRate: 0.3333, postsRefused: 0 },
  { EUR: ['6.00', '6.00'], USD: ['8.00', '4.00'] },
);

const sales = (
  offered: number,
  accepted: number,
  revenueByCurrency: Record<string, string>,
  eplByCurrency: Record<string, string>,
) => ({ offered, accepted, revenueByCurrency, eplByCurrency });

test('per partner: leads offered, EPL per lead offered, and the auctions, currencies apart', async () => {
  const r = await getJson(`${stack.baseUrl}/reports/partners?from=${window.from}&to=${window.to}`, ADMIN);
  expect(r.status).toBe(200);
  const rows = byGroup(r.body.rows as { group: string; auction?: unknown }[]);
  expect(rows.acme).toMatchObject({ ...sales(2, 1, { USD: '4.00' }, { USD: '2.00' }), auction: acmeAuction });
  expect(rows.bravo).toMatchObject({
    ...sales(1, 1, { USD: '7.50' }, { USD: '7.50' }),
    auction: bravoAuction,
  });
  expect(rows.cola).toMatchObject(sales(1, 1, { EUR: '3.00' }, { EUR: '3.00' }));
  expect(rows.cola?.auction).toBeUndefined();
});

test('per source: the offers of its leads, and EPL per lead received', async () => {
  const r = await getJson(`${stack.baseUrl}/reports/sources?from=${window.from}&to=${window.to}`, ADMIN);
  const row = byGroup(r.body.rows as { group: string; auction?: unknown }[])['src-1'];
  expect(row).toMatchObject({
    offered: 4,
    accepted: 3,
    revenueByCurrency: { EUR: '3.00', USD: '11.50' },
    // 11.50 over 3 leads: 3.8333, to the cent.
    eplByCurrency: { EUR: '1.00', USD: '3.83' },
  });
  expect(row?.auction).toBeUndefined();
});

test('/reports/summary by partner carries the auctions; by source it does not', async () => {
  const q = `from=${window.from}&to=${window.to}`;
  const byPartner = await getJson(`${stack.baseUrl}/reports/summary?${q}&groupBy=partner`, ADMIN);
  const rows = byGroup(byPartner.body.rows as { group: string; auction?: unknown }[]);
  expect(rows.acme?.auction).toEqual(acmeAuction);
  expect(rows.bravo?.auction).toEqual(bravoAuction);
  expect(rows.cola?.auction).toBeUndefined();
  // Bids are no revenue: acme's row holds only what it paid.
  expect(rows.acme).toMatchObject({ revenueByCurrency: { USD: '4.00' }, revenue: '4.00', currency: 'USD' });
  const bySource = await getJson(`${stack.baseUrl}/reports/summary?${q}&groupBy=source`, ADMIN);
  for (const row of bySource.body.rows as { auction?: unknown }[]) expect(row.auction).toBeUndefined();
});

test('the same figures from the hourly buckets and from the delivery and bid logs', async () => {
  // Three hours from now every hour of these events is closed: the reports read buckets only.
  const later = new Date(Date.now() + 3 * 3_600_000);
  const viaHttp = await getJson(
    `${stack.baseUrl}/reports/partners?from=${window.from}&to=${window.to}`,
    ADMIN,
  );
  const logged = await performanceReport('partner', window, new Date(), { useBuckets: false });
  expect(logged).toEqual(viaHttp.body);
  expect(await performanceReport('partner', window, later)).toEqual(viaHttp.body);
  for (const groupBy of ['partner', 'source'] as const) {
    const live = await summaryReport({ ...window, groupBy }, new Date(), { useBuckets: false });
    expect(await summaryReport({ ...window, groupBy }, later)).toEqual(live);
  }
});

test('`leadrouter report` prints leads offered and an auctions table', async () => {
  const args = ['report', '--by', 'partner', '--from', window.from, '--to', window.to];
  const { code, stdout } = await adminCli(stack, args);
  expect(code).toBe(0);
  const lines = stdout.trimEnd().split('\n');
  expect(lines[1]).toMatch(/^partner +offered +delivered +accepted /);
  expect(lines.find((l) => l.startsWith('cola'))).toMatch(/^cola +1 +0 +1 .* 3\.00 EUR +3\.00 EUR$/);
  const auctions = lines.slice(lines.indexOf('auctions') + 1);
  expect(auctions[0]).toMatch(/^partner +pings +bids +wins +win% +refused-posts +bid-total +bid-avg$/);
  expect(auctions.find((l) => l.startsWith('acme'))).toMatch(
    /^acme +3 +2 +2 +100\.0% +1 +13\.00 USD +6\.50 USD$/,
  );
  expect(auctions.find((l) => l.startsWith('bravo'))).toMatch(
    /^bravo +3 +3 +1 +33\.3% +0 +6\.00 EUR, 8\.00 USD +6\.00 EUR, 4\.00 USD$/,
  );
  expect(auctions.some((l) => l.startsWith('cola'))).toBe(false);
});
