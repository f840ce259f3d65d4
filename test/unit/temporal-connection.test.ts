// The Temporal connection comes from the SDK's client configuration (environment and temporal.toml profiles): an API key turns TLS on and reaches the server as a bearer token.
import fs from 'node:fs';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TemporalClient } from '../../apps/gateway/temporal';
import { describeTarget, explainConnectError, temporalTarget } from '../../shared/temporal-connection';
import { makeTestCerts } from '../support/tls';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'temporal-connection-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
/** No user's own ~/.config/temporalio/temporal.toml may leak into a test. */
const noFile = { TEMPORAL_CONFIG_FILE: path.join(dir, 'absent.toml') };

test('without settings: the local dev server, plaintext, namespace default', () => {
  expect(temporalTarget(noFile)).toEqual({
    connection: { address: '127.0.0.1:7233' },
    namespace: 'default',
    configured: false,
  });
});

test('TEMPORAL_API_KEY is carried, with TLS on, as Temporal Cloud requires', () => {
  const target = temporalTarget({
    ...noFile,
    TEMPORAL_ADDRESS: 'leads-prod.a1b2c.tmprl.cloud:7233',
    TEMPORAL_NAMESPACE: 'leads-prod.a1b2c',
    TEMPORAL_API_KEY: 'cloud-api-key-0123456789',
  });
  expect(target.connection).toEqual({
    address: 'leads-prod.a1b2c.tmprl.cloud:7233',
    apiKey: 'cloud-api-key-0123456789',
    tls: true,
  });
  expect(target.namespace).toBe('leads-prod.a1b2c');
  expect(describeTarget(target)).toBe(
    'leads-prod.a1b2c.tmprl.cloud:7233 namespace leads-prod.a1b2c (TLS, API key)',
  );
  expect(describeTarget(target)).not.toContain('cloud-api-key');
});

test('a connection failure names the setting that most likely fixes it, for how the connection is secured', () => {
  const target = (connection: Record<string, unknown>) => ({
    connection: { address: 'temporal.internal:7233', ...connection },
    namespace: 'leads',
    configured: true,
  });
  const refused = new Error('transport error');
  const plain = explainConnectError(refused, target({}));
  expect(plain.message).toBe(
    'Temporal at temporal.internal:7233 is unreachable (namespace leads, plaintext): transport error; ' +
      'if the server speaks TLS, set TEMPORAL_TLS=true (and TEMPORAL_TLS_SERVER_CA_CERT_PATH for a private CA); ' +
      'or select a temporal.toml profile with TEMPORAL_PROFILE',
  );
  expect(plain.cause).toBe(refused);
  // TLS without a client certificate or key: the server may want mTLS or an API key.
  expect(explainConnectError('handshake failed', target({ tls: true })).message).toMatch(
    /\(namespace leads, TLS\): handshake failed; if the server requires a client certificate \(mTLS\), set TEMPORAL_TLS_CLIENT_CERT_PATH/,
  );
  // Already carrying a certificate or a key: only the profile hint is left.
  const mtls = target({ tls: { clientCertPair: { crt: Buffer.from('c'), key: Buffer.from('k') } } });
  expect(explainConnectError(refused, mtls).message).toBe(
    'Temporal at temporal.internal:7233 is unreachable (namespace leads, TLS, client certificate): transport error; or select a temporal.toml profile with TEMPORAL_PROFILE',
  );
  expect(explainConnectError(refused, target({ tls: true, apiKey: 'k' })).message).toMatch(
    /\(namespace leads, TLS, API key\): transport error; or select a temporal.toml profile/,
  );
});

test('a temporal.toml profile chosen by TEMPORAL_PROFILE, with the environment overriding it', () => {
  const file = path.join(dir, 'temporal.toml');
  fs.writeFileSync(
    file,
    [
      '[profile.default]',
      'address = "127.0.0.1:7233"',
      '[profile.cloud]',
      'address = "leads.a1b2c.tmprl.cloud:7233"',
      'namespace = "leads.a1b2c"',
      'api_key = "from-the-profile-0123456789"',
    ].join('\n'),
  );
  const target = temporalTarget({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'cloud' });
  expect(target).toMatchObject({
    connection: { address: 'leads.a1b2c.tmprl.cloud:7233', apiKey: 'from-the-profile-0123456789', tls: true },
    namespace: 'leads.a1b2c',
    configured: true,
  });
  const overridden = temporalTarget({
    TEMPORAL_CONFIG_FILE: file,
    TEMPORAL_PROFILE: 'cloud',
    TEMPORAL_NAMESPACE: 'other',
  });
  expect(overridden.namespace).toBe('other');
  expect(() => temporalTarget({ TEMPORAL_CONFIG_FILE: file, TEMPORAL_PROFILE: 'nope' })).toThrow(
    /TEMPORAL_PROFILE.*Profile 'nope' not found/,
  );
});

test('the gateway sends the API key as a bearer token over TLS', async () => {
  const certs = makeTestCerts(path.join(dir, 'certs'));
  const seen: http2.IncomingHttpHeaders[] = [];
  // A stand-in for Temporal's frontend: records each gRPC call's headers and answers UNAUTHENTICATED.
  const server = http2.createSecureServer({
    key: fs.readFileSync(certs.serverKey),
    cert: fs.readFileSync(certs.serverCert),
  });
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (session) => sessions.add(session));
  server.on('stream', (stream, headers) => {
    seen.push(headers);
    stream.respond(
      { ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '16', 'grpc-message': 'test' },
      { endStream: true },
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const target = temporalTarget({
      ...noFile,
      TEMPORAL_ADDRESS: `127.0.0.1:${(server.address() as AddressInfo).port}`,
      TEMPORAL_API_KEY: 'cloud-api-key-0123456789',
      TEMPORAL_TLS_SERVER_CA_CERT_PATH: certs.caCert,
      TEMPORAL_TLS_SERVER_NAME: 'localhost',
    });
    const gateway = new TemporalClient({
      ...target.connection,
      namespace: target.namespace,
      taskQueue: 'unused',
      callTimeoutMs: 5000,
    });
    await gateway.ping();
    await gateway.close();
    expect(seen.length).toBeGreaterThan(0);
    for (const headers of seen) {
      expect(headers.authorization).toBe('Bearer cloud-api-key-0123456789');
      expect(headers[':scheme']).toBe('https');
    }
  } finally {
    for (const session of sessions) session.destroy(); // the client's channel would hold them open
    await new Promise((resolve) => server.close(resolve));
  }
}, 30_000);
