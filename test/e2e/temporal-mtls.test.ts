// Temporal behind mutual TLS: the gateway and worker processes, configured only through the SDK's TEMPORAL_TLS_* variables, run a lead through a TLS terminator that demands a client certificate; without one the worker stops with a message naming the variable to set.
import fs from 'node:fs';
import path from 'node:path';
import { startPartnerSimulator, type PartnerSimulator } from '../../scripts/simulators';
import { freePort } from '../../scripts/util';
import {
  appEnv,
  output,
  startGatewayProcess,
  startWorkerProcess,
  type GatewayProcess,
  appConfig,
  processDir,
} from '../support/app-processes';
import { testEnv } from '../support/servers';
import { eventually, getJson, postJson } from '../support/stack';
import { makeTestCerts, startMtlsProxy, type MtlsProxy, type TestCerts } from '../support/tls';
import type { ManagedProcess } from '../../scripts/processes';

const SOURCE_KEY = { 'x-api-key': 'mtls-source-key-0123456789' };
const TOKEN = 'mtls-partner-token-0123456789';

let dir: string;
let certs: TestCerts;
let proxy: MtlsProxy;
let partner: PartnerSimulator;
let tlsEnv: Record<string, string>;
let gatewayPort: number;
const started: ManagedProcess[] = [];

beforeAll(async () => {
  dir = processDir('mtls');
  certs = makeTestCerts(path.join(dir, 'certs'));
  const [host, port] = testEnv().temporalAddress.split(':');
  proxy = await startMtlsProxy(certs, { host: host!, port: Number(port) });
  gatewayPort = await freePort();
  partner = await startPartnerSimulator({
    postbackUrl: `http://127.0.0.1:${gatewayPort}/postback/acme`,
    token: TOKEN,
    behavior: () => ({ postback: [{ status: 'approved', payout: '7.25', delayMs: 100 }] }),
  });
  tlsEnv = {
    ...appConfig(dir, { partnerUrl: partner.url, token: TOKEN, sourceKey: SOURCE_KEY['x-api-key'] }),
    TEMPORAL_ADDRESS: proxy.address,
    TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
    TEMPORAL_TLS_SERVER_NAME: 'localhost',
    TEMPORAL_TLS_CLIENT_CERT_PATH: certs.clientCert,
    TEMPORAL_TLS_CLIENT_KEY_PATH: certs.clientKey,
  };
}, 60_000);

afterAll(async () => {
  await Promise.all(started.map((p) => p.stop({ graceMs: 10_000 })));
  await partner?.stop();
  await proxy?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

test('a lead goes through gateway and worker connected to Temporal only through mTLS', async () => {
  const worker = await startWorkerProcess('worker', appEnv(tlsEnv), dir);
  started.push(worker);
  const gateway: GatewayProcess = await startGatewayProcess('gateway', appEnv(tlsEnv), dir, gatewayPort);
  started.push(gateway.process);

  const created = await postJson(`${gateway.url}/leads`, { clickId: 'mtls-1', vertical: 'auto' }, SOURCE_KEY);
  expect(created.status).toBe(202);
  const leadId = created.body.leadId as string;
  const lead = await eventually(
    async () => {
      const view = await getJson(`${gateway.url}/leads/${leadId}`, SOURCE_KEY);
      return view.body.status === 'accepted' ? view.body : undefined;
    },
    60_000,
    'the lead to be accepted',
  );
  expect(lead).toMatchObject({ leadId, status: 'accepted', partnerId: 'acme', payout: '7.25' });
  // Both processes reached Temporal, and only through the terminator with their client certificate.
  expect(proxy.authorized).toBeGreaterThanOrEqual(2);
  expect(output(worker)).toMatch(/"temporal":"127\.0\.0\.1:\d+ namespace \S+ \(TLS, client certificate\)"/);
}, 120_000);

test('without the client certificate the worker stops and names the variable to set', async () => {
  const { TEMPORAL_TLS_CLIENT_CERT_PATH: _cert, TEMPORAL_TLS_CLIENT_KEY_PATH: _key, ...withoutCert } = tlsEnv;
  const refusedBefore = proxy.refused;
  const worker = startWorkerProcess('worker-no-cert', appEnv(withoutCert), dir);
  await expect(worker).rejects.toThrow(/exited during startup/);
  const log = fs.readFileSync(path.join(dir, 'worker-no-cert.log'), 'utf8');
  expect(log).toMatch(/Temporal at 127\.0\.0\.1:\d+ is unreachable \(namespace \S+, TLS\)/);
  expect(log).toContain('set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH');
  expect(proxy.refused).toBeGreaterThan(refusedBefore);
}, 120_000);
