// Revenue and reports end to end: a known set of leads (accepted with and without a payout, rejected, expired,
// failed, one returned) gives known counts, acceptance rates and revenue per source and per partner, exact to
// the cent, whether the hours are read live or from the pre-aggregated buckets.
import { startPartnerSimulator, type PartnerSimulator } from '../../apps/dev/simulators';
import { summaryReport } from '../../apps/gateway/reports';
import { ReportBucket } from '../../shared/models';
import { ADMIN_KEY, eventually, getJson, postJson, startStack, type Stack } from '../support/stack';

const ADMIN = { 'x-api-key': ADMIN_KEY };
const SRC1 = { 'x-api-key': 'key-src-1-abcdef' };
const SRC2 = { 'x-api-key': 'key-src-2-abcdef' };
let stack: Stack;
let partners: PartnerSimulator;
let windowFrom: string;
let windowTo: string;
/** A moment between the first two leads' verdicts and the others. */
let midpoint: string;

const partner = (id: string, vertical: string, timeout: string, payout?: number) => ({
  id,
  delivery: { url: `${partners.url}/leads`, timeoutMs: 5000, maxAttempts: 3 },
  postback: { token: `${id}-token-123`, timeout },
  routing: { filters: { vertical: [vertical] } },
  ...(payout === undefined ? {} : { payout }),
});

async function lead(key: Record<string, string>, vertical: string): Promise<string> {
  const r = await postJson(`${stack.baseUrl}/leads`, { vertical }, key);
  expect(r.status).toBe(202);
  return r.body.leadId as string;
}

async function statusOf(leadId: string, status: string): Promise<void> {
  await eventually(
    async () =>
      (await getJson(`${stack.baseUrl}/leads/${leadId}`, ADMIN)).body.status === status ? true : undefined,
    60_000,
    `${leadId} ${status}`,
  );
}

async function postback(partnerId: string, leadId: string, status: string, payout?: string): Promise<void> {
  const q = new URLSearchParams({
    subid: leadId,
    status,
    token: `${partnerId}-token-123`,
    ...(payout ? { payout } : {}),
  });
  const r = await getJson(`${stack.baseUrl}/postback/${partnerId}?${q}`);
  expect(r.status).toBe(200);
}

const counts = (c: Partial<Record<string, number>>) => ({
  received: 0,
  pending: 0,
  accepted: 0,
  rejected: 0,
  expired: 0,
  failed: 0,
  returned: 0,
  ...c,
});

beforeAll(async () => {
  partners = await startPartnerSimulator();
  stack = await startStack({
    config: {
      partners: [
        partner('acme', 'auto', '1h', 12.5),
        partner('bolt', 'home', '1h', 9),
        partner('slow', 'slow', '2s'), // never posts back: its leads expire
      ],
      sources: [
        { id: 'src-1', apiKey: 'key-src-1-abcdef' },
        { id: 'src-2', apiKey: 'key-src-2-abcdef' },
      ],
    },
  });
  windowFrom = new Date(Date.now() - 1000).toISOString();

  const [a1, a2, s1] = [await lead(SRC1, 'auto'), await lead(SRC1, 'auto'), await lead(SRC1, 'slow')];
  await statusOf(a1, 'pending');
  await statusOf(a2, 'pending');
  await postback('acme', a1, 'approved', '20.50'); // explicit payout
  await postback('acme', a2, 'approved'); // acme's default, 12.50
  await statusOf(a1, 'accepted');
  await statusOf(a2, 'accepted');
  midpoint = new Date().toISOString();

  const [h1, h2, none] = [await lead(SRC2, 'home'), await lead(SRC2, 'home'), await lead(SRC2, 'boats')];
  await statusOf(h1, 'pending');
  await statusOf(h2, 'pending');
  await postback('bolt', h1, 'approved', '7.25');
  await postback('bolt', h2, 'declined');
  await statusOf(h1, 'accepted');
  await postback('bolt', h1, 'chargeback'); // returned: reverses the 7.25
  await statusOf(h1, 'returned');
  await statusOf(h2, 'rejected');
  await statusOf(none, 'failed');
  await statusOf(s1, 'expired');
  windowTo = new Date(Date.now() + 1000).toISOString();
}, 180_000);

afterAll(async () => {
  await stack?.stop();
  await partners?.stop();
});

const report = async (query: string) => getJson(`${stack.baseUrl}/reports/summary?${query}`, ADMIN);

test('per source: counts per status, acceptance rate and revenue (accepted minus returned), in exact cents', async () => {
  const r = await report(`from=${windowFrom}&to=${windowTo}&groupBy=source`);
  expect(r.status).toBe(200);
  expect(r.body.rows).toEqual([
    {
      group: 'src-1',
      counts: counts({ received: 3, pending: 3, accepted: 2, expired: 1 }),
      acceptanceRate: 0.6667,
      revenue: '33.00',
      currency: 'USD',
    },
    {
      group: 'src-2',
      counts: counts({ received: 3, pending: 2, accepted: 1, rejected: 1, failed: 1, returned: 1 }),
      acceptanceRate: 0.5,
      revenue: '0.00',
      currency: 'USD',
    },
  ]);
});

test('per partner', async () => {
  const r = await report(`from=${windowFrom}&to=${windowTo}&groupBy=partner`);
  expect(r.status).toBe(200);
  expect(r.body.rows).toEqual([
    {
      group: '(none)',
      counts: counts({ received: 6, failed: 1 }),
      acceptanceRate: 0,
      revenue: '0.00',
      currency: 'USD',
    },
    {
      group: 'acme',
      counts: counts({ pending: 2, accepted: 2 }),
      acceptanceRate: 1,
      revenue: '33.00',
      currency: 'USD',
    },
    {
      group: 'bolt',
      counts: counts({ pending: 2, accepted: 1, rejected: 1, returned: 1 }),
      acceptanceRate: 0.5,
      revenue: '0.00',
      currency: 'USD',
    },
    {
      group: 'slow',
      counts: counts({ pending: 1, expired: 1 }),
      acceptanceRate: 0,
      revenue: '0.00',
      currency: 'USD',
    },
  ]);
});

test('by event time: a window ending before the second batch holds only the first', async () => {
  const r = await report(`from=${windowFrom}&to=${midpoint}&groupBy=partner`);
  const acme = (r.body.rows as { group: string; revenue: string; counts: Record<string, number> }[]).find(
    (x) => x.group === 'acme',
  );
  expect(acme).toMatchObject({ revenue: '33.00', counts: counts({ pending: 2, accepted: 2 }) });
  expect((r.body.rows as { group: string }[]).map((x) => x.group)).not.toContain('bolt');
  const empty = await report(`from=2020-01-01&to=2020-01-02`);
  expect(empty).toEqual({
    status: 200,
    body: { from: '2020-01-01T00:00:00.000Z', to: '2020-01-02T00:00:00.000Z', groupBy: 'source', rows: [] },
  });
});

test('bad windows are 400 with the offending parameter named; reports need the admin key', async () => {
  const bad = async (query: string, path: string) => {
    const r = await report(query);
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({
      code: 'invalid_request',
      issues: [expect.objectContaining({ path })],
    });
  };
  await bad('from=yesterday', 'from');
  await bad('to=2026-13-45', 'to');
  await bad('from=2026-11-02&to=2026-11-01', 'from');
  await bad('from=2020-01-01&to=2026-01-01', 'to');
  await bad('groupBy=country', 'groupBy');
  await bad('from=2026-11-01&limit=5', '(root)');
  expect((await getJson(`${stack.baseUrl}/reports/summary`, SRC1)).status).toBe(403);
  expect((await getJson(`${stack.baseUrl}/reports/summary`)).status).toBe(401);
});

test('the same numbers from the hourly buckets as from live aggregation, whole window or split anywhere', async () => {
  // Three hours from now every hour of these events is closed, so the report reads buckets only.
  const later = new Date(Date.now() + 3 * 3_600_000);
  for (const groupBy of ['source', 'partner'] as const) {
    for (const [from, to] of [
      [windowFrom, windowTo],
      [windowFrom, midpoint],
      [midpoint, windowTo],
    ] as const) {
      const live = await summaryReport({ from, to, groupBy }, new Date(), { useBuckets: false });
      const bucketed = await summaryReport({ from, to, groupBy }, later);
      expect(bucketed).toEqual(live);
    }
  }
  expect(await ReportBucket.countDocuments({ groupBy: 'source' })).toBeGreaterThan(0);
  const viaHttp = await report(`from=${windowFrom}&to=${windowTo}&groupBy=source`);
  expect(await summaryReport({ from: windowFrom, to: windowTo, groupBy: 'source' }, later)).toEqual(
    viaHttp.body,
  );
});

test('buckets over many hours and days: any window, built incrementally, matches live aggregation', async () => {
  // Synthetic events one to three days ahead, after the leads above, so they extend the running totals.
  const base = Date.now() + 86_400_000;
  const span = 2 * 86_400_000;
  let seed = 7;
  const random = () => (seed = (seed * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648;
  const pick = <T>(list: readonly T[]) => list[Math.floor(random() * list.length)] as T;
  const statuses = ['received', 'pending', 'accepted', 'rejected', 'expired', 'returned'] as const;
  const events = Array.from({ length: 400 }, (_, i) => {
    const status = pick(statuses);
    const cents =
      status === 'accepted' ? 100 + Math.floor(random() * 5000) : status === 'returned' ? -250 : 0;
    return {
      _id: `synthetic-${i}:1`,
      leadId: `synthetic-${i}`,
      sourceId: pick(['src-1', 'src-2', 'src-3']),
      partnerId: status === 'received' ? undefined : pick(['acme', 'bolt']),
      status,
      at: new Date(base + Math.floor(random() * span)),
      revenueDeltaCents: cents,
    };
  });
  const { StatusEvent } = await import('../../shared/models');
  await StatusEvent.insertMany(events);

  const windows = Array.from({ length: 12 }, () => {
    const a = base - 3_600_000 + Math.floor(random() * (span + 2 * 3_600_000));
    const b = base - 3_600_000 + Math.floor(random() * (span + 2 * 3_600_000));
    return [new Date(Math.min(a, b)).toISOString(), new Date(Math.max(a, b)).toISOString()] as const;
  });
  windows.push([new Date(base).toISOString(), new Date(base + span).toISOString()]);
  // First with a clock in the middle of the events (part buckets, part live), then after all of them.
  for (const now of [new Date(base + span / 2), new Date(base + span + 86_400_000)]) {
    for (const groupBy of ['source', 'partner'] as const) {
      for (const [from, to] of windows) {
        const live = await summaryReport({ from, to, groupBy }, now, { useBuckets: false });
        expect(await summaryReport({ from, to, groupBy }, now)).toEqual(live);
      }
    }
  }
  const whole = await summaryReport(
    { from: new Date(base).toISOString(), to: new Date(base + span).toISOString(), groupBy: 'source' },
    new Date(base + 2 * span),
  );
  const accepted = events.filter((e) => e.status === 'accepted').length;
  expect(whole.rows.reduce((n, r) => n + (r.counts.accepted ?? 0), 0)).toBe(accepted);
  const cents = events.reduce((sum, e) => sum + e.revenueDeltaCents, 0);
  const total = whole.rows.reduce((sum, r) => sum + Math.round(Number(r.revenue) * 100), 0);
  expect(total).toBe(cents);
});
