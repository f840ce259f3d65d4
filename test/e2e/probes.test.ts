// /healthz says the process answers; /readyz says MongoDB and Temporal answer and the gateway is not draining, with Retry-After when it is not ready.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createGateway } from '../../apps/gateway/app';
import { Draining } from '../../apps/gateway/probes';
import { TemporalClient } from '../../apps/gateway/temporal';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';
import { testEnv, uniqueDbName, testDbUri } from '../support/servers';
import { baseConfig } from '../support/stack';

const servers: Server[] = [];
const temporals: TemporalClient[] = [];
afterAll(async () => {
  for (const s of servers) await new Promise((r) => s.close(r));
  for (const t of temporals) await t.close();
  await disconnectMongo();
});

async function gateway(temporalAddress: string, draining = new Draining()) {
  const temporal = new TemporalClient({
    address: temporalAddress,
    namespace: testEnv().temporalNamespace,
    taskQueue: 'probes',
    callTimeoutMs: 2000,
  });
  temporals.push(temporal);
  const config = new ConfigIndex(parseRoutingConfig(baseConfig('http://127.0.0.1:9', 'http://127.0.0.1:9')));
  const app = createGateway({
    config: () => config,
    temporal,
    logger: createLogger('test', 'silent'),
    metrics: createMetrics(),
    draining,
  });
  const server = app.listen(0, '127.0.0.1');
  servers.push(server);
  await new Promise((r) => server.once('listening', r));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, draining };
}

async function get(url: string) {
  const res = await fetch(url);
  return {
    status: res.status,
    retryAfter: res.headers.get('retry-after'),
    connection: res.headers.get('connection'),
    body: (await res.json()) as unknown,
  };
}

test('alive but not ready while MongoDB and Temporal are unreachable', async () => {
  const { url } = await gateway('127.0.0.1:9'); // nothing listens there; no MongoDB connection yet
  expect(await get(`${url}/healthz`)).toMatchObject({ status: 200, body: { ok: true } });
  expect(await get(`${url}/readyz`)).toMatchObject({
    status: 503,
    retryAfter: '5',
    body: { ok: false, mongo: 'down', temporal: 'down', draining: false },
  });
});

test('ready with both reachable; not ready once draining, and connections close after each answer', async () => {
  await connectMongo(testDbUri(uniqueDbName('probes')));
  const { url, draining } = await gateway(testEnv().temporalAddress);
  const ready = await get(`${url}/readyz`);
  expect(ready).toMatchObject({
    status: 200,
    body: { ok: true, mongo: 'up', temporal: 'up', draining: false },
  });
  expect(ready.retryAfter).toBeNull();
  expect(ready.connection).not.toBe('close');

  draining.start();
  expect(await get(`${url}/readyz`)).toMatchObject({
    status: 503,
    retryAfter: '5',
    connection: 'close',
    body: { ok: false, mongo: 'up', temporal: 'up', draining: true },
  });
  // Still alive, still answering what reaches it.
  expect(await get(`${url}/healthz`)).toMatchObject({ status: 200, connection: 'close' });
});
