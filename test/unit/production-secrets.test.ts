// NODE_ENV=production refuses demo and short credentials, naming where each one is (config path or variable).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import {
  ConfigError,
  loadRoutingConfig,
  parseRoutingConfig,
  weakProductionSecrets,
} from '../../shared/config';

const strong = 'Zq7-long-enough-secret-01';

function config(overrides: {
  apiKey?: string;
  token?: string;
  hmacSecret?: string;
  admin?: string;
  secret?: string;
}) {
  return {
    settings: { adminApiKey: overrides.admin ?? `${strong}-admin` },
    partners: [
      {
        id: 'acme',
        delivery: { url: 'https://buyer.example/leads' },
        // `params.token` names the query parameter: never a credential, however short.
        postback: { token: overrides.token ?? `${strong}-acme`, params: { token: 'key' } },
      },
      {
        id: 'bolt',
        delivery: { url: 'https://bolt.example/leads' },
        postback: { hmacSecret: overrides.hmacSecret ?? `${strong}-bolt` },
      },
    ],
    sources: [
      {
        id: 'src-1',
        apiKey: overrides.apiKey ?? `${strong}-src`,
        ...(overrides.secret ? { secret: overrides.secret } : {}),
      },
    ],
  };
}

function writeConfig(raw: unknown): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadrouter-secrets-'));
  const file = path.join(dir, 'routing.yaml');
  fs.writeFileSync(file, YAML.stringify(raw));
  return file;
}

function refusal(file: string, env: NodeJS.ProcessEnv): string[] {
  try {
    loadRoutingConfig(file, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('the config was accepted');
}

test('strong credentials pass in production', () => {
  expect(weakProductionSecrets(parseRoutingConfig(config({})), { ADMIN_API_KEY: `${strong}-env` })).toEqual(
    [],
  );
  expect(() => loadRoutingConfig(writeConfig(config({})), { NODE_ENV: 'production' })).not.toThrow();
});

test.each([
  ['source api key, short', { apiKey: 'key-src-12' }, 'sources[0].apiKey is shorter than 16 characters'],
  ['source api key, placeholder', { apiKey: 'key-src-1-change-me' }, 'sources[0].apiKey is a placeholder'],
  ['partner token, short', { token: 'acme-token' }, 'partners[0].postback.token is shorter than 16'],
  [
    'partner token, placeholder',
    { token: 'CHANGE-ME-acme-token-123' },
    'partners[0].postback.token is a placeholder',
  ],
  [
    'hmac secret, placeholder',
    { hmacSecret: 'bolt-hmac-change-me-0123' },
    'partners[1].postback.hmacSecret is a placeholder',
  ],
  [
    'admin key, placeholder',
    { admin: 'dev-admin-key-change-me-0123456789' },
    'settings.adminApiKey is a placeholder',
  ],
  [
    'source webhook secret, placeholder',
    { secret: 'whsec_change-me_0123456789' },
    'sources[0].secret is a placeholder',
  ],
])('%s: refused in production, naming the path', (_name, overrides, message) => {
  const file = writeConfig(config(overrides));
  const problems = refusal(file, { NODE_ENV: 'production' });
  expect(problems).toEqual([expect.stringContaining(message)]);
  // Outside production the same file loads: the demo config must keep working for `npm run dev`.
  expect(() => loadRoutingConfig(file, { NODE_ENV: 'development' })).not.toThrow();
});

test('credentials in the environment are checked too, by variable name', () => {
  const file = writeConfig(config({}));
  expect(
    refusal(file, {
      NODE_ENV: 'production',
      ADMIN_API_KEY: 'change-me-admin-key-0123456789',
      DUPLICATES_SECRET: 'short',
      TEMPORAL_TLS_CLIENT_KEY_PATH: '/k', // a path to a key, not a key
      LOG_LEVEL: 'info',
    }).sort(),
  ).toEqual([
    expect.stringMatching(/^environment ADMIN_API_KEY is a placeholder/),
    expect.stringMatching(/^environment DUPLICATES_SECRET is shorter than 16/),
  ]);
});

test('the demo config shipped for npm run dev would be refused in production', () => {
  const demo = path.join(__dirname, '..', '..', 'config', 'routing.yaml');
  const problems = refusal(demo, { NODE_ENV: 'production' });
  expect(problems).toEqual(
    expect.arrayContaining([
      expect.stringContaining('settings.adminApiKey is a placeholder'),
      expect.stringContaining('sources[0].apiKey'),
    ]),
  );
});
