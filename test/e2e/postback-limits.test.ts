// Flooding and limits: query strings over the size limits refused before parsing, rate limits per partner,
// per source and per address (429 with Retry-After, logged, no effect), refused log lines that expire, and
// /metrics behind its token.
import { Housekeeper } from '../../apps/gateway/housekeeping';
import { Lead, PostbackLog } from '../../shared/models';
import { createLogger } from '../../shared/logger';
import { useStack } from '../support/e2e';
import { postJson } from '../support/stack';
import {
  ACME_TOKEN,
  bodyOf,
  partnersConfig,
  pendingLead,
  SOURCE_KEY,
  verticalPartner,
} from '../support/postbacks';

const METRICS_TOKEN = 'metrics-token-for-tests-0123';
/** Tokens refill at 1 per 100 s: nothing comes back while a test runs, so counts do not depend on timing. */
const SLOW = 0.01;

const { stack } = useStack({
  config: ({ partner, source }) => {
    const config = partnersConfig(partner.url, source.url);
    config.partners.push(
      verticalPartner(partner.url, 'limited', 'boats', {
        token: 'limited-token-1',
        rateLimit: { perSecond: SLOW, burst: 3 },
      }),
    );
    config.sources.push({
      id: 'src-slow',
      apiKey: 'key-src-slow-abcdef',
      rateLimit: { perSecond: SLOW, burst: 2 },
    });
    return {
      ...config,
      settings: {
        refusedPostbackTtl: '1h',
        authFailureRateLimit: { perSecond: SLOW, burst: 5 },
      },
    };
  },
  // Each test sends from its own address (one proxy hop trusted), so their failure budgets stay apart.
  stack: { gateway: { trustProxy: 1, metricsToken: METRICS_TOKEN } },
});

async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${stack.baseUrl}${path}`, { headers });
  return { status: res.status, retryAfter: res.headers.get('retry-after'), body: await bodyOf(res) };
}
const code = (r: { body: Record<string, unknown> }) => (r.body.error as { code?: string } | undefined)?.code;

describe('query strings over the limits', () => {
  test('over 8 KiB, or over 100 parameters: 414 query_too_large, a JSON error, logged with the query kept as text', async () => {
    const flood = Array.from({ length: 4000 }, () => 'a').join('&'); // 7999 characters, 4000 parameters
    const long = `subid=x&status=approved&token=${ACME_TOKEN}&pad=${'p'.repeat(8200)}`;
    const many = Array.from({ length: 101 }, (_, i) => `p${i}=1`).join('&');
    for (const qs of [flood, long, many]) {
      const res = await get(`/postback/acme?${qs}`, { 'x-forwarded-for': '198.51.100.60' });
      expect({ status: res.status, code: code(res) }).toEqual({ status: 414, code: 'query_too_large' });
    }
    // Any route: the limit is checked before routing.
    expect((await get(`/leads/x?${flood}`)).status).toBe(414);
    const logged = await PostbackLog.find({ errorCode: 'query_too_large' }).lean();
    expect(logged).toHaveLength(3);
    for (const line of logged) {
      expect(Object.keys(line.query as object)).toEqual(['(query)']);
      expect(((line.query as Record<string, string>)['(query)'] ?? '').length).toBeLessThanOrEqual(512);
    }
    // Exactly 100 parameters within 8 KiB is a request like any other (here: an unknown lead).
    const hundred = [`subid=nope`, `status=approved`, `token=${ACME_TOKEN}`]
      .concat(Array.from({ length: 97 }, (_, i) => `p${i}=1`))
      .join('&');
    expect(code(await get(`/postback/acme?${hundred}`, { 'x-forwarded-for': '198.51.100.61' }))).toBe(
      'invalid_request', // more than 50 parameters is not a postback (checked after parsing)
    );
  });
});

describe('rate limits', () => {
  test('a partner over its rate: 429 rate_limited with Retry-After, logged, the lead unchanged', async () => {
    const leadId = await pendingLead(stack, 'boats', 'clk-limited');
    const pb = (status: string) =>
      get(`/postback/limited?${new URLSearchParams({ subid: leadId, status, token: 'limited-token-1' })}`, {
        'x-forwarded-for': '198.51.100.70',
      });
    // Three tokens: a hold and its two repeats; the sale after them is over the limit.
    const answers = [await pb('on hold'), await pb('on hold'), await pb('on hold'), await pb('approved')];
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 429]);
    const refused = answers[3]!;
    expect(code(refused)).toBe('rate_limited');
    expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
    const logs = await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean();
    expect(logs.map((l) => [l.outcome, l.errorCode ?? null])).toEqual([
      ['applied', null],
      ['duplicate', null],
      ['duplicate', null],
      ['rejected', 'rate_limited'],
    ]);
    expect((await Lead.findById(leadId).lean())?.status).toBe('pending');
  });

  test('a source over its rate: 429 with Retry-After, no lead created', async () => {
    const key = { 'x-api-key': 'key-src-slow-abcdef' };
    const lead = (clickId: string) =>
      postJson(`${stack.baseUrl}/leads`, { clickId, vertical: 'auto', geo: { country: 'US' } }, key);
    expect((await lead('clk-slow-1')).status).toBe(202);
    expect((await lead('clk-slow-2')).status).toBe(202);
    const third = await fetch(`${stack.baseUrl}/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...key },
      body: JSON.stringify({ clickId: 'clk-slow-3', vertical: 'auto', geo: { country: 'US' } }),
    });
    expect(third.status).toBe(429);
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(((await third.json()) as { error: { code: string } }).error.code).toBe('rate_limited');
    expect(await Lead.countDocuments({ clickId: 'clk-slow-3' })).toBe(0);
    // Another source is not slowed by it.
    expect(
      (await postJson(`${stack.baseUrl}/leads`, { clickId: 'clk-other', vertical: 'auto' }, SOURCE_KEY))
        .status,
    ).toBe(202);
  });

  test('an address that keeps failing authentication is answered 429, even with the right token; others are not', async () => {
    const leadId = await pendingLead(stack, 'auto', 'clk-guessing');
    const pb = (token: string, from: string) =>
      get(`/postback/acme?${new URLSearchParams({ subid: leadId, status: 'approved', token })}`, {
        'x-forwarded-for': from,
      });
    const guesses = [];
    for (let i = 0; i < 5; i++) guesses.push(await pb(`wrong-token-${i}`, '198.51.100.80'));
    expect(guesses.map((g) => g.status)).toEqual([401, 401, 401, 401, 401]);
    const blocked = await pb(ACME_TOKEN, '198.51.100.80');
    expect({ status: blocked.status, code: code(blocked) }).toEqual({ status: 429, code: 'rate_limited' });
    expect(Number(blocked.retryAfter)).toBeGreaterThanOrEqual(1);
    expect((await Lead.findById(leadId).lean())?.status).toBe('pending');
    // The partner's real address is not held back by a stranger's guesses.
    expect((await pb(ACME_TOKEN, '198.51.100.81')).status).toBe(200);
  });
});

test('an address guessing api keys is answered 429 after its budget, even with a right key; others are not', async () => {
  const lead = (key: string, from: string) =>
    fetch(`${stack.baseUrl}/leads`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key, 'x-forwarded-for': from },
      body: JSON.stringify({ clickId: 'clk-guess-key', vertical: 'auto', geo: { country: 'US' } }),
    });
  const guesses = [];
  for (let i = 0; i < 5; i++) guesses.push((await lead(`guessed-key-${i}-abcdef`, '198.51.100.100')).status);
  expect(guesses).toEqual([401, 401, 401, 401, 401]);
  const blocked = await lead(SOURCE_KEY['x-api-key'], '198.51.100.100');
  expect(blocked.status).toBe(429);
  expect(Number(blocked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
  expect((await lead(SOURCE_KEY['x-api-key'], '198.51.100.101')).status).toBe(202);
});

test('refused postbacks are deleted after settings.refusedPostbackTtl by housekeeping; applied ones are kept', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-ttl');
  const pb = (token: string) =>
    get(`/postback/acme?${new URLSearchParams({ subid: leadId, status: 'approved', token })}`, {
      'x-forwarded-for': '198.51.100.90',
    });
  expect((await pb('not-the-token-1')).status).toBe(401);
  expect((await pb(ACME_TOKEN)).status).toBe(200);
  const lines = await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean();
  expect(lines.map((l) => [l.outcome, l.expiresAt !== undefined])).toEqual([
    ['rejected', true],
    ['applied', false],
  ]);
  const expiresIn = lines[0]!.expiresAt!.getTime() - lines[0]!.receivedAt.getTime();
  expect(expiresIn).toBe(3_600_000);
  // Housekeeping run as if two hours later.
  const later = new Date(Date.now() + 2 * 3_600_000);
  await new Housekeeper({ logger: createLogger('test', 'silent'), now: () => later }).run();
  expect((await PostbackLog.find({ leadId }).lean()).map((l) => l.outcome)).toEqual(['applied']);
});

test('/metrics with METRICS_TOKEN: 401 without it or with another, 200 with it', async () => {
  const none = await get('/metrics');
  expect({ status: none.status, code: code(none) }).toEqual({ status: 401, code: 'missing_credentials' });
  const wrong = await get('/metrics', { authorization: 'Bearer not-the-metrics-token-000' });
  expect({ status: wrong.status, code: code(wrong) }).toEqual({ status: 401, code: 'bad_credentials' });
  const right = await get('/metrics', { authorization: `Bearer ${METRICS_TOKEN}` });
  expect(right.status).toBe(200);
  expect(String(right.body.text)).toMatch(/leadrouter_postbacks_total/);
});
