// Revenue and reports end to end: a known set of leads (accepted with and without a payout, rejected, expired,
// failed, one returned) gives known counts, acceptance rates and revenue per source and per partner, exact to
// the cent, whether the hours are read from status_events, from the pre-aggregated buckets or, for the open part
// of a window, from recent_status_events; and that copy stays right across hour edges, prunes, late writes and
// retried writes.
import { undiciHttp } from '../../activities/http';
import { leadActivities } from '../../activities/leads';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createLogger } from '../../shared/logger';
import { Lead, StatusEvent } from '../../shared/models';
import {
  BUCKET_GRACE_MS,
  insertStatusEvent,
  keepRecentStatusEvents,
  keepReportHouse,
  RECENT_MARGIN_MS,
  RecentStatusEvent,
  recentCopy,
  performanceReport,
  ReportBucket,
  summaryReport,
} from '../../shared/reports';
import { LATENCY_BOUNDS_MS } from '../../shared/reports/tally';
import { useStack } from '../support/e2e';
import { ADMIN_KEY, adminCli, getJson, leadReaches, postJson } from '../support/stack';

const ADMIN = { 'x-api-key': ADMIN_KEY };
const SRC1 = { 'x-api-key': 'key-src-1-abcdef' };
const SRC2 = { 'x-api-key': 'key-src-2-abcdef' };
const SRC3 = { 'x-api-key': 'key-src-3-abcdef' };
const SRC4 = { 'x-api-key': 'key-src-4-abcdef' };
let windowFrom: string;
let windowTo: string;
/** A moment between the first two leads' verdicts and the others. */
let midpoint: string;

const partner = (
  id: string,
  vertical: string,
  timeout: string,
  payout?: number,
): Record<string, unknown> => ({
  id,
  delivery: { url: `${partners.url}/leads`, timeoutMs: 5000, maxAttempts: 3 },
  postback: { token: `${id}-token-123`, timeout },
  routing: { filters: { vertical: [vertical] } },
  ...(payout === undefined ? {} : { payout }),
});

async function lead(key: Record<string, string>, input: string | Record<string, unknown>): Promise<string> {
  const r = await postJson(
    `${stack.baseUrl}/leads`,
    typeof input === 'string' ? { vertical: input } : input,
    key,
  );
  expect(r.status).toBe(202);
  return r.body.leadId as string;
}

async function statusOf(leadId: string, status: string): Promise<void> {
  await leadReaches(stack, leadId, status, ADMIN, 60_000);
}

async function postback(
  partnerId: string,
  leadId: string,
  status: string,
  payout?: string,
  currency?: string,
): Promise<void> {
  const q = new URLSearchParams({
    subid: leadId,
    status,
    token: `${partnerId}-token-123`,
    ...(payout ? { payout } : {}),
    ...(currency ? { currency } : {}),
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

const { stack, partners } = useStack({
  partners: { partners: {} },
  source: false,
  config: () => ({
    // Only leads with contact details have an identity: the others are never flagged.
    settings: { duplicates: { secret: 'reports-duplicates-secret-0123', window: '30d', action: 'flag' } },
    partners: [
      partner('acme', 'auto', '1h', 12.5),
      partner('bolt', 'home', '1h', 9),
      partner('slow', 'slow', '2s'), // never posts back: its leads expire
    ],
    sources: [
      { id: 'src-1', apiKey: 'key-src-1-abcdef' },
      { id: 'src-2', apiKey: 'key-src-2-abcdef' },
      { id: 'src-3', apiKey: 'key-src-3-abcdef' },
      { id: 'src-4', apiKey: 'key-src-4-abcdef' },
    ],
  }),
});

beforeAll(async () => {
  // What the gateway's housekeeping does at start: from now on recent_status_events holds every status written.
  await keepReportHouse(new Date());
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

const report = async (query: string) => getJson(`${stack.baseUrl}/reports/summary?${query}`, ADMIN);

/**
 * A summary row, exactly; a USD revenue stands in revenueByCurrency and, as the row's one currency, in revenue
 * and currency.
 */
const summaryRow = (
  group: string,
  byStatus: Partial<Record<string, number>>,
  acceptanceRate: number,
  usd?: string,
) => ({
  group,
  counts: counts(byStatus),
  acceptanceRate,
  ...(usd === undefined
    ? { revenueByCurrency: {} }
    : { revenueByCurrency: { USD: usd }, revenue: usd, currency: 'USD' }),
});

test('per source: counts per status, acceptance rate and revenue (accepted minus returned), in exact cents', async () => {
  const r = await report(`from=${windowFrom}&to=${windowTo}&groupBy=source`);
  expect(r.status).toBe(200);
  expect(r.body.rows).toEqual([
    summaryRow('src-1', { received: 3, pending: 3, accepted: 2, expired: 1 }, 0.6667, '33.00'),
    summaryRow(
      'src-2',
      { received: 3, pending: 2, accepted: 1, rejected: 1, failed: 1, returned: 1 },
      0.5,
      '0.00',
    ),
  ]);
});

test('per partner', async () => {
  const r = await report(`from=${windowFrom}&to=${windowTo}&groupBy=partner`);
  expect(r.status).toBe(200);
  expect(r.body.rows).toEqual([
    summaryRow('(none)', { received: 6, failed: 1 }, 0),
    summaryRow('acme', { pending: 2, accepted: 2 }, 1, '33.00'),
    summaryRow('bolt', { pending: 2, accepted: 1, rejected: 1, returned: 1 }, 0.5, '0.00'),
    summaryRow('slow', { pending: 1, expired: 1 }, 0),
  ]);
});

test('by recorded time: a window ending before the second batch holds only the first', async () => {
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

test('every status written, at intake and by the workflow, has its recent copy with the same recorded time', async () => {
  const events = await StatusEvent.find({}, { at: 1, recordedAt: 1 }).sort({ _id: 1 }).lean();
  // Beside them, the marks of the delivery log (leads offered): reports-auction.test.ts counts those.
  const copies = await RecentStatusEvent.find(
    { row: { $exists: true }, _id: { $not: /^mark:/ } },
    { recordedAt: 1 },
  )
    .sort({ _id: 1 })
    .lean();
  expect(events).toHaveLength(18);
  expect(copies.map((c) => [c._id, c.recordedAt])).toEqual(events.map((e) => [e._id, e.recordedAt]));
  for (const e of events) {
    // Written by the activity right after the workflow decided it.
    expect((e.recordedAt as Date).getTime() - e.at.getTime()).toBeGreaterThanOrEqual(0);
    expect((e.recordedAt as Date).getTime() - e.at.getTime()).toBeLessThan(10_000);
  }
  // The window reaches into the open hour: that part came from the copies, and matches status_events.
  for (const groupBy of ['source', 'partner'] as const) {
    const q = { from: windowFrom, to: windowTo, groupBy };
    expect(await summaryReport(q, new Date())).toEqual(
      await summaryReport(q, new Date(), { useBuckets: false }),
    );
  }
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

test('partner and source performance: statuses, rates, revenue and EPL per currency; `leadrouter report` prints them', async () => {
  const window = `from=${windowFrom}&to=${windowTo}`;
  const partners = await getJson(`${stack.baseUrl}/reports/partners?${window}`, ADMIN);
  expect(partners.status).toBe(200);
  const byGroup = (rows: { group: string }[]) => Object.fromEntries(rows.map((r) => [r.group, r]));
  // A partner's row: its counts, its rates, its money.
  const { acme, bolt } = byGroup(partners.body.rows as { group: string }[]);
  expect(acme).toMatchObject({ offered: 2, delivered: 2, accepted: 2, rejected: 0, expired: 0, returned: 0 });
  expect(acme).toMatchObject({ acceptanceRate: 1, returnRate: 0 });
  expect(acme).toMatchObject({ revenueByCurrency: { USD: '33.00' }, eplByCurrency: { USD: '16.50' } });
  expect(bolt).toMatchObject({ offered: 2, delivered: 2, accepted: 1, rejected: 1, returned: 1 });
  expect(bolt).toMatchObject({ acceptanceRate: 0.5, returnRate: 1 });
  expect(bolt).toMatchObject({ revenueByCurrency: { USD: '0.00' }, eplByCurrency: { USD: '0.00' } });
  expect(byGroup(partners.body.rows as { group: string }[])).toMatchObject({
    slow: {
      offered: 1,
      delivered: 1,
      expired: 1,
      acceptanceRate: 0,
      revenueByCurrency: {},
      eplByCurrency: {},
    },
  });
  const sources = await getJson(`${stack.baseUrl}/reports/sources?${window}`, ADMIN);
  expect(byGroup(sources.body.rows as { group: string }[])).toMatchObject({
    'src-1': {
      offered: 3,
      accepted: 2,
      expired: 1,
      acceptanceRate: 0.6667,
      eplByCurrency: { USD: '11.00' },
    },
    'src-2': { accepted: 1, rejected: 1, failed: 1, returned: 1 },
  });
  expect((await getJson(`${stack.baseUrl}/reports/partners?groupBy=source`, ADMIN)).status).toBe(400);
  expect((await getJson(`${stack.baseUrl}/reports/sources`, SRC1)).status).toBe(403);

  const args = ['report', '--by', 'partner', '--from', windowFrom, '--to', windowTo];
  const { code, stdout, stderr } = await adminCli(stack, args);
  expect(code).toBe(0);
  const lines = (stdout + stderr).trimEnd().split('\n');
  expect(lines[1]).toMatch(
    /^partner +offered +delivered +accepted +rejected +expired +returned +failed +dupes +refused +exhausted +decide-p50 +decide-p95 +accept% +return% +revenue +EPL$/,
  );
  expect(lines.find((l) => l.startsWith('acme'))).toMatch(
    /^acme +2 +2 +2 +0 +0 +0 +0 +0 +0 +- +[\d.]+s +[\d.]+s +100\.0% +0\.0% +33\.00 USD +16\.50 USD$/,
  );
  expect(lines.find((l) => l.startsWith('slow'))).toMatch(
    /^slow +1 +1 +0 +0 +1 +0 +0 +0 +0 +- +- +- +0\.0% +0\.0% +- +-$/,
  );
});

test('per partner: time from delivery to the deciding postback, p50 and p95 from the latency buckets', async () => {
  const r = await getJson(`${stack.baseUrl}/reports/partners?from=${windowFrom}&to=${windowTo}`, ADMIN);
  const rows = r.body.rows as {
    group: string;
    decisions: number;
    decisionP50Ms: number | null;
    decisionP95Ms: number | null;
  }[];
  // acme: two approvals; bolt: an approval and a decline (the chargeback after it decides nothing); slow: none.
  expect(rows.find((x) => x.group === 'slow')).toMatchObject({ decisions: 0, decisionP50Ms: null });
  for (const partnerId of ['acme', 'bolt']) {
    const row = rows.find((x) => x.group === partnerId);
    expect(row?.decisions).toBe(2);
    // The true times, from the stored timestamps: the percentiles lie within the buckets that hold them.
    const decided = await StatusEvent.find({
      partnerId,
      postbackId: { $exists: true },
      status: { $in: ['accepted', 'rejected'] },
    }).lean();
    const leads = await Lead.find({ _id: { $in: decided.map((e) => e.leadId) } }).lean();
    const offered = new Map(leads.map((l) => [l._id, l.offeredAt?.getTime() ?? NaN]));
    const times = decided.map((e) => e.at.getTime() - (offered.get(e.leadId) ?? NaN)).sort((a, b) => a - b);
    const bucketOf = (ms: number) => LATENCY_BOUNDS_MS.findIndex((b) => ms < b);
    const max = times[times.length - 1] ?? NaN;
    expect(row?.decisionP95Ms).toBeLessThanOrEqual(LATENCY_BOUNDS_MS[bucketOf(max)] ?? NaN);
    expect(row?.decisionP50Ms).toBeGreaterThanOrEqual(0);
    expect(row?.decisionP50Ms).toBeLessThanOrEqual(row?.decisionP95Ms ?? NaN);
  }
});

test('a partner chart: accepted/rejected/expired per day as SVG, from the API and written by the CLI', async () => {
  const day = windowFrom.slice(0, 10);
  const from = new Date(Date.parse(windowFrom) - 86_400_000).toISOString();
  const r = await fetch(`${stack.baseUrl}/reports/partners/bolt/chart.svg?from=${from}&to=${windowTo}`, {
    headers: ADMIN,
  });
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toMatch(/^image\/svg\+xml/);
  const svg = await r.text();
  expect(svg).toContain(`<title>${day} accepted: 1</title>`);
  expect(svg).toContain(`<title>${day} rejected: 1</title>`);
  const bad = await fetch(`${stack.baseUrl}/reports/partners/bolt/chart.svg?from=2020-01-01&to=2026-01-01`, {
    headers: ADMIN,
  });
  expect(bad.status).toBe(400);

  const file = path.join(os.tmpdir(), `chart-${process.pid}.svg`);
  const args = ['report', '--chart', 'bolt', '--out', file, '--from', from, '--to', windowTo];
  expect((await adminCli(stack, args)).code).toBe(0);
  expect(fs.readFileSync(file, 'utf8')).toBe(svg);
  fs.rmSync(file);
});

test('money in two currencies is never added: revenue per currency, and the lead list names each amount', async () => {
  const from = new Date(Date.now() - 1000).toISOString();
  const [eur, usd] = [await lead(SRC3, 'auto'), await lead(SRC3, 'auto')];
  await statusOf(eur, 'pending');
  await statusOf(usd, 'pending');
  await postback('acme', eur, 'approved', '5.00', 'EUR');
  await postback('acme', usd, 'approved', '58.00'); // acme's own currency, USD
  await statusOf(eur, 'accepted');
  await statusOf(usd, 'accepted');
  const to = new Date(Date.now() + 1000).toISOString();
  for (const groupBy of ['source', 'partner'] as const) {
    const r = await report(`from=${from}&to=${to}&groupBy=${groupBy}`);
    const row = (r.body.rows as { group: string }[]).find(
      (x) => x.group === (groupBy === 'source' ? 'src-3' : 'acme'),
    );
    expect(row).toEqual({
      group: groupBy === 'source' ? 'src-3' : 'acme',
      counts: counts({ received: groupBy === 'source' ? 2 : 0, pending: 2, accepted: 2 }),
      acceptanceRate: 1,
      revenueByCurrency: { EUR: '5.00', USD: '58.00' },
    });
    // The same from the hourly buckets (three hours on, every hour of these events is closed).
    const later = new Date(Date.now() + 3 * 3_600_000);
    expect(await summaryReport({ from, to, groupBy }, later)).toEqual(r.body);
  }
  const list = await getJson(`${stack.baseUrl}/admin/leads?sourceId=src-3&from=${from}`, ADMIN);
  expect(
    (list.body.leads as { leadId: string; payout: string; currency: string }[])
      .map((l) => [l.leadId, l.payout, l.currency])
      .sort(),
  ).toEqual(
    [
      [eur, '5.00', 'EUR'],
      [usd, '58.00', 'USD'],
    ].sort(),
  );
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
      // Some leads flagged as duplicates at intake: the mark travels with the event through buckets and copies.
      ...(status === 'received' && i % 3 === 0 ? { duplicateOf: 'synthetic-0' } : {}),
      // Deciding postbacks with their time from delivery, over the whole range of latency buckets.
      ...(status === 'accepted' || status === 'rejected'
        ? { decisionMs: Math.floor(random() ** 4 * 10 * 86_400_000) }
        : {}),
    };
  });
  // Written the way the gateway and the workflow write them (event and recent copy), recorded at their event time.
  for (let i = 0; i < events.length; i += 50)
    await Promise.all(events.slice(i, i + 50).map((e) => insertStatusEvent(e, e.at)));

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
        const perf = await performanceReport(groupBy, { from, to }, now, { useBuckets: false });
        expect(await performanceReport(groupBy, { from, to }, now)).toEqual(perf);
      }
    }
  }
  const whole = await summaryReport(
    { from: new Date(base).toISOString(), to: new Date(base + span).toISOString(), groupBy: 'source' },
    new Date(base + 2 * span),
  );
  const accepted = events.filter((e) => e.status === 'accepted').length;
  const flagged = events.filter((e) => 'duplicateOf' in e).length;
  expect(flagged).toBeGreaterThan(0);
  const perfWhole = await performanceReport(
    'source',
    { from: new Date(base).toISOString(), to: new Date(base + span).toISOString() },
    new Date(base + 2 * span),
  );
  expect(perfWhole.rows.reduce((n, r) => n + r.duplicates, 0)).toBe(flagged);
  expect(perfWhole.rows.reduce((n, r) => n + r.decisions, 0)).toBe(
    events.filter((e) => 'decisionMs' in e).length,
  );
  expect(whole.rows.reduce((n, r) => n + (r.counts.accepted ?? 0), 0)).toBe(accepted);
  const cents = events.reduce((sum, e) => sum + e.revenueDeltaCents, 0);
  const total = whole.rows.reduce((sum, r) => sum + Math.round(Number(r.revenue) * 100), 0);
  expect(total).toBe(cents);
});

test('per source: leads flagged as duplicates, counted at intake (buckets: the test above)', async () => {
  const from = new Date(Date.now() - 1000).toISOString();
  const person = { vertical: 'boats', contact: { email: 'dee.double@example.com' } };
  const ids = [
    await lead(SRC4, person),
    await lead(SRC4, person), // flagged: the same person again
    await lead(SRC4, { ...person, contact: { email: 'someone.else@example.com' } }),
  ];
  for (const id of ids) await statusOf(id, 'failed'); // no partner takes boats
  const to = new Date(Date.now() + 1000).toISOString();
  const viaHttp = await getJson(`${stack.baseUrl}/reports/sources?from=${from}&to=${to}`, ADMIN);
  expect(viaHttp.status).toBe(200);
  const rows = viaHttp.body.rows as { group: string; duplicates: number }[];
  expect(rows.find((r) => r.group === 'src-4')).toMatchObject({ failed: 3, duplicates: 1 });
  const live = await performanceReport('source', { from, to }, new Date(), { useBuckets: false });
  expect(live).toEqual(viaHttp.body);
  // From the buckets: in the synthetic events of the test above.
});

test('per partner: postbacks refused in the window, by error code, from the postback log', async () => {
  const from = new Date(Date.now() - 1000).toISOString();
  const refused = async (partnerId: string, q: Record<string, string>) =>
    expect(
      (await getJson(`${stack.baseUrl}/postback/${partnerId}?${new URLSearchParams(q)}`)).status,
    ).toBeGreaterThanOrEqual(400);
  await refused('bolt', { subid: 'no-such-lead', status: 'approved', token: 'bolt-token-123' });
  await refused('bolt', { subid: 'no-such-lead-2', status: 'approved', token: 'bolt-token-123' });
  await refused('bolt', { subid: 'no-such-lead', status: 'approved', token: 'wrong-token-000' });
  await refused('slow', { subid: 'no-such-lead', status: 'approved', token: 'slow-token-123' });
  const to = new Date(Date.now() + 1000).toISOString();
  const r = await getJson(`${stack.baseUrl}/reports/partners?from=${from}&to=${to}`, ADMIN);
  expect(r.status).toBe(200);
  const rows = r.body.rows as { group: string; refusedByCode: Record<string, number> }[];
  const codes = await getJson(`${stack.baseUrl}/admin/postbacks/refusals?from=${from}&to=${to}`, ADMIN);
  const expected: Record<string, Record<string, number>> = {};
  for (const row of codes.body.rows as { partnerId: string; code: string; count: number }[])
    (expected[row.partnerId] ??= {})[row.code] = row.count;
  expect(Object.values(expected.bolt ?? {}).reduce((a, b) => a + b, 0)).toBe(3);
  expect(rows.find((x) => x.group === 'bolt')?.refusedByCode).toEqual(expected.bolt);
  expect(rows.find((x) => x.group === 'slow')?.refusedByCode).toEqual(expected.slow);
  expect(rows.find((x) => x.group === 'slow')).toMatchObject({ delivered: 0, accepted: 0 });
  expect(rows.find((x) => x.group === 'acme')).toBeUndefined();
});

describe('the open part of a window, from recent_status_events', () => {
  const HOUR = 3_600_000;
  const DAY = 86_400_000;
  const MINUTE = 60_000;
  // Ten days ahead, past the synthetic events above (their buckets are built four days out); each test takes a
  // day of its own, in order, because prunes and bucket builds only move forward.
  const region = (n: number) => Math.floor((Date.now() + (10 + n) * DAY) / HOUR) * HOUR;
  const at = (t: number) => new Date(t).toISOString();
  let serial = 0;

  /** One status event, written as the gateway and the workflow write them. */
  async function record(
    t: number,
    e: { sourceId: string; status: string; partnerId?: string; cents?: number },
    recordedAt = t,
  ): Promise<string> {
    const leadId = `recent-${++serial}`;
    await insertStatusEvent(
      {
        _id: `${leadId}:0`,
        leadId,
        sourceId: e.sourceId,
        partnerId: e.partnerId,
        status: e.status,
        at: new Date(t),
        revenueDeltaCents: e.cents ?? 0,
      },
      new Date(recordedAt),
    );
    return leadId;
  }

  /** The fast report (buckets and recent copy) equals one aggregation of status_events, window by window. */
  async function expectSameAsStatusEvents(
    now: number,
    windows: [from?: number, to?: number][],
  ): Promise<void> {
    for (const groupBy of ['source', 'partner'] as const) {
      for (const [from, to] of windows) {
        const q = {
          groupBy,
          ...(from === undefined ? {} : { from: at(from) }),
          ...(to === undefined ? {} : { to: at(to) }),
        };
        const fast = await summaryReport(q, new Date(now));
        expect({ q, report: fast }).toEqual({
          q,
          report: await summaryReport(q, new Date(now), { useBuckets: false }),
        });
      }
    }
  }

  const row = async (now: number, from: number, to: number, group: string) =>
    (await summaryReport({ from: at(from), to: at(to), groupBy: 'source' }, new Date(now))).rows.find(
      (r) => r.group === group,
    );

  test('the open part is counted from the recent copy; where the copy no longer reaches, from status_events', async () => {
    const r = region(0);
    for (const [dt, status] of [
      [HOUR + 2 * MINUTE, 'received'],
      [HOUR + 3 * MINUTE, 'pending'],
      [HOUR + 4 * MINUTE, 'rejected'],
    ] as const)
      await record(r + dt, { sourceId: 'live-a', partnerId: 'acme', status });
    // A copy without its status event: only a report reading the copy counts it.
    await RecentStatusEvent.create(
      recentCopy(
        { _id: 'probe:0', sourceId: 'probe', status: 'received', revenueDeltaCents: 0 },
        new Date(r + HOUR + 5 * MINUTE),
      ),
    );
    const now = r + HOUR + 20 * MINUTE;
    expect(await row(now, r, r + 2 * HOUR, 'probe')).toMatchObject({
      counts: expect.objectContaining({ received: 1 }),
    });
    expect(await row(now, r, r + 2 * HOUR, 'live-a')).toMatchObject({
      counts: expect.objectContaining({ received: 1, pending: 1, rejected: 1 }),
    });

    // Housekeeping hours later prunes the copy up to a point past this window: a report with the earlier clock
    // cannot trust the copy any more and reads status_events (no probe there).
    const kept = await keepRecentStatusEvents(r + 5 * HOUR);
    expect(kept.coversFrom).toBe(r + 5 * HOUR - RECENT_MARGIN_MS);
    expect(kept.pruned).toBeGreaterThanOrEqual(4);
    expect(await RecentStatusEvent.exists({ _id: 'probe:0' })).toBeNull();
    expect(await row(now, r, r + 2 * HOUR, 'probe')).toBeUndefined();
    expect(await row(now, r, r + 2 * HOUR, 'live-a')).toMatchObject({
      counts: expect.objectContaining({ received: 1, pending: 1, rejected: 1 }),
    });
    await expectSameAsStatusEvents(now, [
      [r, r + 2 * HOUR],
      [undefined, undefined],
    ]);
  });

  test('no event is counted twice or missed at the edge of the last closed hour', async () => {
    const r = region(1);
    const edge = r + HOUR;
    for (const t of [r + 30 * MINUTE, edge - 1, edge, edge + 1, edge + BUCKET_GRACE_MS - 1])
      await record(t, { sourceId: 'edge', partnerId: 'bolt', status: 'accepted', cents: 100 });
    // Before the grace is over the hour is still open (all live); after it, r's hour comes from a bucket.
    for (const now of [edge + BUCKET_GRACE_MS - 1, edge + BUCKET_GRACE_MS + MINUTE]) {
      await keepReportHouse(new Date(now));
      const count = async (from: number, to: number) =>
        (await row(now, from, to, 'edge'))?.counts.accepted ?? 0;
      expect(await count(r, edge + HOUR)).toBe(5);
      expect(await count(edge - 1, edge + 1)).toBe(2);
      expect(await count(r, edge)).toBe(2);
      expect(await count(edge, edge + HOUR)).toBe(3);
      expect((await row(now, r, edge + HOUR, 'edge'))?.revenue).toBe('5.00');
      await expectSameAsStatusEvents(now, [
        [r, edge + HOUR],
        [edge - 1, edge + 1],
        [r + 17_000, edge + 2 * MINUTE],
        [undefined, undefined],
      ]);
    }
    expect(await ReportBucket.exists({ _id: `h2:source:${at(r).slice(0, 13)}` })).not.toBeNull();
  });

  test('pruning keeps reports right, hour after hour and after housekeeping stopped for a while', async () => {
    const p = region(2);
    const sources = ['s-1', 's-2', 's-3'];
    const statuses = ['received', 'pending', 'accepted', 'rejected', 'returned'];
    const write = async (from: number, to: number) => {
      for (let t = from, i = 0; t < to; t += 10 * MINUTE, i++) {
        const status = statuses[i % statuses.length] as string;
        const cents = status === 'accepted' ? 100 * (i % 7) + 50 : status === 'returned' ? -75 : 0;
        await record(t, {
          sourceId: sources[i % 3] as string,
          partnerId: i % 4 ? 'acme' : undefined,
          status,
          cents,
        });
      }
    };
    await write(p, p + 8 * HOUR);
    // Housekeeping every hour: buckets of the hour just closed, the copy pruned behind them.
    for (let now = p + HOUR + 7 * MINUTE; now <= p + 8 * HOUR; now += HOUR) {
      const { coversFrom } = await keepReportHouse(new Date(now));
      expect(await RecentStatusEvent.countDocuments({ recordedAt: { $lt: new Date(coversFrom) } })).toBe(0);
      await expectSameAsStatusEvents(now, [
        [undefined, undefined],
        [p, now],
        [now - 90 * MINUTE, now],
        [p + 2 * HOUR + 17_000, p + 5 * HOUR + 3 * MINUTE],
      ]);
    }
    // Housekeeping stops for seven hours while events keep coming: the copy keeps them all, and the first
    // report builds the missing hours from it.
    await write(p + 8 * HOUR, p + 15 * HOUR);
    const late = p + 15 * HOUR + 10 * MINUTE;
    await expectSameAsStatusEvents(late, [
      [undefined, undefined],
      [p + 7 * HOUR, late],
      [p + HOUR + 5_000, p + 14 * HOUR + 59 * MINUTE],
    ]);
    await keepReportHouse(new Date(late));
    expect(await RecentStatusEvent.countDocuments({ recordedAt: { $lt: new Date(late - 4 * HOUR) } })).toBe(
      0,
    );
    await expectSameAsStatusEvents(late, [
      [undefined, undefined],
      [p + 13 * HOUR, late],
    ]);
    // A report whose clock lags behind the prune reads what the copy no longer has from status_events.
    await expectSameAsStatusEvents(p + 6 * HOUR + 30 * MINUTE, [
      [p + 5 * HOUR, p + 6 * HOUR + 30 * MINUTE],
      [undefined, undefined],
    ]);
  });

  test('a status written long after its event time counts when it was written, in a closed hour too', async () => {
    const l = region(3);
    const leadId = 'late-lead';
    await Lead.create({ _id: leadId, sourceId: 'late-src', status: 'pending', seq: 1 });
    await insertStatusEvent(
      { _id: `${leadId}:0`, leadId, sourceId: 'late-src', status: 'received', at: new Date(l + 5 * MINUTE) },
      new Date(l + 5 * MINUTE),
    );
    // The hour of the event is closed and its bucket built...
    await keepReportHouse(new Date(l + HOUR + 6 * MINUTE));
    // ...when the workflow's accepted status (decided at l+10min) reaches the database, at l+1h30, after an outage.
    const activities = leadActivities({
      config: () => stack.config,
      http: undiciHttp,
      logger: createLogger('test', 'silent'),
      now: () => new Date(l + HOUR + 30 * MINUTE),
    });
    await activities.recordStatus({
      leadId,
      seq: 2,
      status: 'accepted',
      at: at(l + 10 * MINUTE),
      reason: 'postback',
      partnerId: 'acme',
      payoutCents: 1500,
      revenueDeltaCents: 1500,
      currency: 'USD',
    });
    const now = l + 2 * HOUR + 6 * MINUTE;
    await keepReportHouse(new Date(now));
    expect(await row(now, l, l + 2 * HOUR, 'late-src')).toMatchObject({
      counts: expect.objectContaining({ received: 1, accepted: 1 }),
      revenue: '15.00',
    });
    expect((await row(now, l, l + HOUR, 'late-src'))?.counts.accepted).toBe(0);
    expect((await row(now, l + HOUR, l + 2 * HOUR, 'late-src'))?.counts.accepted).toBe(1);
    await expectSameAsStatusEvents(now, [
      [l, l + 2 * HOUR],
      [l + HOUR + 29 * MINUTE, l + HOUR + 31 * MINUTE],
    ]);
    // The lead's history keeps the time the workflow decided it.
    expect((await StatusEvent.findById(`${leadId}:2`).lean())?.at).toEqual(new Date(l + 10 * MINUTE));
  });

  test('a retried write counts once: an attempt stopped after the copy, a retry after the copy was pruned', async () => {
    const q = region(4);
    const event = (leadId: string, t: number) => ({
      _id: `${leadId}:1`,
      leadId,
      sourceId: 'retry-src',
      status: 'accepted',
      at: new Date(t),
      revenueDeltaCents: 900,
    });
    // The first attempt wrote the copy and stopped: the retry gives the event the copy's recorded time.
    await RecentStatusEvent.create(recentCopy(event('stopped', q + 20 * MINUTE), new Date(q + 20 * MINUTE)));
    expect(await insertStatusEvent(event('stopped', q + 20 * MINUTE), new Date(q + 21 * MINUTE))).toBe(true);
    expect((await StatusEvent.findById('stopped:1').lean())?.recordedAt).toEqual(new Date(q + 20 * MINUTE));

    expect(await insertStatusEvent(event('retried', q + 10 * MINUTE), new Date(q + 10 * MINUTE))).toBe(true);
    expect(await insertStatusEvent(event('retried', q + 10 * MINUTE), new Date(q + 12 * MINUTE))).toBe(false);
    await keepReportHouse(new Date(q + 5 * HOUR));
    expect(await RecentStatusEvent.exists({ _id: 'retried:1' })).toBeNull();
    // A retry hours later (the copy pruned): the new copy gets the event's old time back, below what is covered.
    expect(await insertStatusEvent(event('retried', q + 10 * MINUTE), new Date(q + 5 * HOUR))).toBe(false);
    expect((await RecentStatusEvent.findById('retried:1').lean())?.recordedAt).toEqual(
      new Date(q + 10 * MINUTE),
    );
    const now = q + 5 * HOUR + MINUTE;
    expect(await row(now, q, now, 'retry-src')).toMatchObject({
      counts: expect.objectContaining({ accepted: 2 }),
      revenue: '18.00',
    });
    await expectSameAsStatusEvents(now, [
      [q, now],
      [undefined, undefined],
    ]);
  });

  test('a database without the recent copy (the first run of this version) gets it from status_events', async () => {
    const u = region(5);
    // Events as the previous version wrote them: no recorded time, no copy.
    const legacy = [
      [u + 10 * MINUTE, 'accepted', 1234],
      [u + HOUR + 5 * MINUTE, 'accepted', 2000],
      [u + HOUR + 6 * MINUTE, 'returned', -2000],
      [u + 2 * HOUR + MINUTE, 'accepted', 777],
      [u + 2 * HOUR + 2 * MINUTE, 'rejected', 0],
    ] as const;
    await StatusEvent.insertMany(
      legacy.map(([t, status, cents], i) => ({
        _id: `legacy-${i}:1`,
        leadId: `legacy-${i}`,
        sourceId: 'legacy-src',
        partnerId: 'acme',
        status,
        at: new Date(t),
        revenueDeltaCents: cents,
      })),
    );
    await RecentStatusEvent.deleteMany({ coversFrom: { $exists: true } });
    const now = u + 2 * HOUR + 10 * MINUTE;
    // No marker: the open part comes from status_events.
    await expectSameAsStatusEvents(now, [
      [u, now],
      [undefined, undefined],
    ]);
    const kept = await keepReportHouse(new Date(now));
    expect(kept.coversFrom).toBe(u + 2 * HOUR - RECENT_MARGIN_MS);
    expect(
      (
        await RecentStatusEvent.find({ _id: /^legacy-/ }, { recordedAt: 1 })
          .sort({ _id: 1 })
          .lean()
      ).map((c) => c.recordedAt),
    ).toEqual(legacy.map(([t]) => new Date(t)));
    expect(await row(now, u, now, 'legacy-src')).toMatchObject({
      counts: expect.objectContaining({ accepted: 3, returned: 1, rejected: 1 }),
      revenue: '20.11',
    });
    expect((await row(now, u + 2 * HOUR, now, 'legacy-src'))?.revenue).toBe('7.77');
    await expectSameAsStatusEvents(now, [
      [u, now],
      [u + HOUR + 5 * MINUTE + 1, now],
      [undefined, undefined],
    ]);
  });

  test("recent copies written before rows carried a currency count in their status event's currency", async () => {
    const c = region(6);
    await record(c + 5 * MINUTE, { sourceId: 'copy-src', status: 'accepted', cents: 300 });
    const id = await record(c + 6 * MINUTE, { sourceId: 'copy-src', status: 'accepted', cents: 450 });
    await StatusEvent.updateOne({ _id: `${id}:0` }, { $set: { currency: 'EUR' } });
    // The copy as the previous version wrote it: [sourceId, partnerId, status, cents], no currency.
    await RecentStatusEvent.updateOne(
      { _id: `${id}:0` },
      { $set: { row: JSON.stringify(['copy-src', null, 'accepted', 450]) } },
    );
    const now = c + 20 * MINUTE;
    await keepReportHouse(new Date(now));
    expect(await row(now, c, now, 'copy-src')).toMatchObject({
      revenueByCurrency: { EUR: '4.50', USD: '3.00' },
    });
    await expectSameAsStatusEvents(now, [[c, now]]);
  });
});
