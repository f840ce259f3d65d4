// A worker killed in the middle of an inbound ping's auction (SIGKILL while its ping is in flight): the workflow
// task is retried by another worker, which pings no one again (decision 0018), answers without a bid and fails
// the lead with the reason. The buyer was pinged once.
import fs from 'node:fs';
import { MongoClient } from 'mongodb';
import type { ManagedProcess } from '../../scripts/processes';
import { startPartnerSimulator, type PartnerSimulator } from '../../scripts/simulators';
import {
  appConfig,
  appEnv,
  processDir,
  startGatewayProcess,
  startWorkerProcess,
  type GatewayProcess,
} from '../support/app-processes';
import { bidderPartner } from '../support/bidders';
import { eventually, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'killed-source-key-0123456789' };

let dir: string;
let buyer: PartnerSimulator;
let env: NodeJS.ProcessEnv;
let workers: ManagedProcess[] = [];
let gateway: GatewayProcess;

beforeAll(async () => {
  dir = processDir('pingkill');
  buyer = await startPartnerSimulator();
  const vars = appConfig(dir, {
    partnerUrl: buyer.url,
    token: 'unused-token-0123456789',
    sourceKey: SOURCE_KEY['x-api-key'],
  });
  // acme as a bidder; an auction long enough (and a gateway wait of its length) to outlast the task's retry.
  const config = JSON.parse(fs.readFileSync(vars.ROUTING_CONFIG as string, 'utf8')) as Record<
    string,
    unknown
  >;
  config.partners = [
    {
      ...bidderPartner('acme', buyer.url),
      postback: { token: 'killed-partner-token-0123456789', timeout: '1h' },
    },
  ];
  config.routing = { auction: { timeoutMs: 30_000, floor: '1.00' } };
  fs.writeFileSync(vars.ROUTING_CONFIG as string, JSON.stringify(config));
  env = appEnv(vars);
  workers = [await startWorkerProcess('worker-a', env, dir)];
  gateway = await startGatewayProcess('gateway', env, dir);
}, 120_000);

afterAll(async () => {
  for (const p of [gateway?.process, ...workers]) await p?.stop({ graceMs: 10_000 });
  await buyer?.stop();
  if (dir && !process.env.LEADROUTER_KEEP_TEST_DATA) fs.rmSync(dir, { recursive: true, force: true });
});

test('worker killed while its ping is in flight: the retried task pings no one again, answers no bid, fails the lead', async () => {
  // The buyer holds its answer past the kill.
  buyer.setPingBehavior(() => ({ bid: '9.00', latencyMs: 20_000 }));
  const answer = postJson(
    `${gateway.url}/ping`,
    { vertical: 'auto', geo: { country: 'US', state: 'TX' } },
    SOURCE_KEY,
  );
  await eventually(async () => (buyer.pings.length === 1 ? true : undefined), 60_000, 'the ping sent');
  await workers[0]?.crash();
  workers.push(await startWorkerProcess('worker-b', env, dir));

  // The new worker may start after the gateway stopped waiting (503): the source would ping again, under a new id.
  const { status, body } = await answer;
  if (status === 200)
    expect(body).toMatchObject({ bid: null, reason: expect.stringContaining('not pinged again') });
  else expect(status).toBe(503);
  const db = new MongoClient(env.MONGODB_URI as string);
  try {
    const leads = await db
      .db()
      .collection<{ _id: string }>('leads')
      .find({}, { projection: { _id: 1 } })
      .toArray();
    expect(leads).toHaveLength(1);
    const leadId = leads[0]?._id as string;
    await leadReaches({ baseUrl: gateway.url }, leadId, 'failed', SOURCE_KEY, 120_000);
    const bids = await db.db().collection('bids').find({ leadId }).toArray();
    expect(bids).toMatchObject([
      { partnerId: 'acme', outcome: 'error', reason: expect.stringContaining('not pinged again') },
    ]);
  } finally {
    await db.close();
  }
  expect(buyer.pings).toHaveLength(1);
  expect(buyer.received).toHaveLength(0);
}, 240_000);
