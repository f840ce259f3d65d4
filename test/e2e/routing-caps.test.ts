// Caps under concurrency on the real dev server and Mongo-wire server: 200 leads posted at once against a
// daily cap of 50 never overshoot it, a slot taken by a delivery that failed is given back, and the day
// turns over at 00:00 UTC. The activities run on an injected clock, so no test straddles a real midnight.
import { CapSlot, Lead } from '../../shared/models';
import { useStack } from '../support/e2e';
import { postJson } from '../support/stack';

const KEY = { 'x-api-key': 'key-src-1-abcdef' };
const HOUR = 3_600_000;
/** The activities' clock: real time moved to 12:00 UTC today, plus what a test adds to reach another hour. */
const startedAt = Date.now();
const todayNoon = new Date(startedAt).setUTCHours(12, 0, 0, 0);
let shiftMs = 0;
const clock = () => new Date(todayNoon + (Date.now() - startedAt) + shiftMs);

function partner(id: string, url: string, routing: Record<string, unknown>) {
  return {
    id,
    // Generous: 200 leads at once on two shared cores can keep a loopback answer waiting past a few seconds.
    delivery: { url: `${url}/leads`, timeoutMs: 15000, maxAttempts: 5 },
    response: { statusPath: 'status' },
    postback: { token: `${id}-token-123`, timeout: '1h' },
    routing,
    payout: 5,
  };
}

const accept = () => ({ body: { status: 'accepted' } });
const { stack, capped, flaky, open } = useStack({
  partners: {
    capped: { behavior: accept },
    // flaky refuses leads marked to fail (HTTP 400: a rejection), takes the others.
    flaky: {
      behavior: (lead) =>
        (lead.body.data as { fail?: boolean } | undefined)?.fail
          ? { httpStatus: 400, body: { error: 'no' } }
          : accept(),
    },
    open: { behavior: accept },
  },
  config: ({ capped, flaky, open }) => ({
    partners: [
      partner('capped', capped.url, { priority: 1, dailyCap: 50, filters: { vertical: ['bulk'] } }),
      partner('flaky', flaky.url, { priority: 1, dailyCap: 3, filters: { vertical: ['flaky'] } }),
      partner('open', open.url, { priority: 9 }),
      partner('daily', capped.url, { priority: 1, dailyCap: 1, filters: { vertical: ['daily'] } }),
    ],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
  }),
  stack: { now: clock },
});

/** Waits until `n` leads of this vertical have a final status; polls once a second so the database serves the leads. */
async function finalLeads(vertical: string, n: number, timeoutMs = 240_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const leads = await Lead.find({ vertical }, { status: 1, partnerId: 1 }).lean();
    if (leads.length === n && leads.every((l) => l.status === 'accepted' || l.status === 'failed'))
      return leads;
    const final = leads.filter((l) => l.status === 'accepted' || l.status === 'failed').length;
    if (Date.now() > deadline) throw new Error(`timed out: ${final} of ${n} ${vertical} leads final`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

test('200 leads at once against a daily cap of 50: exactly 50 go to the capped partner, the rest on', async () => {
  const posted = await Promise.all(
    Array.from({ length: 200 }, (_, i) =>
      postJson(`${stack.baseUrl}/leads`, { clickId: `bulk-${i}`, vertical: 'bulk' }, KEY),
    ),
  );
  expect(posted.every((r) => r.status === 202)).toBe(true);
  const leads = await finalLeads('bulk', 200);
  const byPartner = (id: string) => leads.filter((l) => l.status === 'accepted' && l.partnerId === id).length;
  expect(byPartner('capped')).toBe(50);
  expect(byPartner('open')).toBe(150);
  const ids = new Set(posted.map((r) => r.body.leadId as string));
  expect(new Set(capped.received.map((l) => l.subid)).size).toBe(50);
  expect(capped.received.every((l) => ids.has(l.subid))).toBe(true);
  expect(open.received.filter((l) => ids.has(l.subid))).toHaveLength(150);
  const slots = await CapSlot.find({ partnerId: 'capped' }).lean();
  expect(slots).toHaveLength(50);
  expect(new Set(slots.map((s) => s.leadId)).size).toBe(50);
  const cappedLeads = new Set(leads.filter((l) => l.partnerId === 'capped').map((l) => l._id));
  expect(slots.every((s) => cappedLeads.has(s.leadId))).toBe(true);
}, 300_000);

test('a slot taken by a delivery that failed is given back and reused', async () => {
  // Three leads the partner refuses: each takes a slot of the cap of 3 and gives it back.
  for (let i = 0; i < 3; i++)
    await postJson(`${stack.baseUrl}/leads`, { vertical: 'flaky', data: { fail: true } }, KEY);
  const refused = await finalLeads('flaky', 3);
  expect(refused.every((l) => l.partnerId === 'open')).toBe(true);
  expect(flaky.received).toHaveLength(3);
  expect(await CapSlot.countDocuments({ partnerId: 'flaky' })).toBe(0);

  // So the cap is still whole: three good leads fit, the fourth goes on.
  for (let i = 0; i < 4; i++) {
    await postJson(`${stack.baseUrl}/leads`, { vertical: 'flaky', clickId: `good-${i}` }, KEY);
    await finalLeads('flaky', 4 + i);
  }
  const leads = await Lead.find({ vertical: 'flaky', clickId: /^good-/ }, { partnerId: 1, clickId: 1 })
    .sort({ clickId: 1 })
    .lean();
  expect(leads.map((l) => l.partnerId)).toEqual(['flaky', 'flaky', 'flaky', 'open']);
  expect(await CapSlot.countDocuments({ partnerId: 'flaky' })).toBe(3);
}, 300_000);

test('a daily cap counts per UTC day: full at 23:55, open again at 00:05', async () => {
  shiftMs = 12 * HOUR - 5 * 60_000 - (clock().getTime() - todayNoon); // 23:55 today: 5 minutes to go
  try {
    const post = async (clickId: string, n: number) => {
      await postJson(`${stack.baseUrl}/leads`, { vertical: 'daily', clickId }, KEY);
      await finalLeads('daily', n);
      return (await Lead.findOne({ clickId }, { partnerId: 1 }).lean())?.partnerId;
    };
    expect(await post('day1-a', 1)).toBe('daily');
    expect(await post('day1-b', 2)).toBe('open');
    shiftMs += 10 * 60_000; // 00:05 the next day
    expect(await post('day2-a', 3)).toBe('daily');
    const day = (offsetDays: number) =>
      new Date(todayNoon + offsetDays * 24 * HOUR).toISOString().slice(0, 10);
    const periods = (await CapSlot.find({ partnerId: 'daily' }).lean()).map((s) => s.period).sort();
    expect(periods).toEqual([`d${day(0)}`, `d${day(1)}`]);
  } finally {
    shiftMs = 0;
  }
}, 120_000);
