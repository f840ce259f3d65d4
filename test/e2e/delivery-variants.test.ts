// Delivery and source-notification variants end to end on the real servers: form and GET bodies, custom
// headers, what a lead's own fields may not overwrite, retries, refusals, signatures and other currencies.
import { Webhook } from 'standardwebhooks';
import { Delivery, Notification } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { freePort } from '../../scripts/util';
import { useStack } from '../support/e2e';
import { startRecorder, type Recorder, type RecordedRequest } from '../support/recorder';
import { eventually, getJson, leadReaches, postJson } from '../support/stack';

const SIGNING_SECRET = `whsec_${Buffer.from('a source signing secret, 32 bytes').toString('base64')}`;
const RAW_SECRET = 'raw-signing-secret-0123456789';
const KEYS = {
  plain: { 'x-api-key': 'key-plain-abcdef' },
  signedGet: { 'x-api-key': 'key-signed-get-abcdef' },
  signedPost: { 'x-api-key': 'key-signed-post-abcdef' },
  silent: { 'x-api-key': 'key-silent-abcdef' },
} as const;

let partner: Recorder;
let source: Recorder;
/** A port nothing listens on: connections to it are refused. */
let closedPort: number;

/** A partner that takes only leads of one vertical, so each test picks its partner by the lead's vertical. */
function partnerFor(id: string, delivery: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  return {
    id,
    delivery: { url: `${partner.url}/${id}`, timeoutMs: 2000, maxAttempts: 3, ...delivery },
    response: { statusPath: 'status', payoutPath: 'price' },
    postback: { token: `${id}-token-123`, timeout: '1h' },
    routing: { filters: { vertical: [id] } },
    payout: 12.5,
    ...extra,
  };
}

function config() {
  return {
    partners: [
      partnerFor('form', { format: 'form', headers: { 'x-partner-key': 'pk-form-1' } }),
      partnerFor('get', { method: 'GET', headers: { authorization: 'Bearer get-partner' } }),
      partnerFor('flaky', {}),
      partnerFor('refused', { url: `http://127.0.0.1:${closedPort}/leads`, maxAttempts: 2 }),
      partnerFor('slow', { timeoutMs: 300, maxAttempts: 2 }),
      partnerFor('gone', { maxAttempts: 10 }),
      partnerFor('badpay', {}, { payout: 7.25 }),
      partnerFor('eur', {}, { payout: 5, currency: 'EUR' }),
    ],
    sources: [
      {
        id: 'plain',
        apiKey: KEYS.plain['x-api-key'],
        postbackUrl: `${source.url}/plain?clickid={clickid}&status={status}&payout={payout}&currency={currency}`,
        notify: { initialInterval: 100, maxInterval: 500, maxDuration: '1m' },
      },
      {
        id: 'signed-get',
        apiKey: KEYS.signedGet['x-api-key'],
        postbackUrl: `${source.url}/signed-get?api_key=source-own-secret&clickid={clickid}&status={status}&payout={payout}`,
        secret: SIGNING_SECRET,
        notify: { initialInterval: 100, maxInterval: 500, maxDuration: '1m' },
      },
      {
        id: 'signed-post',
        apiKey: KEYS.signedPost['x-api-key'],
        postbackUrl: `${source.url}/signed-post`,
        postbackMethod: 'POST',
        secret: RAW_SECRET,
        notify: { initialInterval: 100, maxInterval: 500, maxDuration: '1m' },
      },
      { id: 'silent', apiKey: KEYS.silent['x-api-key'] },
    ],
  };
}

beforeAll(async () => {
  [partner, source, closedPort] = await Promise.all([startRecorder(), startRecorder(), freePort()]);
  partner.answer = (req, n) => {
    if (req.url.startsWith('/flaky'))
      return n === 0 ? { status: 408 } : n === 1 ? { status: 429 } : { body: { status: 'approved' } };
    if (req.url.startsWith('/slow')) return { delayMs: 3000 };
    if (req.url.startsWith('/gone')) return { status: 503 };
    if (req.url.startsWith('/badpay')) return { body: { status: 'approved', price: 'lots' } };
    if (req.url.startsWith('/eur')) return { body: { status: 'approved', price: '9.90' } };
    return { body: { status: 'approved' } };
  };
  source.answer = (req, n) => (req.url.startsWith('/signed-post') && n === 0 ? { status: 500 } : {});
});

const { stack } = useStack({ partners: {}, source: false, config });

afterAll(async () => {
  await partner?.stop();
  await source?.stop();
});

async function submit(lead: Record<string, unknown>, key: Record<string, string> = KEYS.plain) {
  const res = await postJson(`${stack.baseUrl}/leads`, lead, key);
  expect(res.status).toBe(202);
  return res.body.leadId as string;
}

/** The one request the partner got for this lead, found by the leadId anywhere in it. */
function deliveryOf(leadId: string, path: string): Promise<RecordedRequest> {
  return eventually(
    async () => partner.to(path).find((r) => r.url.includes(leadId) || r.body.includes(leadId)),
    20_000,
    `delivery of ${leadId}`,
  );
}

/** Lead fields named like what leadrouter sends: the subid field, leadId, sourceId, and geo's country. */
const hostileFields = {
  geo: { country: 'US', zip: '10001' },
  contact: { subid: 'forged-subid', email: 'a@example.com', country: 'FR' },
  data: { leadId: 'forged-lead', sourceId: 'forged-source', email: 'b@example.com' },
};

describe('flat bodies (form, GET): what leadrouter sends is never overwritten by a lead field', () => {
  test('form POST with custom headers', async () => {
    const leadId = await submit({ vertical: 'form', ...hostileFields });
    const req = await deliveryOf(leadId, '/form');
    expect(req.method).toBe('POST');
    expect(req.headers['content-type']).toBe('application/x-www-form-urlencoded');
    expect(req.headers['x-partner-key']).toBe('pk-form-1');
    expect(Object.fromEntries(new URLSearchParams(req.body))).toEqual({
      subid: leadId,
      vertical: 'form',
      country: 'US',
      zip: '10001',
      email: 'a@example.com',
      'contact.subid': 'forged-subid',
      'contact.country': 'FR',
      'data.leadId': 'forged-lead',
      'data.sourceId': 'forged-source',
      'data.email': 'b@example.com',
    });
    await leadReaches(stack, leadId, 'accepted', KEYS.plain);
  });

  test('GET with custom headers: the fields travel in the query string', async () => {
    const leadId = await submit({ vertical: 'get', ...hostileFields });
    const req = await deliveryOf(leadId, '/get');
    expect(req.method).toBe('GET');
    expect(req.body).toBe('');
    expect(req.headers.authorization).toBe('Bearer get-partner');
    const query = new URL(req.url, partner.url).searchParams;
    expect(query.get('subid')).toBe(leadId);
    expect(query.get('country')).toBe('US');
    expect(query.get('contact.subid')).toBe('forged-subid');
    expect(query.get('data.leadId')).toBe('forged-lead');
    expect(query.getAll('subid')).toHaveLength(1);
    await leadReaches(stack, leadId, 'accepted', KEYS.plain);
  });
});

test('a field name holding NUL is a 400 naming the field, and nothing is stored', async () => {
  const res = await postJson(
    `${stack.baseUrl}/leads`,
    { leadId: 'nul-name-lead-1', contact: { 'e\u0000mail': 'x' } },
    KEYS.plain,
  );
  expect(res.status).toBe(400);
  expect(res.body).toMatchObject({
    error: {
      code: 'invalid_request',
      issues: [{ path: 'contact.e\u0000mail', message: expect.any(String) }],
    },
  });
  expect((await getJson(`${stack.baseUrl}/leads/nul-name-lead-1`, KEYS.plain)).status).toBe(404);
});

test('a signed GET notification signs its URL, and the stored URL has no credentials', async () => {
  const leadId = await submit({ vertical: 'form', clickId: 'clk-signed-get' }, KEYS.signedGet);
  const hit = await eventually(
    async () => source.to('/signed-get').find((r) => r.url.includes('clk-signed-get')),
    20_000,
    'signed notification',
  );
  expect(hit.method).toBe('GET');
  // What the receiver sees: the URL it was called at, checked by the library's own verifier.
  const wh = new Webhook(SIGNING_SECRET);
  const calledAt = `${source.url}${hit.url}`;
  expect(wh.verify(JSON.stringify(calledAt), hit.headers as Record<string, string>)).toBe(calledAt);
  expect(hit.headers['webhook-id']).toBe(`${leadId}.accepted`);
  // Parameters are covered: the same headers over a URL with another status do not verify.
  const forged = `${source.url}${hit.url.replace('status=accepted', 'status=rejected')}`;
  expect(() => wh.verify(JSON.stringify(forged), hit.headers as Record<string, string>)).toThrow(
    /No matching signature/,
  );

  const stored = await eventually(
    async () => (await Notification.findOne({ leadId }).lean()) ?? undefined,
    20_000,
    'stored notification',
  );
  expect(stored.url).toContain('api_key=redacted');
  expect(stored.url).toContain('clickid=clk-signed-get');
  expect(stored.url).not.toContain('source-own-secret');
  expect(await Delivery.countDocuments({ leadId })).toBe(1);
});

/** The lead's delivery attempts in order, as stored. */
async function attempts(leadId: string) {
  const rows = await Delivery.find({ leadId }).sort({ attempt: 1 }).lean();
  return rows.map((d) => ({
    attempt: d.attempt,
    outcome: d.outcome,
    httpStatus: d.httpStatus,
    reason: d.reason,
  }));
}

describe('delivery failures', () => {
  test('408 and 429 are retried like a 5xx, and the third attempt is taken', async () => {
    const leadId = await submit({ vertical: 'flaky' });
    await leadReaches(stack, leadId, 'accepted', KEYS.plain);
    expect(await attempts(leadId)).toEqual([
      { attempt: 1, outcome: 'error', httpStatus: 408, reason: 'HTTP 408' },
      { attempt: 2, outcome: 'error', httpStatus: 429, reason: 'HTTP 429' },
      { attempt: 3, outcome: 'accepted', httpStatus: 200, reason: undefined },
    ]);
  });

  test('a refused connection is retried up to maxAttempts, then the lead fails', async () => {
    const leadId = await submit({ vertical: 'refused' });
    await leadReaches(stack, leadId, 'failed', KEYS.plain);
    const tried = await attempts(leadId);
    expect(tried.map((t) => [t.attempt, t.outcome, t.httpStatus])).toEqual([
      [1, 'error', undefined],
      [2, 'error', undefined],
    ]);
    for (const t of tried) expect(t.reason).toMatch(/^transport error: .*ECONNREFUSED/);
  });

  test('a partner slower than its timeout is a transport error, retried, then the lead fails', async () => {
    const leadId = await submit({ vertical: 'slow' });
    await leadReaches(stack, leadId, 'failed', KEYS.plain);
    const tried = await attempts(leadId);
    expect(tried.map((t) => t.outcome)).toEqual(['error', 'error']);
    for (const t of tried) expect(t.reason).toMatch(/^transport error: .*(timeout|aborted)/i);
    expect(partner.to('/slow').filter((r) => r.body.includes(leadId))).toHaveLength(2);
  });

  test('a partner removed from the config while a delivery is retried fails at once, not retried', async () => {
    try {
      const leadId = await submit({ vertical: 'gone' });
      await deliveryOf(leadId, '/gone');
      const without = config();
      without.partners = without.partners.filter((p) => p.id !== 'gone');
      stack.useConfig(without);
      await leadReaches(stack, leadId, 'failed', KEYS.plain);
      // The second attempt found no partner: a non-retryable failure, so no third attempt was scheduled.
      const history = await stack.client.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
      const failures = (history.events ?? []).flatMap((e) =>
        e.activityTaskFailedEventAttributes ? [e.activityTaskFailedEventAttributes.failure] : [],
      );
      expect(failures).toEqual([
        expect.objectContaining({
          message: 'partner gone is not configured',
          applicationFailureInfo: expect.objectContaining({ type: 'PartnerConfigError', nonRetryable: true }),
        }),
      ]);
      const started = (history.events ?? []).find((e) => e.activityTaskStartedEventAttributes);
      expect(started?.activityTaskStartedEventAttributes?.attempt).toBe(2);
      expect(partner.to('/gone').filter((r) => r.body.includes(leadId))).toHaveLength(1);
    } finally {
      stack.useConfig(config());
    }
  });

  test('an amount the partner answers that is not an amount is ignored: the default payout applies', async () => {
    const leadId = await submit({ vertical: 'badpay' });
    const lead = await leadReaches(stack, leadId, 'accepted', KEYS.plain);
    expect(lead).toMatchObject({ partnerId: 'badpay', payout: '7.25', currency: 'USD' });
  });
});

describe('source notifications', () => {
  test('POST with a JSON body, signed, retried after a 500 under the same webhook-id', async () => {
    const leadId = await submit({ vertical: 'form', clickId: 'clk-post' }, KEYS.signedPost);
    const hits = await eventually(
      async () => {
        const mine = source.to('/signed-post').filter((r) => r.body.includes(leadId));
        return mine.length >= 2 ? mine : undefined;
      },
      20_000,
      'notification retried',
    );
    const wh = new Webhook(RAW_SECRET, { format: 'raw' });
    const values = {
      clickid: 'clk-post',
      lead_id: leadId,
      status: 'accepted',
      payout: '12.50',
      currency: 'USD',
      partner: 'form',
      source: 'signed-post',
      event_id: `${leadId}.accepted`,
    };
    for (const hit of hits) {
      expect(hit.method).toBe('POST');
      expect(hit.headers['content-type']).toBe('application/json');
      // The library's own check of the raw body against the three headers; it returns the parsed body.
      expect(wh.verify(hit.body, hit.headers as Record<string, string>)).toEqual(values);
      expect(hit.headers['webhook-id']).toBe(`${leadId}.accepted`);
    }
    expect(() => wh.verify(tampered(hits[0]!.body), hits[0]!.headers as Record<string, string>)).toThrow();
    const stored = await eventually(
      async () => {
        const rows = await Notification.find({ leadId }).sort({ attempt: 1 }).lean();
        return rows.some((r) => r.ok) ? rows : undefined;
      },
      20_000,
      'notifications stored',
    );
    expect(stored.map((r) => [r.attempt, r.ok, r.httpStatus])).toEqual([
      [1, false, 500],
      [2, true, 200],
    ]);
  });

  test('a source without a postbackUrl is skipped: the workflow closes with nothing sent', async () => {
    const before = source.requests.length;
    const leadId = await submit({ vertical: 'form', clickId: 'clk-silent' }, KEYS.silent);
    const view = await stack.client.workflow.getHandle(leadWorkflowId(leadId)).result();
    // Nothing to notify is decided when the lead is loaded: no notification activity is even scheduled.
    expect(view.status).toBe('accepted');
    expect(view.notifications).toEqual({});
    expect(await Notification.countDocuments({ leadId })).toBe(0);
    expect(source.requests.slice(before).filter((r) => r.url.includes('clk-silent'))).toEqual([]);
  });
});

test('a EUR payout stays EUR: on the lead and in the notification macros', async () => {
  const leadId = await submit({ vertical: 'eur', clickId: 'clk-eur' });
  const lead = await leadReaches(stack, leadId, 'accepted', KEYS.plain);
  expect(lead).toMatchObject({ partnerId: 'eur', payout: '9.90', currency: 'EUR' });
  const hit = await eventually(
    async () => source.to('/plain').find((r) => r.url.includes('clk-eur')),
    20_000,
    'EUR notification',
  );
  expect(Object.fromEntries(new URL(hit.url, source.url).searchParams)).toEqual({
    clickid: 'clk-eur',
    status: 'accepted',
    payout: '9.90',
    currency: 'EUR',
  });
});

/** The same body with its status changed: a signature must not carry over. */
function tampered(body: string): string {
  return body.replace('"accepted"', '"rejected"');
}
