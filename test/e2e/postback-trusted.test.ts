// Postbacks that must succeed, and the edges of who is trusted: signed postbacks applied (GET, form, JSON, gzip,
// the signature as a parameter, ts in milliseconds), JSON numbers read as their text, blank and unfilled
// optional parameters absent, names in any letter case, a name repeated with its value, &amp; separators, the
// token as a Bearer header, IP allowlists passing (single address, CIDR, IPv6, allowlist alone), the client
// address behind one proxy hop, signature downgrade refused, and the identical signed retry after a 503
// applied once.
import { gzipSync } from 'node:zlib';
import { PostbackClaim, PostbackLog } from '../../shared/models';
import { signParams } from '../../shared/signature';
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { postJson } from '../support/stack';
import {
  ACME_TOKEN,
  applied,
  historyOf,
  HMAC_SECRET,
  nowSeconds,
  partnersConfig,
  pendingLead,
  refusal,
  repeated,
  send,
  signedPost,
  signedQuery,
  SOURCE_KEY,
  unloggedPostbackService,
  verticalPartner,
  waitForStatus,
} from '../support/postbacks';

const { stack } = useStack({
  config: ({ partner, source }) => {
    const config = partnersConfig(partner.url, source.url);
    /** A partner of its own vertical, so a test decides which partner gets each lead. */
    const partnerFor = (id: string, vertical: string, postback: Record<string, unknown>) =>
      verticalPartner(partner.url, id, vertical, postback, { payout: 5 });
    config.partners.push(
      partnerFor('strict', 'boats', { hmacSecret: HMAC_SECRET, token: 'strict-token-123' }),
      partnerFor('lax', 'pets', { hmacSecret: HMAC_SECRET, token: 'lax-token-1234', allowUnsigned: true }),
      partnerFor('only-ip', 'travel', { ipAllowlist: ['127.0.0.1'] }),
      partnerFor('cidr', 'health', { token: 'cidr-token-123', ipAllowlist: ['10.1.0.0/16', '127.0.0.0/8'] }),
      partnerFor('v6', 'legal', { token: 'v6-token-12345', ipAllowlist: ['::1', '2001:db8::/32'] }),
      partnerFor('proxied', 'tax', { token: 'proxied-token-1', ipAllowlist: ['203.0.113.7'] }),
      // A conversion-only tracker: a postback without a status is a sale.
      partnerFor('tracker', 'garden', { token: 'tracker-token-12', defaultStatus: 'accepted' }),
    );
    return config;
  },
  // One proxy hop in front of the gateway: the client is the last X-Forwarded-For entry (or the socket).
  stack: { gateway: { trustProxy: 1 } },
});

const settled = (leadId: string) => stack.client.workflow.getHandle(leadWorkflowId(leadId)).result();

describe('signed postbacks are applied', () => {
  test('GET with the signature over the query string', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-get');
    const signed = signedQuery({ subid: leadId, status: 'approved', payout: '4.20', ts: nowSeconds() });
    expect(await send(stack.baseUrl, { path: '/postback/signed', ...signed })).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(420);
  });

  test('the signature header written as webhook libraries write it (sha256=<hex>, upper case) is that signature', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-prefixed');
    const signed = signedQuery({ subid: leadId, status: 'approved', ts: nowSeconds() });
    const prefixed = { 'x-signature': ` SHA256=${signed.headers['x-signature']?.toUpperCase()}` };
    expect(
      await send(stack.baseUrl, { path: '/postback/signed', query: signed.query, headers: prefixed }),
    ).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
    // The prefix names the algorithm: another one is not this signature.
    const other = { 'x-signature': `sha1=${signed.headers['x-signature']}` };
    expect(
      await send(stack.baseUrl, { path: '/postback/signed', query: signed.query, headers: other }),
    ).toMatchObject(refusal(403, 'bad_signature'));
  });

  test('ts in milliseconds (signing code written with Date.now()) is read as such, window and all', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-ms');
    const stale = signedQuery({ subid: leadId, status: 'approved', ts: String(Date.now() - 3_600_000) });
    expect(await send(stack.baseUrl, { path: '/postback/signed', ...stale })).toMatchObject(
      refusal(403, 'bad_signature'),
    );
    const fresh = signedQuery({ subid: leadId, status: 'approved', ts: String(Date.now()) });
    expect(await send(stack.baseUrl, { path: '/postback/signed', ...fresh })).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
  });

  test('GET with the signature as a `signature` parameter, for platforms that cannot set a header', async () => {
    const leadId = await pendingLead(stack, 'boats', 'clk-signed-param');
    const params = { subid: leadId, status: 'approved', payout: '3.10', ts: nowSeconds() };
    const query = new URLSearchParams({ ...params, signature: signParams(HMAC_SECRET, params) }).toString();
    expect(await send(stack.baseUrl, { path: '/postback/strict', query })).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(310);
    // The same URL again is the same signature: refused as a replay, never applied twice.
    expect(await send(stack.baseUrl, { path: '/postback/strict', query })).toMatchObject({
      status: 403,
      body: { error: { code: 'replayed_signature' } },
    });
    // A wrong one is refused like a wrong header.
    const forged = new URLSearchParams({
      ...params,
      ts: nowSeconds(),
      signature: 'ab'.repeat(32),
    }).toString();
    expect(await send(stack.baseUrl, { path: '/postback/strict', query: forged })).toMatchObject({
      status: 403,
      body: { error: { code: 'bad_signature' } },
    });
  });

  test('POST form, with the signature over query and body together', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-form');
    const params = { subid: leadId, status: 'approved', ts: nowSeconds() };
    const res = await send(stack.baseUrl, signedPost('/postback/signed', params, 'form', { payout: '6.50' }));
    expect(res).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(650);
  });

  test('POST JSON, without the partner in the path', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-json');
    const params = { subid: leadId, status: 'declined', ts: nowSeconds() };
    const res = await send(stack.baseUrl, signedPost('/postback', params, 'json'));
    expect(res).toEqual(applied(leadId, 'rejected'));
    await waitForStatus(leadId, 'rejected');
  });

  test('POST JSON compressed with gzip (content-encoding), signed over the inflated parameters', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-gzip');
    const params = { subid: leadId, status: 'approved', ts: nowSeconds() };
    const req = signedPost('/postback/signed', params, 'json', { payout: '7.25' });
    const zipped = {
      ...req,
      body: gzipSync(String(req.body)),
      headers: { ...req.headers, 'content-encoding': 'gzip' },
    };
    expect(await send(stack.baseUrl, zipped)).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(725);
  });
});

describe('JSON bodies with numbers, as networks that post JSON send them', () => {
  test("status code, payout and txid as numbers, under the partner's own names: applied as their text", async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-json-numbers');
    const body = `{"clickid":"${leadId}","st":2,"payout":12.5,"transaction_id":987654321,"key":"net-token-12345","note":null}`;
    const res = await send(stack.baseUrl, { path: '/postback/net', body, contentType: 'application/json' });
    expect(res).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(1250);
    const log = await PostbackLog.findOne({ leadId, outcome: 'applied' }).lean();
    expect(log).toMatchObject({ rawStatus: '2', txid: '987654321', payoutCents: 1250 });
    // The same txid again, now as a string: the same transaction, a duplicate.
    const again = `{"clickid":"${leadId}","st":"2","transaction_id":"987654321","key":"net-token-12345"}`;
    const repeat = await send(stack.baseUrl, {
      path: '/postback/net',
      body: again,
      contentType: 'application/json',
    });
    expect(repeat.body).toMatchObject({ ok: true, duplicate: true });
  });

  test('signed, with ts and payout as numbers: the signature is over their text', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-json-numbers-signed');
    const ts = Math.floor(Date.now() / 1000);
    const signature = signParams(HMAC_SECRET, {
      subid: leadId,
      status: 'approved',
      payout: '4.2',
      ts: String(ts),
    });
    const body = JSON.stringify({ subid: leadId, status: 'approved', payout: 4.2, ts });
    const res = await send(stack.baseUrl, {
      path: '/postback/signed',
      body,
      contentType: 'application/json',
      headers: { 'x-signature': signature },
    });
    expect(res).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(420);
  });
});

describe('what network templates send when they have no value', () => {
  test('blank and unfilled optional parameters are absent: a hold then its approval, both applied', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-unfilled-macros');
    // The network's template: clickid={aff_sub}&st={status}&payout={payout}&currency={currency}&transaction_id={transaction_id}
    const postback = (st: string) => ({
      path: '/postback/net',
      query: new URLSearchParams({
        clickid: leadId,
        st,
        payout: ' ',
        currency: '{currency}',
        transaction_id: '{transaction_id}',
        key: 'net-token-12345',
      }).toString(),
    });
    expect(await send(stack.baseUrl, postback('1'))).toEqual(applied(leadId, 'pending'));
    await waitForStatus(leadId, 'pending');
    // The unfilled txid was not kept as one, or the approval would be answered as its duplicate.
    expect(await send(stack.baseUrl, postback('2'))).toEqual(applied(leadId));
    const lead = await waitForStatus(leadId, 'accepted');
    expect(lead).toMatchObject({ payoutCents: 900, currency: 'USD' });
  });

  test("a status macro left unfilled is a status not sent: a conversion-only tracker's default applies", async () => {
    const leadId = await pendingLead(stack, 'garden', 'clk-unfilled-status');
    const query = `subid=${leadId}&status={status}&token=tracker-token-12`;
    expect(await send(stack.baseUrl, { path: '/postback/tracker', query })).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
  });

  test('a chargeback with its amount negative (the sale reversed) is applied; a negative approval is not', async () => {
    const leadId = await pendingLead(stack, 'auto', 'clk-negative-return');
    const postback = (status: string, payout: string) =>
      send(stack.baseUrl, {
        path: '/postback/acme',
        query: new URLSearchParams({ subid: leadId, status, payout, token: ACME_TOKEN }).toString(),
      });
    expect(await postback('approved', '-12.50')).toMatchObject(refusal(400, 'invalid_request'));
    expect(await postback('approved', '12.50')).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
    expect(await postback('chargeback', '-12.50')).toEqual(applied(leadId, 'returned'));
    const lead = await waitForStatus(leadId, 'returned');
    expect(lead).toMatchObject({ revenueCents: 0 });
    const logged = await PostbackLog.findOne({ leadId, outcome: 'applied', status: 'returned' }).lean();
    expect(logged?.payoutCents).toBe(1250);
  });

  test('parameter names in another letter case (ClickID, ST, Payout) are read as the partner names them', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-name-case');
    const query = new URLSearchParams({ ClickID: leadId, ST: '2', Payout: '4.50', Key: 'net-token-12345' });
    expect(await send(stack.baseUrl, { path: '/postback/net', query: query.toString() })).toEqual(
      applied(leadId),
    );
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(450);
  });
});

describe('how partner platforms send the URL and the token', () => {
  test('the partner id of the path in another letter case (a platform that lowercases or capitalises URLs) is that partner', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-path-case');
    const query = new URLSearchParams({ clickid: leadId, st: '2', key: 'net-token-12345' }).toString();
    expect(await send(stack.baseUrl, { path: '/postback/NET', query })).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
    // Still that partner's postback: its credentials, its names, its log line.
    const forged = new URLSearchParams({ clickid: leadId, st: '2', key: 'wrong-token-123' }).toString();
    expect(await send(stack.baseUrl, { path: '/postback/Net', query: forged })).toMatchObject(
      refusal(401, 'bad_credentials'),
    );
    const logged = await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean();
    expect(logged.map((l) => [l.partnerId, l.outcome])).toEqual([
      ['net', 'applied'],
      ['net', 'rejected'],
    ]);
  });

  test('a parameter repeated with the same value (a template appended to a URL that had it) is that value', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-repeated');
    const query = `clickid=${leadId}&st=2&key=net-token-12345&clickid=${leadId}&st=2`;
    expect(await send(stack.baseUrl, { path: '/postback/net', query })).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
  });

  test('a subid with a stray space or line break around it (a pasted template) is that subid', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-subid-spaces');
    const query = `clickid=+${leadId}%0A&st=2&key=net-token-12345`;
    expect(await send(stack.baseUrl, { path: '/postback/net', query })).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
    // Blank once trimmed is no subid at all.
    const blank = await send(stack.baseUrl, {
      path: '/postback/net',
      query: 'clickid=+%20&st=2&key=net-token-12345',
    });
    expect(blank).toMatchObject(refusal(400, 'invalid_request'));
  });

  test('a form body with a parameter repeated with the same value is that value; different values are a 400', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-form-repeated');
    const form = (st2: string) =>
      send(stack.baseUrl, {
        path: '/postback/net',
        body: `clickid=${leadId}&st=2&key=net-token-12345&st=${st2}`,
        contentType: 'application/x-www-form-urlencoded',
      });
    expect(await form('3')).toMatchObject(refusal(400, 'invalid_request'));
    expect(await form('2')).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
  });

  test('a doubled slash in the path (a base URL ending in "/" joined with "/postback/...") reaches the route', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-double-slash');
    const query = `clickid=${leadId}&st=1&key=net-token-12345`;
    expect(await send(stack.baseUrl, { path: '//postback/net', query })).toEqual(applied(leadId, 'pending'));
    const approval = `clickid=${leadId}&st=2&key=net-token-12345`;
    expect(await send(stack.baseUrl, { path: '/postback//net', query: approval })).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
  });

  test('a URL copied from an HTML page, its separators escaped as &amp;, is read as written', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-html-escaped');
    const query = `clickid=${leadId}&amp;st=2&amp;payout=3.25&amp;key=net-token-12345`;
    expect(await send(stack.baseUrl, { path: '/postback/net', query })).toEqual(applied(leadId));
    expect((await waitForStatus(leadId, 'accepted')).payoutCents).toBe(325);
  });

  test('the token in an Authorization: Bearer header; a wrong one is refused', async () => {
    const leadId = await pendingLead(stack, 'loans', 'clk-bearer');
    const postback = (token: string) =>
      send(stack.baseUrl, {
        path: '/postback/net',
        query: `clickid=${leadId}&st=2`,
        headers: { authorization: `Bearer ${token}` },
      });
    expect(await postback('net-token-wrong')).toMatchObject(refusal(401, 'bad_credentials'));
    expect(await postback('net-token-12345')).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
    // The header is a secret: the log keeps it redacted.
    const logged = await PostbackLog.findOne({ leadId, outcome: 'applied' }).lean();
    expect((logged?.headers as Record<string, string>).authorization).toBe('[redacted]');
  });
});

describe('signature downgrade', () => {
  test('a partner with an hmacSecret refuses its token alone (401), unless allowUnsigned', async () => {
    const [strict, lax] = await Promise.all([
      pendingLead(stack, 'boats', 'clk-strict'),
      pendingLead(stack, 'pets', 'clk-lax'),
    ]);
    const tokenOnly = await send(stack.baseUrl, {
      path: '/postback/strict',
      query: new URLSearchParams({ subid: strict, status: 'approved', token: 'strict-token-123' }).toString(),
    });
    expect(tokenOnly).toMatchObject({ status: 401, body: { error: { code: 'missing_credentials' } } });
    const signed = signedQuery({ subid: strict, status: 'approved', ts: nowSeconds() });
    expect(await send(stack.baseUrl, { path: '/postback/strict', ...signed })).toEqual(applied(strict));

    const laxToken = await send(stack.baseUrl, {
      path: '/postback/lax',
      query: new URLSearchParams({ subid: lax, status: 'approved', token: 'lax-token-1234' }).toString(),
    });
    expect(laxToken).toEqual(applied(lax));
    await Promise.all([waitForStatus(strict, 'accepted'), waitForStatus(lax, 'accepted')]);
  });
});

describe('IP allowlists that pass', () => {
  test('a single address, with no token (allowlist-only partner)', async () => {
    const leadId = await pendingLead(stack, 'travel', 'clk-only-ip');
    const res = await send(stack.baseUrl, {
      path: '/postback/only-ip',
      query: new URLSearchParams({ subid: leadId, status: 'approved' }).toString(),
    });
    expect(res).toEqual(applied(leadId));
    await waitForStatus(leadId, 'accepted');
  });

  test('a CIDR entry (the second of two)', async () => {
    const leadId = await pendingLead(stack, 'health', 'clk-cidr');
    const res = await send(stack.baseUrl, {
      path: '/postback/cidr',
      query: new URLSearchParams({ subid: leadId, status: 'approved', token: 'cidr-token-123' }).toString(),
    });
    expect(res).toEqual(applied(leadId));
  });

  test('IPv6 entries: ::1 and a /32, the address given by the proxy hop', async () => {
    const [one, net] = await Promise.all([
      pendingLead(stack, 'legal', 'clk-v6-one'),
      pendingLead(stack, 'legal', 'clk-v6-net'),
    ]);
    const pb = (leadId: string, from: string) =>
      send(stack.baseUrl, {
        path: '/postback/v6',
        query: new URLSearchParams({ subid: leadId, status: 'approved', token: 'v6-token-12345' }).toString(),
        headers: { 'x-forwarded-for': from },
      });
    expect(await pb(one, '2001:db9::1')).toMatchObject(refusal(403, 'ip_not_allowed'));
    expect(await pb(one, '::1')).toEqual(applied(one));
    expect(await pb(net, '2001:db8:0:1::25')).toEqual(applied(net));
  });
});

describe('TRUST_PROXY as a hop count', () => {
  test('with one hop, only the last X-Forwarded-For entry is the client: a forged allowed address is refused', async () => {
    const leadId = await pendingLead(stack, 'tax', 'clk-proxied');
    const pb = (xff: string) =>
      send(stack.baseUrl, {
        path: '/postback/proxied',
        query: new URLSearchParams({
          subid: leadId,
          status: 'approved',
          token: 'proxied-token-1',
        }).toString(),
        headers: { 'x-forwarded-for': xff },
      });
    // The client wrote "203.0.113.7"; the proxy appended the address it really came from.
    expect(await pb('203.0.113.7, 198.51.100.9')).toMatchObject(refusal(403, 'ip_not_allowed'));
    expect(await pb('203.0.113.7')).toEqual(applied(leadId));
    const logs = await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean();
    expect(logs.map((l) => [l.ip, l.outcome])).toEqual([
      ['198.51.100.9', 'rejected'],
      ['203.0.113.7', 'applied'],
    ]);
  });
});

describe('the identical signed retry after a 503', () => {
  test('refused 503 because the delivery was not recorded yet: the same request later is applied, then a replay', async () => {
    await stack.stopWorker();
    let leadId: string;
    try {
      const created = await postJson(
        `${stack.baseUrl}/leads`,
        { clickId: 'clk-signed-early', vertical: 'home', geo: { country: 'US' } },
        SOURCE_KEY,
      );
      leadId = created.body.leadId as string;
      const signed = signedQuery({ subid: leadId, status: 'approved', ts: nowSeconds() });
      const early = await send(stack.baseUrl, { path: '/postback/signed', ...signed });
      expect(early).toMatchObject({ status: 503, body: { error: { code: 'dependency_unavailable' } } });
      await stack.startWorker();
      await waitForStatus(leadId, 'pending');
      expect(await send(stack.baseUrl, { path: '/postback/signed', ...signed })).toEqual(applied(leadId));
      // The same signature once more: refused as a replay, no second effect.
      expect(await send(stack.baseUrl, { path: '/postback/signed', ...signed })).toMatchObject(
        refusal(403, 'replayed_signature'),
      );
    } finally {
      if (!stack.worker) await stack.startWorker();
    }
    await waitForStatus(leadId, 'accepted');
    await settled(leadId);
    expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
    expect(await PostbackClaim.countDocuments({ leadId })).toBe(1);
  });

  test('refused 503 because its log line could not be written: the retry is a duplicate, not a replay', async () => {
    const leadId = await pendingLead(stack, 'home', 'clk-signed-unlogged');
    const service = await unloggedPostbackService(stack);
    const params = { subid: leadId, status: 'approved', ts: nowSeconds() };
    const signature = signParams(HMAC_SECRET, params);
    await expect(
      service.receive({
        method: 'GET',
        path: '/postback/signed',
        query: params,
        body: {},
        headers: { 'x-signature': signature },
        ip: '127.0.0.1',
        requestId: 'signed-unlogged-1',
        partnerIdFromPath: 'signed',
      }),
    ).rejects.toMatchObject({ code: 'dependency_unavailable', status: 503 });
    const retry = await send(stack.baseUrl, {
      path: '/postback/signed',
      query: new URLSearchParams(params).toString(),
      headers: { 'x-signature': signature },
    });
    expect(retry).toEqual(repeated(leadId));
    await waitForStatus(leadId, 'accepted');
    await settled(leadId);
    expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  });
});
