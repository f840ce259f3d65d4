// Delivery and source-notification variants end to end on the real servers: form and GET bodies, custom
// headers, what a lead's own fields may not overwrite, retries, refusals, signatures and other currencies.
import { Webhook } from 'standardwebhooks';
import { Delivery, Notification } from '../../shared/models';
import { startRecorder, type Recorder, type RecordedRequest } from '../support/recorder';
import { eventually, getJson, leadReaches, postJson, type Stack, startStack } from '../support/stack';

const SIGNING_SECRET = `whsec_${Buffer.from('a source signing secret, 32 bytes').toString('base64')}`;
const KEYS = {
  plain: { 'x-api-key': 'key-plain-abcdef' },
  signedGet: { 'x-api-key': 'key-signed-get-abcdef' },
} as const;

let stack: Stack;
let partner: Recorder;
let source: Recorder;

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
    ],
  };
}

beforeAll(async () => {
  [partner, source] = await Promise.all([startRecorder(), startRecorder()]);
  partner.answer = () => ({ body: { status: 'approved' } });
  stack = await startStack({ config: config() });
}, 60_000);

afterAll(async () => {
  await stack?.stop();
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
