// Duplicate leads on the real dev server and Mongo-wire server: concurrent copies of one person sell once,
// windows expire by the clock, a partner that bought the person is skipped, a suppressed person goes nowhere.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { routingActivities } from '../../activities/routing';
import { main } from '../../apps/cli/main';
import { screenDuplicates } from '../../apps/gateway/duplicates';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { Housekeeper } from '../../apps/gateway/housekeeping';
import {
  CLAIM_SEAL,
  claimIdentity,
  IdentityClaim,
  leadIdentity,
  pruneIdentityClaims,
} from '../../shared/duplicates';
import { createLogger } from '../../shared/logger';
import { Lead } from '../../shared/models';
import { useStack } from '../support/e2e';
import { ADMIN_KEY, leadReaches, postJson } from '../support/stack';

const KEY = { 'x-api-key': 'key-src-1-abcdef' };
const SECRET = 'duplicates-secret-for-tests-0123';
const DAY = 86_400_000;

function config(partnerUrl: string, duplicates: Record<string, unknown>, partnerRule?: unknown) {
  return {
    settings: { duplicates: { secret: SECRET, ...duplicates } },
    partners: [
      {
        id: 'acme',
        delivery: { url: `${partnerUrl}/leads`, timeoutMs: 5000, maxAttempts: 2 },
        response: { statusPath: 'status' },
        postback: { token: 'acme-token-123', timeout: '1h' },
        routing: partnerRule ? { duplicates: partnerRule } : {},
        payout: 5,
      },
    ],
    sources: [
      { id: 'src-1', apiKey: 'key-src-1-abcdef' },
      { id: 'src-2', apiKey: 'key-src-2-abcdef' },
    ],
  };
}

const { stack, acme } = useStack({
  partners: { acme: { behavior: () => ({ body: { status: 'accepted' } }) } },
  source: false,
  config: ({ acme }) => config(acme.url, { window: '30d', action: 'reject' }),
});

test('the same person posted 20 times at once: one lead, delivered once; 19 answered 409 naming it', async () => {
  const person = {
    contact: { email: 'Sam.Same@Example.com', phone: '(415) 555-0100' },
    geo: { country: 'US' },
  };
  const answers = await Promise.all(
    Array.from({ length: 20 }, (_, i) =>
      postJson(
        `${stack.baseUrl}/leads`,
        // Twenty spellings of one person, as different sources' forms would write them.
        {
          ...person,
          contact: { ...person.contact, email: i % 2 ? ' sam.same@example.COM' : 'Sam.Same@Example.com' },
        },
        KEY,
      ),
    ),
  );
  const accepted = answers.filter((a) => a.status === 202);
  expect(accepted).toHaveLength(1);
  const leadId = accepted[0]?.body.leadId as string;
  const refused = answers.filter((a) => a.status === 409);
  expect(refused).toHaveLength(19);
  for (const r of refused) {
    const error = r.body.error as { code: string; message: string };
    expect(error.code).toBe('duplicate_lead');
    expect(error.message).toContain(leadId);
  }
  await leadReaches(stack, leadId, 'accepted', KEY);
  expect(acme.received.filter((l) => (l.body.contact as { email?: string })?.email)).toHaveLength(1);
  // Only hashes are stored: neither the claim nor the lead's identity holds the address.
  const stored = JSON.stringify([
    await Lead.findById(leadId, { identity: 1 }).lean(),
    await IdentityClaim.find().lean(),
  ]);
  expect(stored).not.toMatch(/sam\.same|4155550100/i);
  expect(await Lead.countDocuments({ 'contact.email': /sam\.same/i })).toBe(1);
}, 120_000);

test('the window, by an injected clock: a duplicate within 30 days, a new lead after; scope source keeps sources apart', async () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const hashes = ['a'.repeat(64), 'b'.repeat(64)];
  const claim = (leadId: string, at: Date, scope = 'global') =>
    claimIdentity({ hashes, scope, leadId, at, windowMs: 30 * DAY });
  const stored = async (leadId: string, at: Date) => {
    await Lead.create({ _id: leadId, sourceId: 'src-1', status: 'received', createdAt: at, updatedAt: at });
  };
  expect(await claim('w1', t0)).toEqual({});
  await stored('w1', t0);
  expect(await claim('w2', new Date(t0.getTime() + 29 * DAY))).toEqual({ duplicateOf: 'w1' });
  expect(await claim('w3', new Date(t0.getTime() + 31 * DAY))).toEqual({});
  await stored('w3', new Date(t0.getTime() + 31 * DAY));
  expect(await claim('w4', new Date(t0.getTime() + 32 * DAY))).toEqual({ duplicateOf: 'w3' });
  // Another scope (per source) is another claim.
  expect(await claim('w5', new Date(t0.getTime() + 32 * DAY), 'source:src-2')).toEqual({});
  // A retried request of the holder itself is not its own duplicate.
  expect(await claim('w3', new Date(t0.getTime() + 33 * DAY))).toEqual({});
  // A claim whose lead was never stored (the gateway died in between) stops counting once it is old.
  expect(await claim('ghost', new Date(t0.getTime() + 40 * DAY), 'other')).toEqual({});
  expect(await claim('w6', new Date(t0.getTime() + 40 * DAY + 60_000), 'other')).toEqual({
    duplicateOf: 'ghost',
  });
  expect(await claim('w7', new Date(t0.getTime() + 41 * DAY), 'other')).toEqual({});
});

test('a lead refused on its second key gives back the first, so it blocks no one', async () => {
  const at = new Date('2032-01-01T00:00:00Z');
  const [emailA, emailB, phoneP, phoneQ] = ['1', '2', '3', '4'].map((c) => c.repeat(64)) as [
    string,
    string,
    string,
    string,
  ];
  const claim = (leadId: string, hashes: string[]) =>
    claimIdentity({ hashes, scope: 'global', leadId, at, windowMs: 30 * DAY });
  expect(await claim('x', [emailA, phoneP])).toEqual({});
  expect(await claim('y', [emailB, phoneP])).toEqual({ duplicateOf: 'x' });
  expect(await claim('z', [emailB, phoneQ])).toEqual({});
  expect((await IdentityClaim.find({ leadId: 'y' }).lean()).length).toBe(0);
});

test('action flag: the duplicate is accepted and marked with the earlier lead', async () => {
  const flagged = new ConfigIndex(parseRoutingConfig(config(acme.url, { action: 'flag', window: '30d' })));
  const source = flagged.sources.get('src-1')!;
  const input = { contact: { email: 'flag.me@example.com' } };
  const at = new Date();
  expect(await screenDuplicates(flagged, source, input, 'flag-1', at)).toEqual({
    identity: [expect.stringMatching(/^[0-9a-f]{64}$/)],
  });
  await Lead.create({ _id: 'flag-1', sourceId: 'src-1', status: 'received', createdAt: at, updatedAt: at });
  const second = await screenDuplicates(flagged, source, input, 'flag-2', at);
  expect(second.duplicateOf).toBe('flag-1');
});

test('routing.duplicates: a partner that bought the person within its window is skipped with reason duplicate', async () => {
  const cfg = new ConfigIndex(parseRoutingConfig(config(acme.url, { action: 'off' }, { window: '90d' })));
  const settings = cfg.config.settings.duplicates;
  const identity = leadIdentity({ contact: { phone: '+44 20 7946 0958' } }, settings);
  const now = new Date('2031-06-01T00:00:00Z');
  const plan = routingActivities({
    config: () => cfg,
    now: () => now,
    logger: createLogger('test', 'silent'),
    http: undefined as never,
  }).planRoute;
  const lead = (id: string, daysAgo: number, extra: Record<string, unknown> = {}) => {
    const at = new Date(now.getTime() - daysAgo * DAY);
    return Lead.create({
      _id: id,
      sourceId: 'src-1',
      status: 'received',
      identity,
      createdAt: at,
      updatedAt: at,
      ...extra,
    });
  };
  await lead('bought-100d', 100, { partnerId: 'acme', status: 'accepted' });
  await lead('rejected-10d', 10, { partnerId: 'acme', status: 'rejected' });
  await lead('again-1', 0);
  // Bought 100 days ago, out of the 90-day window; a rejection is not a purchase.
  expect((await plan('again-1')).candidates.map((c) => c.partnerId)).toEqual(['acme']);
  await lead('bought-89d', 89, { partnerId: 'acme', status: 'accepted' });
  const skipped = await plan('again-1');
  expect(skipped.candidates).toEqual([]);
  expect(skipped.skipped).toEqual([{ partnerId: 'acme', reason: 'duplicate' }]);
});

test('a suppressed person is never delivered; the list is hashed on arrival and bad entries change nothing', async () => {
  const url = `${stack.baseUrl}/admin/suppressions`;
  const admin = { 'x-api-key': ADMIN_KEY };
  const bad = await postJson(url, { email: ['stop.me@example.com', 'not-an-email'] }, admin);
  expect(bad.status).toBe(400);
  expect(bad.body.error).toMatchObject({ code: 'invalid_request', issues: [{ path: 'email[1]' }] });
  expect((await postJson(url, { email: ['x@example.com'] }, KEY)).status).toBe(401);
  const ok = await postJson(
    url,
    {
      email: ['Stop.Me@example.com', 'stop.me@example.com '],
      phone: ['020 7946 0000'],
      country: 'GB',
      reason: 'asked',
    },
    admin,
  );
  expect(ok).toEqual({ status: 200, body: { received: 2, added: 2 } });
  expect((await postJson(url, { email: ['stop.me@example.com'] }, admin)).body).toEqual({
    received: 1,
    added: 0,
  });

  const before = acme.received.length;
  const posted = await postJson(`${stack.baseUrl}/leads`, { contact: { email: 'STOP.ME@example.com' } }, KEY);
  expect(posted.status).toBe(202);
  const leadId = posted.body.leadId as string;
  await leadReaches(stack, leadId, 'failed', KEY);
  const plan = routingActivities({
    config: () => stack.config,
    now: () => new Date(),
    logger: createLogger('test', 'silent'),
    http: undefined as never,
  }).planRoute;
  expect((await plan(leadId)).skipped).toEqual([{ partnerId: 'acme', reason: 'suppressed' }]);
  // Someone not on the list goes through the same route to the same partner.
  const control = await postJson(`${stack.baseUrl}/leads`, { contact: { email: 'go.on@example.com' } }, KEY);
  await leadReaches(stack, control.body.leadId as string, 'accepted', KEY);
  expect(acme.received.map((l) => l.subid)).toEqual([
    ...acme.received.slice(0, before).map((l) => l.subid),
    control.body.leadId,
  ]);
}, 60_000);

test('leadrouter suppress: flags and a file of entries go to the list through the admin API', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'suppress-'));
  const file = path.join(dir, 'list.txt');
  fs.writeFileSync(file, '# people who asked\ncli.one@example.com\n+1 415 555 0199\n');
  let out = '';
  let err = '';
  const io = {
    out: new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) }),
    err: new Writable({ write: (c, _e, cb) => ((err += String(c)), cb()) }),
    env: {},
  };
  const args = ['suppress', '--url', stack.baseUrl, '--admin-key', ADMIN_KEY, '--file', file];
  expect(await main([...args, '--email', 'CLI.one@example.com', '--email', 'cli.two@example.com'], io)).toBe(
    0,
  );
  expect(out).toBe('suppressed 3 (3 new, 0 already listed)\n');
  expect(
    await main(['suppress', '--url', stack.baseUrl, '--admin-key', ADMIN_KEY, '--phone', '1234'], io),
  ).toBe(1);
  expect(err).toContain('phone[0]: not a valid phone number');
});

test('leadrouter_duplicate_leads_total counts duplicates by source and action on /metrics', async () => {
  const scrape = async (action: string) => {
    const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
    const line = text
      .split('\n')
      .find((l) => l.startsWith(`leadrouter_duplicate_leads_total{source="src-2",action="${action}"}`));
    return line ? Number(line.split(' ').at(-1)) : 0;
  };
  const before = { reject: await scrape('reject'), flag: await scrape('flag') };
  const SRC2 = { 'x-api-key': 'key-src-2-abcdef' };
  const post = (email: string) => postJson(`${stack.baseUrl}/leads`, { contact: { email } }, SRC2);
  expect((await post('counted.once@example.com')).status).toBe(202);
  expect((await post('Counted.Once@example.com')).status).toBe(409);
  expect((await post('counted.once@example.com')).status).toBe(409);
  stack.useConfig(config(acme.url, { window: '30d', action: 'flag' }));
  try {
    expect((await post('flagged.twice@example.com')).status).toBe(202);
    expect((await post('flagged.twice@example.com')).status).toBe(202);
  } finally {
    stack.useConfig(config(acme.url, { window: '30d', action: 'reject' }));
  }
  expect(await scrape('reject')).toBe(before.reject + 2);
  expect(await scrape('flag')).toBe(before.flag + 1);
});

describe('pruning expired identity claims', () => {
  const WINDOW = 30 * DAY;
  const now = new Date();
  const ago = (days: number) => new Date(now.getTime() - days * DAY);
  const person = (c: string) => [c.repeat(64)];
  const claim = (hashes: string[], leadId: string, at: Date) =>
    claimIdentity({ hashes, scope: 'prune', leadId, at, windowMs: WINDOW });
  const stored = (leadId: string, at: Date) =>
    Lead.create({ _id: leadId, sourceId: 'src-1', status: 'received', createdAt: at, updatedAt: at });
  const chainOf = async (hashes: string[]) =>
    (await IdentityClaim.find({ _id: { $regex: `^prune:${hashes[0]}#` } }).lean())
      .map((d) => [d._id.slice(d._id.lastIndexOf('#')), d.leadId])
      .sort();

  test('by the clock: chains expired past window and margin go, younger ones stay and still answer', async () => {
    const [gone, twice, kept, margin] = [person('5'), person('6'), person('7'), person('8')];
    expect(await claim(gone, 'gone-1', ago(100))).toEqual({});
    await stored('gone-1', ago(100));
    expect(await claim(twice, 'twice-1', ago(100))).toEqual({});
    await stored('twice-1', ago(100));
    expect(await claim(twice, 'twice-2', ago(60))).toEqual({});
    await stored('twice-2', ago(60));
    expect(await claim(kept, 'kept-1', ago(10))).toEqual({});
    await stored('kept-1', ago(10));
    // Expired (30.5 days old) but within the margin: kept a day longer.
    expect(await claim(margin, 'margin-1', ago(30.5))).toEqual({});
    await stored('margin-1', ago(30.5));
    expect(await chainOf(twice)).toEqual([
      ['#0', 'twice-1'],
      ['#1', 'twice-2'],
    ]);

    const keeper = new Housekeeper({
      logger: createLogger('test', 'silent'),
      now: () => now,
      duplicatesWindowMs: () => WINDOW,
    });
    expect(await keeper.run()).toBe(true);
    expect(await chainOf(gone)).toEqual([]);
    expect(await chainOf(twice)).toEqual([]);
    expect(await chainOf(kept)).toEqual([['#0', 'kept-1']]);
    expect(await chainOf(margin)).toEqual([['#0', 'margin-1']]);
    expect(await IdentityClaim.countDocuments({ leadId: CLAIM_SEAL })).toBe(0);

    // The answers are those the pruned claims gave: a new holder for the expired, a duplicate within the window.
    expect(await claim(gone, 'gone-2', now)).toEqual({});
    expect(await claim(kept, 'kept-2', now)).toEqual({ duplicateOf: 'kept-1' });
  });

  test('twenty claims of one person racing the prune of its expired chain: exactly one holds it', async () => {
    for (const [round, c] of ['a', 'b', 'c', 'd', 'e'].entries()) {
      const hashes = person(c);
      for (const [i, days] of [300, 200, 100].entries()) {
        expect(await claim(hashes, `race-${round}-${i}`, ago(days))).toEqual({});
        await stored(`race-${round}-${i}`, ago(days));
      }
      const [, ...answers] = await Promise.all([
        pruneIdentityClaims(now, WINDOW),
        ...Array.from({ length: 20 }, (_, i) => claim(hashes, `racer-${round}-${i}`, now)),
      ]);
      const holders = answers.flatMap((a, i) => (a.duplicateOf ? [] : [`racer-${round}-${i}`]));
      expect(holders).toHaveLength(1);
      for (const a of answers) if (a.duplicateOf) expect(a.duplicateOf).toBe(holders[0]);
      // Whatever the prune left, the next claimer finds the same holder.
      expect(await claim(hashes, `late-${round}`, now)).toEqual({ duplicateOf: holders[0] });
    }
  });

  test('a prune stopped midway leaves a seal: a claim meanwhile holds the person, the next prune finishes; links past a gap go', async () => {
    const hashes = person('9');
    await IdentityClaim.create([
      { _id: `prune:${hashes[0]}#1`, leadId: 'stopped-1', at: ago(90) },
      { _id: `prune:${hashes[0]}#2`, leadId: CLAIM_SEAL, at: new Date(0) },
    ]);
    // Old links past a gap (#0 given back, or pruned by a run that stopped), which no claimer reaches.
    const orphan = person('0');
    await IdentityClaim.create({ _id: `prune:${orphan[0]}#3`, leadId: 'orphan-3', at: ago(90) });
    expect(await claim(hashes, 'meanwhile', now)).toEqual({});
    await pruneIdentityClaims(now, WINDOW);
    expect(await chainOf(hashes)).toEqual([['#0', 'meanwhile']]);
    expect(await chainOf(orphan)).toEqual([]);
    expect(await claim(hashes, 'after', now)).toEqual({ duplicateOf: 'meanwhile' });
  });
});
