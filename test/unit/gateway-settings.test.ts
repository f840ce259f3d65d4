// Gateway settings with a security edge: TRUST_PROXY read as a hop count, and secrets nested in logged objects
// redacted by the one logger configuration.
import { Writable } from 'node:stream';
import pino from 'pino';
import { readEnv } from '../../shared/env';
import { REDACT_PATHS } from '../../shared/logger';

test('TRUST_PROXY: unset and false are 0 hops, true is 1, a number is that many; anything else is refused', () => {
  expect(readEnv({}).TRUST_PROXY).toBe(0);
  expect(readEnv({ TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(0);
  expect(readEnv({ TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(1);
  expect(readEnv({ TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
  expect(() => readEnv({ TRUST_PROXY: 'yes' })).toThrow(/TRUST_PROXY/);
  expect(() => readEnv({ TRUST_PROXY: '-1' })).toThrow(/TRUST_PROXY/);
});

test('secrets one and two levels down are redacted in log lines', () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const logger = pino({ redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, sink);
  logger.info(
    {
      source: { id: 's', apiKey: 'key-src-secret-1' },
      partner: { id: 'p', postback: { token: 'tok-secret-2', hmacSecret: 'hmac-secret-3' } },
      settings: { adminApiKey: 'admin-secret-4' },
      req: { headers: { authorization: 'Bearer secret-5', 'x-api-key': 'secret-6' } },
    },
    'config',
  );
  const line = lines.join('');
  for (const secret of [
    'key-src-secret-1',
    'tok-secret-2',
    'hmac-secret-3',
    'admin-secret-4',
    'secret-5',
    'secret-6',
  ])
    expect(line).not.toContain(secret);
  expect(JSON.parse(line)).toMatchObject({ source: { id: 's', apiKey: '[redacted]' }, partner: { id: 'p' } });
});
