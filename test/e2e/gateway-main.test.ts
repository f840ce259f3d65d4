// The gateway's entry point in this process, from the environment an operator sets (gateway-shutdown.test.ts
// runs it as a process): it refuses to start without MONGODB_URI, serves once started, and its drain keeps
// answering with /readyz at 503 for DRAIN_DELAY_MS before it closes the port, and it keeps idle keep-alive
// connections open longer than a load balancer does.
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { runGateway } from '../../apps/gateway/main';
import { freePort } from '../../scripts/util';
import { testEnv, uniqueDbName, testDbUri } from '../support/servers';
import { baseConfig } from '../support/stack';

const saved = { ...process.env };
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(process.env.LEADROUTER_TEST_TMP ?? os.tmpdir(), 'gateway-main-'));
  fs.writeFileSync(
    path.join(dir, 'routing.json'),
    JSON.stringify(baseConfig('http://127.0.0.1:9', 'http://127.0.0.1:9')),
  );
});
afterEach(() => {
  process.env = { ...saved };
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function settings(vars: Record<string, string>) {
  const port = await freePort();
  const env = testEnv();
  process.env = {
    ...saved,
    HOST: '127.0.0.1',
    PORT: String(port),
    MONGODB_URI: testDbUri(uniqueDbName('gateway-main')),
    ROUTING_CONFIG: path.join(dir, 'routing.json'),
    TEMPORAL_ADDRESS: env.temporalAddress,
    TEMPORAL_NAMESPACE: env.temporalNamespace,
    TEMPORAL_TASK_QUEUE: `gateway-main-${port}`,
    ADMIN_API_KEY: 'admin-key-for-gateway-main-0123',
    LOG_LEVEL: 'silent',
    ...vars,
  };
  return `http://127.0.0.1:${port}`;
}

test('without MONGODB_URI the gateway does not start, and says what to set', async () => {
  await settings({});
  delete process.env.MONGODB_URI;
  await expect(runGateway()).rejects.toThrow(/^MONGODB_URI is required/);
});

test('started from the environment it serves; the drain answers with /readyz at 503 during the delay, then closes', async () => {
  const url = await settings({ DRAIN_DELAY_MS: '2000' });
  const drain = await runGateway();
  expect((await fetch(`${url}/readyz`)).status).toBe(200);
  const admin = await fetch(`${url}/admin/leads`, {
    headers: { 'x-api-key': 'admin-key-for-gateway-main-0123' },
  });
  expect(admin.status).toBe(200);

  // Sent before the drain starts, handled after it (same process: the request needs a few turns of the event
  // loop, the drain's delay is far longer): still answered, but no longer ready, so a load balancer stops sending.
  const during = fetch(`${url}/readyz`);
  const drained = drain();
  const answer = await during;
  expect(answer.status).toBe(503);
  expect(await answer.json()).toMatchObject({ draining: true });
  await drained;
  await expect(fetch(`${url}/healthz`)).rejects.toThrow();
});

test('without a drain delay the port closes at once', async () => {
  const url = await settings({});
  const drain = await runGateway();
  expect((await fetch(`${url}/healthz`)).status).toBe(200);
  await drain();
  await expect(fetch(`${url}/healthz`)).rejects.toThrow();
});

test("an idle keep-alive connection stays open past Node's 5 s default, so a load balancer reusing it is answered", async () => {
  const url = await settings({});
  const drain = await runGateway();
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const get = () =>
    new Promise<{ status?: number; reused: boolean }>((resolve, reject) => {
      const req = http.get(`${url}/healthz`, { agent }, (res) => {
        res.resume();
        res.on('end', () => resolve({ status: res.statusCode, reused: req.reusedSocket }));
      });
      req.on('error', reject);
    });
  try {
    expect(await get()).toEqual({ status: 200, reused: false });
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await get()).toEqual({ status: 200, reused: true });
  } finally {
    agent.destroy();
    await drain();
  }
});
