// Two gateways and two workers (the real entry points, as processes) on one Temporal namespace, task queue and
// database, with every request sent to both gateways at the same moment, as a load balancer's retry or a
// partner's double fire does: the same lead, the same postback, the same signature, two verdicts at once, the
// same person, the last slot of a cap, the same pingId. Each has one effect, whichever gateway took it.
import fs from 'node:fs';
import type { ManagedProcess } from '../../scripts/processes';
import { startPartnerSimulator, type PartnerSimulator } from '../../scripts/simulators';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { Delivery, Lead, PostbackLog, StatusEvent } from '../../shared/models';
import { signParams } from '../../shared/signature';
import {
  appConfig,
  appEnv,
  processDir,
  startGatewayProcess,
  startWorkerProcess,
  type GatewayProcess,
} from '../support/app-processes';
import { bidderPartner } from '../support/bidders';
import { nowSeconds, send, type RawResponse } from '../support/postbacks';
import { eventually, getJson, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'race-source-key-0123456789' };
const TOKEN = 'race-partner-token-0123456789';
const SECRET = 'race-signing-secret-0123456789';
const ROUNDS = 6;

let dir: string;
let partner: PartnerSimulator;
let capped: PartnerSimulator;
let bidder: PartnerSimulator;
let workers: ManagedProcess[] = [];
let gateways: GatewayProcess[] = [];

/** A partner at `url` for the leads of one vertical. */
function vertical(id: string, url: string, name: string, postback: Record<string, unknown>, extra = {}) {
  return {
    id,
    delivery: { url: `${url}/leads`, timeoutMs: 5000 },
    postback: { statusMap: { lead: 'pending' }, timeout: '1h', ...postback },
    routing: { filters: { vertical: [name] } },
    payout: 4,
    ...extra,
  };
}

beforeAll(async () => {
  dir = processDir('race');
  [partner, capped, bidder] = await Promise.all([
    startPartnerSimulator(),
    startPartnerSimulator(),
    startPartnerSimulator(),
  ]);
  const vars = appConfig(dir, { partnerUrl: partner.url, token: TOKEN, sourceKey: SOURCE_KEY['x-api-key'] });
  const config = JSON.parse(fs.readFileSync(vars.ROUTING_CONFIG as string, 'utf8')) as Record<
    string,
    unknown
  >;
  config.partners = [
    vertical('acme', partner.url, 'auto', { token: TOKEN }),
    vertical('signed', partner.url, 'home', { hmacSecret: SECRET }, { payout: 7 }),
    // solar: one lead a day for capped, the rest to spare.
    vertical(
      'capped',
      capped.url,
      'solar',
      { token: TOKEN },
      {
        routing: { filters: { vertical: ['solar'] }, priority: 1, dailyCap: 1 },
      },
    ),
    vertical(
      'spare',
      partner.url,
      'solar',
      { token: TOKEN },
      {
        routing: { filters: { vertical: ['solar'] }, priority: 2 },
      },
    ),
    { ...bidderPartner('bidder', bidder.url), routing: { filters: { vertical: ['legal'] } } },
  ];
  config.routing = { auction: { timeoutMs: 10_000, floor: '1.00' } };
  config.settings = {
    duplicates: { keys: ['email'], action: 'reject', secret: 'race-duplicates-secret-0123456789' },
  };
  fs.writeFileSync(vars.ROUTING_CONFIG as string, JSON.stringify(config));
  const env = appEnv(vars);
  const started = await Promise.all([
    startWorkerProcess('worker-a', env, dir),
    startWorkerProcess('worker-b', env, dir),
    startGatewayProcess('gateway-a', env, dir),
    startGatewayProcess('gateway-b', env, dir),
  ]);
  workers = started.slice(0, 2) as ManagedProcess[];
  gateways = started.slice(2) as GatewayProcess[];
  await connectMongo(env.MONGODB_URI as string);
}, 180_000);

afterAll(async () => {
  await disconnectMongo();
  for (const p of [...gateways.map((g) => g.process), ...workers]) await p?.stop({ graceMs: 10_000 });
  for (const sim of [partner, capped, bidder]) await sim?.stop();
  if (dir && !process.env.LEADROUTER_KEEP_TEST_DATA) fs.rmSync(dir, { recursive: true, force: true });
});

/** The same request at both gateways at once; the answers in gateway order. */
function atBoth<T>(request: (baseUrl: string) => Promise<T>): Promise<T[]> {
  return Promise.all(gateways.map((g) => request(g.url)));
}

const lead = (body: Record<string, unknown>) => (url: string) => postJson(`${url}/leads`, body, SOURCE_KEY);

async function leadIn(leadId: string, status: string): Promise<void> {
  await eventually(
    async () => ((await Lead.findById(leadId, { status: 1 }).lean())?.status === status ? true : undefined),
    60_000,
    `lead ${leadId} ${status}`,
  );
}

/** A new lead of `name`'s vertical, taken in by one gateway and delivered; its id. */
async function pendingLead(name: string, clickId: string): Promise<string> {
  const created = await postJson(`${gateways[0]?.url}/leads`, { clickId, vertical: name }, SOURCE_KEY);
  expect(created.status).toBe(202);
  const leadId = created.body.leadId as string;
  await leadIn(leadId, 'pending');
  return leadId;
}

const statusesOf = async (leadId: string) =>
  (await StatusEvent.find({ leadId }).sort({ seq: 1 }).lean()).map((e) => e.status);
const sorted = (answers: { status: number }[]) => answers.map((a) => a.status).sort();

test('the same leadId at both gateways at once: one lead, one workflow, one delivery', async () => {
  const ids = Array.from({ length: ROUNDS }, (_, i) => `race-lead-${Date.now().toString(36)}-${i}`);
  const answers = await Promise.all(
    ids.map((leadId) => atBoth(lead({ leadId, clickId: leadId, vertical: 'auto' }))),
  );
  for (const [i, pair] of answers.entries()) {
    // One took it in (202), the other found it (200): the same lead either way.
    expect(sorted(pair)).toEqual([200, 202]);
    for (const a of pair) expect(a.body).toMatchObject({ leadId: ids[i], workflowId: `lead-${ids[i]}` });
  }
  for (const leadId of ids) await leadIn(leadId, 'pending');
  for (const leadId of ids) {
    expect(partner.received.filter((l) => l.subid === leadId)).toHaveLength(1);
    expect(await statusesOf(leadId)).toEqual(['received', 'pending']);
  }
});

test('the same postback at both gateways at once: applied by one, a duplicate at the other', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const leadId = await pendingLead('auto', `race-pb-${i}`);
    const query = new URLSearchParams({ subid: leadId, status: 'approved', payout: '9.50', token: TOKEN });
    const answers = await atBoth((url) => send(url, { path: '/postback/acme', query: query.toString() }));
    expect(sorted(answers)).toEqual([200, 200]);
    expect(answers.map((a) => a.body.duplicate).sort()).toEqual([false, true]);
    await leadIn(leadId, 'accepted');
    expect(await statusesOf(leadId)).toEqual(['received', 'pending', 'accepted']);
    const stored = await Lead.findById(leadId, { payoutCents: 1 }).lean();
    expect(stored?.payoutCents).toBe(950);
    const outcomes = (await PostbackLog.find({ leadId }).lean()).map((l) => l.outcome).sort();
    expect(outcomes).toEqual(['applied', 'duplicate']);
  }
});

test('the same signed postback at both gateways at once: applied once, the other a duplicate or a replay', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const leadId = await pendingLead('home', `race-signed-${i}`);
    const params = { subid: leadId, status: 'approved', ts: nowSeconds() };
    const signed = {
      query: new URLSearchParams(params).toString(),
      headers: { 'x-signature': signParams(SECRET, params) },
    };
    const answers = await atBoth((url) => send(url, { path: '/postback/signed', ...signed }));
    const appliedOnce = answers.filter((a) => a.status === 200 && a.body.duplicate === false);
    expect(appliedOnce).toHaveLength(1);
    const other = answers.find((a) => a !== appliedOnce[0]) as RawResponse;
    if (other.status === 200) expect(other.body.duplicate).toBe(true);
    else expect(other).toMatchObject({ status: 403, body: { error: { code: 'replayed_signature' } } });
    await leadIn(leadId, 'accepted');
    expect(await statusesOf(leadId)).toEqual(['received', 'pending', 'accepted']);
    // Sent a third time, later: never applied again.
    const again = await send(gateways[1]?.url as string, { path: '/postback/signed', ...signed });
    expect(again.status === 403 || again.body.duplicate === true).toBe(true);
  }
});

test('two verdicts at once, one at each gateway: the lead walks the transition table, whichever lands first', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const leadId = await pendingLead('auto', `race-verdicts-${i}`);
    const verdict = (status: string) =>
      new URLSearchParams({ subid: leadId, status, token: TOKEN }).toString();
    const answers = await Promise.all([
      send(gateways[0]?.url as string, { path: '/postback/acme', query: verdict('approved') }),
      send(gateways[1]?.url as string, { path: '/postback/acme', query: verdict('declined') }),
    ]);
    for (const a of answers) expect(a.status).toBeLessThan(500);
    await leadIn(leadId, 'accepted');
    // Let the other signal land too; then the history is one of the two orders the transition table allows:
    // the approval first (the rejection after it is no transition), or the rejection, then a re-approval.
    await new Promise((r) => setTimeout(r, 500));
    const history = await statusesOf(leadId);
    expect([
      ['received', 'pending', 'accepted'],
      ['received', 'pending', 'rejected', 'accepted'],
    ]).toContainEqual(history);
    const stored = await Lead.findById(leadId, { status: 1, payoutCents: 1 }).lean();
    expect(stored).toMatchObject({ status: 'accepted', payoutCents: 400 });
  }
});

test('the same person at both gateways at once: one lead taken, the other refused as a duplicate', async () => {
  for (let i = 0; i < ROUNDS; i++) {
    const person = { vertical: 'auto', contact: { email: `race-person-${Date.now()}-${i}@example.com` } };
    const answers = await atBoth(lead(person));
    expect(sorted(answers)).toEqual([202, 409]);
    const refused = answers.find((a) => a.status === 409);
    expect(refused?.body).toMatchObject({ error: { code: 'duplicate_lead' } });
  }
});

test('the last slot of a daily cap, asked for by leads at both gateways at once: taken once', async () => {
  const answers = (
    await Promise.all(
      Array.from({ length: 3 }, (_, i) => atBoth(lead({ clickId: `race-cap-${i}`, vertical: 'solar' }))),
    )
  ).flat();
  expect(answers.map((a) => a.status)).toEqual(Array(6).fill(202));
  const ids = answers.map((a) => a.body.leadId as string);
  for (const leadId of ids) await leadIn(leadId, 'pending');
  expect(capped.received).toHaveLength(1);
  // The others were passed over for the cap (a `skipped` line each), never posted.
  const posts = await Delivery.find({
    leadId: { $in: ids },
    partnerId: 'capped',
    outcome: { $ne: 'skipped' },
  }).lean();
  expect(new Set(posts.map((d) => d.leadId)).size).toBe(1);
  const toSpare = await Lead.countDocuments({ _id: { $in: ids }, partnerId: 'spare' });
  expect(toSpare).toBe(5);
});

test('a ping at one gateway, its post at both at once: posted once, the other refused', async () => {
  bidder.setPingBehavior(() => ({ bid: '8.00' }));
  bidder.setBehavior(() => ({ body: { status: 'accepted' } }));
  for (let i = 0; i < ROUNDS; i++) {
    const ping = await postJson(
      `${gateways[i % 2]?.url}/ping`,
      { vertical: 'legal', geo: { state: 'TX' } },
      SOURCE_KEY,
    );
    expect(ping.status).toBe(200);
    const { leadId, pingId } = ping.body as { leadId: string; pingId: string };
    const full = {
      vertical: 'legal',
      geo: { state: 'TX' },
      contact: { email: `race-pinged-${i}-${leadId}@example.com` },
      pingId,
    };
    const answers = await atBoth(lead(full));
    expect(sorted(answers)).toEqual([202, 409]);
    await leadIn(leadId, 'accepted');
    expect(bidder.received.filter((l) => l.subid === leadId)).toHaveLength(1);
  }
  const view = await getJson(`${gateways[0]?.url}/leads/${bidder.received.at(-1)?.subid}`, SOURCE_KEY);
  expect(view.body).toMatchObject({ status: 'accepted', partnerId: 'bidder', payout: '8.00' });
});
