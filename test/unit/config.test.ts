// Routing config validation: every problem is reported with the path an operator searches their file for.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { ConfigError, ConfigIndex, loadRoutingConfig, parseRoutingConfig } from '../../shared/config';

function valid(): {
  partners: Record<string, unknown>[];
  sources: Record<string, unknown>[];
  settings?: Record<string, unknown>;
} {
  return {
    partners: [
      {
        id: 'acme',
        delivery: { url: 'http://127.0.0.1:4010/leads' },
        postback: { token: 'acme-token-1' },
        payout: 12.5,
      },
      {
        id: 'bolt',
        delivery: { url: 'http://127.0.0.1:4011/leads' },
        postback: { hmacSecret: 'bolt-hmac-secret-0123' },
      },
    ],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
  };
}

function problems(raw: unknown): string[] {
  try {
    parseRoutingConfig(raw, 'routing.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('config was accepted');
}

test('a valid config gets its defaults and payouts in cents', () => {
  const cfg = parseRoutingConfig(valid());
  expect(cfg.partners[0]).toMatchObject({
    payoutCents: 1250,
    currency: 'USD',
    paused: false,
    routing: { priority: 1, weight: 100 },
  });
  expect(cfg.partners[1]?.payoutCents).toBeUndefined();
  expect(cfg.settings.maxPartnersPerLead).toBe(5);
});

test('a bad delivery url names partners[1].delivery.url', () => {
  const raw = valid();
  (raw.partners[1] as { delivery: { url: string } }).delivery.url = 'ftp://example.com';
  expect(problems(raw)).toEqual([expect.stringMatching(/^partners\[1\]\.delivery\.url: /)]);
});

test('duplicate partner and source ids, and duplicate api keys', () => {
  const raw = valid();
  raw.partners[1] = { ...raw.partners[1], id: 'acme' };
  raw.sources.push({ id: 'src-1', apiKey: 'key-src-1-abcdef' });
  expect(problems(raw)).toEqual(
    expect.arrayContaining([
      'partners[1].id: duplicate id "acme"',
      'sources[1].id: duplicate id "src-1"',
      'sources[1].apiKey: duplicate apiKey',
    ]),
  );
});

test("a postback path's partner id: exact, or in another letter case when only one partner folds to it", () => {
  const raw = valid();
  raw.partners.push(
    { ...raw.partners[1], id: 'Zeta' },
    { ...raw.partners[1], id: 'Twin' },
    { ...raw.partners[1], id: 'twin' },
  );
  const index = new ConfigIndex(parseRoutingConfig(raw, 'routing.yaml'));
  const idOf = (id: string) => index.partnerInPath(id)?.id;
  expect([idOf('acme'), idOf('ACME'), idOf('Acme'), idOf('zeta'), idOf('ZETA')]).toEqual([
    'acme',
    'acme',
    'acme',
    'Zeta',
    'Zeta',
  ]);
  // Two partners whose ids differ only in case: each by its own id, neither by a third spelling.
  expect([idOf('Twin'), idOf('twin'), idOf('TWIN')]).toEqual(['Twin', 'twin', undefined]);
  expect(idOf('nope')).toBeUndefined();
});

test('a partner without any postback authentication is refused', () => {
  const raw = valid();
  raw.partners[0] = { ...raw.partners[0], postback: { statusMap: { ok: 'accepted' } } };
  expect(problems(raw)).toEqual([
    expect.stringMatching(/^partners\[0\]\.postback: needs token, hmacSecret or ipAllowlist/),
  ]);
});

test('routing rules: active hours, time zone, caps, weights, patterns', () => {
  const raw = valid();
  raw.partners[0] = {
    ...raw.partners[0],
    routing: {
      weight: -1,
      dailyCap: 1.5,
      activeHours: { timezone: 'Mars/Olympus', from: '25:00', to: '06:00' },
    },
    response: { acceptedPattern: 'success=(true' },
  };
  raw.partners[1] = { ...raw.partners[1], routing: { activeHours: { from: '09:00', to: '09:00' } } };
  const found = problems(raw);
  expect(found).toEqual(
    expect.arrayContaining([
      expect.stringMatching(/^partners\[0\]\.routing\.weight: /),
      expect.stringMatching(/^partners\[0\]\.routing\.dailyCap: /),
      expect.stringMatching(/^partners\[0\]\.routing\.activeHours\.timezone: must be an IANA time zone/),
      'partners[0].routing.activeHours.from: must be HH:MM',
      expect.stringMatching(
        /^partners\[0\]\.response\.acceptedPattern: must be a valid RE2 regular expression/,
      ),
      expect.stringMatching(/^partners\[1\]\.routing\.activeHours\.to: from and to must differ/),
    ]),
  );
});

test('payout, currency, durations and maxPartnersPerLead', () => {
  const raw = valid();
  raw.partners[0] = {
    ...raw.partners[0],
    payout: '12.5.0',
    currency: 'dollars',
    postback: { token: 'acme-token-1', timeout: 'tomorrow' },
  };
  raw.settings = { maxPartnersPerLead: 0 };
  expect(problems(raw)).toEqual(
    expect.arrayContaining([
      'partners[0].payout: must be a non-negative decimal amount',
      'partners[0].currency: must be a 3-letter ISO 4217 code',
      expect.stringMatching(/^partners\[0\]\.postback\.timeout: must be milliseconds or a duration/),
      expect.stringMatching(/^settings\.maxPartnersPerLead: /),
    ]),
  );
});

test('empty or missing lists', () => {
  expect(problems({ partners: [], sources: [] })).toEqual(
    expect.arrayContaining([expect.stringMatching(/^partners: /), expect.stringMatching(/^sources: /)]),
  );
  expect(problems(null)).toEqual([expect.stringMatching(/^\(root\): /)]);
});

test('loading a file: YAML or JSON, with the file named in the error', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-'));
  const good = path.join(dir, 'routing.json');
  fs.writeFileSync(good, JSON.stringify(valid()));
  expect(loadRoutingConfig(good).partners.map((p) => p.id)).toEqual(['acme', 'bolt']);
  const bad = path.join(dir, 'routing.yaml');
  fs.writeFileSync(bad, 'partners: [\n');
  expect(() => loadRoutingConfig(bad)).toThrow(
    /invalid routing config .*routing\.yaml:\n {2}- not valid YAML/,
  );
  expect(() => loadRoutingConfig(path.join(dir, 'missing.yaml'))).toThrow(/cannot read file/);
  fs.rmSync(dir, { recursive: true, force: true });
});

test('allowUnsigned needs both a token and an HMAC secret', () => {
  const cfg = valid();
  cfg.partners[0] = { ...cfg.partners[0], postback: { token: 'acme-token-1', allowUnsigned: true } };
  expect(problems(cfg)).toEqual([
    'partners[0].postback.allowUnsigned: allowUnsigned lets the token stand in for the signature: it needs both token and hmacSecret',
  ]);
  cfg.partners[0] = {
    ...cfg.partners[0],
    postback: { token: 'acme-token-1', hmacSecret: 'acme-hmac-secret-0123', allowUnsigned: true },
  };
  expect(parseRoutingConfig(cfg).partners[0]?.postback.allowUnsigned).toBe(true);
});

test('the duplicates secret: from the file, else DUPLICATES_SECRET; required only when duplicate rules are configured', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cfg-dup-'));
  const write = (name: string, raw: unknown) => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, JSON.stringify(raw));
    return file;
  };
  try {
    // No rules, no secret: nothing to hash with, nothing asked for.
    const plain = write('plain.json', valid());
    expect(loadRoutingConfig(plain, {}).settings.duplicates).toBeUndefined();
    // No rules but a secret in the environment: kept (suppression lists hash with it), intake check off.
    expect(
      loadRoutingConfig(plain, { DUPLICATES_SECRET: 'env-secret-0123456789' }).settings.duplicates,
    ).toEqual(expect.objectContaining({ action: 'off', secret: 'env-secret-0123456789' }));

    const withRules = { ...valid(), settings: { duplicates: { action: 'flag' } } };
    const rules = write('rules.json', withRules);
    expect(() => loadRoutingConfig(rules, {})).toThrow(
      /settings\.duplicates\.secret: duplicate rules need a secret/,
    );
    expect(
      loadRoutingConfig(rules, { DUPLICATES_SECRET: 'env-secret-0123456789' }).settings.duplicates,
    ).toEqual(expect.objectContaining({ action: 'flag', secret: 'env-secret-0123456789' }));
    // A secret in the file wins over the environment.
    const own = write('own.json', {
      ...valid(),
      settings: { duplicates: { action: 'flag', secret: 'file-secret-0123456789' } },
    });
    expect(
      loadRoutingConfig(own, { DUPLICATES_SECRET: 'env-secret-0123456789' }).settings.duplicates?.secret,
    ).toBe('file-secret-0123456789');
    // A partner's own duplicate rule needs the secret too.
    const partnerRule = valid();
    partnerRule.partners[0] = { ...partnerRule.partners[0], routing: { duplicates: { window: '7d' } } };
    expect(() => loadRoutingConfig(write('partner.json', partnerRule), {})).toThrow(
      /duplicate rules need a secret/,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
