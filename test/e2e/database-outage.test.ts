// The gateway's answers when MongoDB goes away under it: 503 dependency_unavailable (retry later) on every
// route that needs it, never a 500 or a hung request; the same requests work again once it is back. And an
// error nobody expected is a 500 `internal` that says nothing of its cause.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway } from '../../apps/gateway/app';
import { TemporalClient } from '../../apps/gateway/temporal';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';
import { testDbUri, testEnv, uniqueDbName } from '../support/servers';
import { ADMIN_KEY, baseConfig, getJson, postJson } from '../support/stack';

const SOURCE = { 'x-api-key': 'key-src-1-abcdef' };
const ADMIN = { 'x-api-key': ADMIN_KEY };
const dbUri = testDbUri(uniqueDbName('database-outage'));
const logged: { level: string; msg: string }[] = [];
let server: Server;
let temporal: TemporalClient;
let url: string;
let configBroken = false;

beforeAll(async () => {
  await connectMongo(dbUri);
  const config = new ConfigIndex(parseRoutingConfig(baseConfig('http://127.0.0.1:9', 'http://127.0.0.1:9')));
  temporal = new TemporalClient({
    address: testEnv().temporalAddress,
    namespace: testEnv().temporalNamespace,
    taskQueue: uniqueDbName('database-outage'), // no worker: a started lead just waits
  });
  const logger = createLogger('test', 'warn');
  for (const level of ['warn', 'error'] as const)
    logger[level] = ((_obj: unknown, msg: string) => void logged.push({ level, msg })) as typeof logger.warn;
  const app = createGateway({
    config: () => {
      if (configBroken) throw new Error('config store exploded at 0xdeadbeef');
      return config;
    },
    temporal,
    logger,
    metrics: createMetrics(),
    adminKey: ADMIN_KEY,
  });
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
  await temporal.close();
  await disconnectMongo();
});

test('MongoDB gone: 503 dependency_unavailable on intake, lead view, admin search and reports; back: the same intake works', async () => {
  const stored = await postJson(`${url}/leads`, { leadId: 'outage-before' }, SOURCE);
  expect(stored.status).toBe(202);

  await disconnectMongo();
  try {
    logged.length = 0;
    const unavailable = {
      status: 503,
      body: {
        error: { code: 'dependency_unavailable', message: 'the database is unavailable; retry later' },
      },
    };
    expect(await postJson(`${url}/leads`, { leadId: 'outage-during' }, SOURCE)).toMatchObject(unavailable);
    expect(await getJson(`${url}/leads/outage-before`, SOURCE)).toMatchObject(unavailable);
    expect(await getJson(`${url}/admin/leads`, ADMIN)).toMatchObject(unavailable);
    expect(await getJson(`${url}/reports/partners`, ADMIN)).toMatchObject(unavailable);
    expect(logged.filter((l) => l.msg === 'database unavailable').length).toBeGreaterThanOrEqual(4);
    expect(logged.filter((l) => l.level === 'error')).toEqual([]);
  } finally {
    await connectMongo(dbUri);
  }
  // The source's retry of the refused lead is a new lead, as if the first attempt never came.
  expect((await postJson(`${url}/leads`, { leadId: 'outage-during' }, SOURCE)).status).toBe(202);
  expect((await getJson(`${url}/leads/outage-before`, SOURCE)).body).toMatchObject({
    leadId: 'outage-before',
  });
});

test('an unexpected error is a 500 `internal` without its message, and is logged as an error', async () => {
  logged.length = 0;
  configBroken = true;
  try {
    const res = await postJson(`${url}/leads`, { leadId: 'outage-internal' }, SOURCE);
    expect(res).toMatchObject({
      status: 500,
      body: { error: { code: 'internal', message: 'internal error' } },
    });
    expect(JSON.stringify(res.body)).not.toMatch(/exploded|deadbeef/);
    expect(logged).toEqual([{ level: 'error', msg: 'unhandled error' }]);
  } finally {
    configBroken = false;
  }
  expect((await postJson(`${url}/leads`, { leadId: 'outage-internal' }, SOURCE)).status).toBe(202);
});
