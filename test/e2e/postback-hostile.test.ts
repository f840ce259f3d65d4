// Bad and hostile postbacks against the real stack: each gets its own clear 4xx and error code, none
// changes a lead, every one is logged (including those the body parser refuses) and no secret is stored.
import { gzipSync } from 'node:zlib';
import { Lead, Notification, PostbackClaim, PostbackLog, StatusEvent } from '../../shared/models';
import { useStack } from '../support/e2e';
import {
  ACME_TOKEN,
  applied,
  historyOf,
  HMAC_SECRET,
  nowSeconds,
  partnersConfig,
  pendingLead,
  send,
  signedQuery,
  notificationsOf,
  waitForStatus,
  type RawRequest,
} from '../support/postbacks';
import { eventually } from '../support/stack';

/** A partner that turns every lead down on delivery, so the lead moves on to the next one (waterfall). */
const lead = { acme: '', signed: '', fenced: '', net: '', moved: '', acmeScrubbed: '', signedScrubbed: '' };

const { stack, refusing } = useStack({
  partners: {
    partner: {},
    refusing: { behavior: () => ({ httpStatus: 400, body: { error: 'no thanks' } }) },
  },
  config: ({ partner, refusing, source }) => {
    const config = partnersConfig(partner.url, source.url);
    const boats = (id: string, url: string, priority: number) => ({
      id,
      delivery: { url: `${url}/leads`, timeoutMs: 2000, maxAttempts: 1 },
      postback: { token: `${id}-token-1234`, timeout: '1h' },
      routing: { priority, filters: { vertical: ['boats'] } },
    });
    config.partners.push(boats('first', refusing.url, 1), boats('second', partner.url, 2));
    return config;
  },
  ready: async ({ stack }) => {
    [lead.acme, lead.signed, lead.fenced, lead.net, lead.moved] = await Promise.all([
      pendingLead(stack, 'auto', 'clk-hostile-acme'),
      pendingLead(stack, 'home', 'clk-hostile-signed'),
      pendingLead(stack, 'solar', 'clk-hostile-fenced'),
      pendingLead(stack, 'loans', 'clk-hostile-net'),
      pendingLead(stack, 'boats', 'clk-hostile-moved'),
    ]);
    // Leads the partner has turned down: a chargeback can no longer follow (no sale to reverse), a 409. (On a
    // pending lead it could: it is queued until its approval arrives, test/e2e/postback-late.test.ts.)
    [lead.acmeScrubbed, lead.signedScrubbed] = await Promise.all([
      pendingLead(stack, 'auto', 'clk-hostile-acme-scrubbed'),
      pendingLead(stack, 'home', 'clk-hostile-signed-scrubbed'),
    ]);
    const scrub = async (leadId: string, request: RawRequest) => {
      expect((await send(stack.baseUrl, request)).status).toBe(200);
      await waitForStatus(leadId, 'rejected');
      // The source hears of the rejection after the status is written: wait for it, or it lands mid-test.
      await eventually(async () => (await notificationsOf(leadId, 'rejected')).length > 0 || undefined);
    };
    await Promise.all([
      scrub(lead.acmeScrubbed, {
        path: '/postback/acme',
        query: q({ subid: lead.acmeScrubbed, status: 'rejected', token: ACME_TOKEN }),
      }),
      scrub(lead.signedScrubbed, {
        path: '/postback/signed',
        ...signedQuery({ subid: lead.signedScrubbed, status: 'rejected', ts: nowSeconds() }),
      }),
    ]);
  },
});

interface Row {
  name: string;
  /** Built when the row runs: lead ids and timestamps are only known then. */
  request: () => RawRequest;
  status: number;
  code: string;
}

const q = (params: Record<string, string>) => new URLSearchParams(params).toString();
const acme = (extra: Record<string, string> = {}) =>
  q({ subid: lead.acme, status: 'approved', token: ACME_TOKEN, ...extra });
const json = (body: unknown): Pick<RawRequest, 'body' | 'contentType'> => ({
  body: typeof body === 'string' ? body : JSON.stringify(body),
  contentType: 'application/json',
});
const form = (body: string): Pick<RawRequest, 'body' | 'contentType'> => ({
  body,
  contentType: 'application/x-www-form-urlencoded',
});
/** A signed request whose signature is valid but whose postback cannot apply (a chargeback on a scrubbed lead). */
let replayable: RawRequest | undefined;
const signedChargeback = () =>
  (replayable ??= {
    path: '/postback/signed',
    ...signedQuery({ subid: lead.signedScrubbed, status: 'chargeback', ts: nowSeconds() }),
  });

const rows: Row[] = [
  // Missing, empty and oversized fields
  {
    name: 'no parameters at all',
    request: () => ({ path: '/postback' }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid missing',
    request: () => ({ path: '/postback/acme', query: q({ status: 'approved', token: ACME_TOKEN }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid empty',
    request: () => ({ path: '/postback/acme', query: acme({ subid: '' }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid of 65 characters',
    request: () => ({ path: '/postback/acme', query: acme({ subid: 'a'.repeat(65) }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid of 10 000 characters (a query over 8 KiB, refused before it is parsed)',
    request: () => ({ path: '/postback/acme', query: acme({ subid: 'a'.repeat(10_000) }) }),
    status: 414,
    code: 'query_too_large',
  },
  {
    name: 'status missing (no defaultStatus)',
    request: () => ({ path: '/postback/acme', query: q({ subid: lead.acme, token: ACME_TOKEN }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'status empty',
    request: () => ({ path: '/postback/acme', query: acme({ status: '' }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'status of 65 characters',
    request: () => ({ path: '/postback/acme', query: acme({ status: 'x'.repeat(65) }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid twice, in two letter cases with two values',
    request: () => ({ path: '/postback/acme', query: `${acme()}&SUBID=someone-else` }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'payout not a number',
    request: () => ({ path: '/postback/acme', query: acme({ payout: 'abc' }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'payout negative',
    request: () => ({ path: '/postback/acme', query: acme({ payout: '-5.00' }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'payout in exponent form',
    request: () => ({ path: '/postback/acme', query: acme({ payout: '1e3' }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'currency of 2 letters',
    request: () => ({ path: '/postback/acme', query: acme({ currency: 'US' }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'txid of 129 characters',
    request: () => ({ path: '/postback/acme', query: acme({ txid: 't'.repeat(129) }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'extra parameter of 3000 characters',
    request: () => ({ path: '/postback/acme', query: acme({ offer: 'o'.repeat(3000) }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '60 parameters',
    request: () => ({
      path: '/postback/acme',
      query: `${acme()}&${Array.from({ length: 60 }, (_, i) => `p${i}=1`).join('&')}`,
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'NUL byte in subid',
    request: () => ({
      path: '/postback/acme',
      query: `${acme()}`.replace(`subid=${lead.acme}`, 'subid=%00'),
    }),
    status: 400,
    code: 'invalid_request',
  },
  // Credentials
  {
    name: 'wrong token',
    request: () => ({ path: '/postback/acme', query: acme({ token: 'not-the-token' }) }),
    status: 401,
    code: 'bad_credentials',
  },
  {
    name: 'missing token',
    request: () => ({ path: '/postback/acme', query: q({ subid: lead.acme, status: 'approved' }) }),
    status: 401,
    code: 'missing_credentials',
  },
  {
    name: 'empty token',
    request: () => ({ path: '/postback/acme', query: acme({ token: '' }) }),
    status: 401,
    code: 'bad_credentials',
  },
  {
    name: 'wrong token without a partner in the path',
    request: () => ({ path: '/postback', query: acme({ token: 'not-the-token' }) }),
    status: 401,
    code: 'bad_credentials',
  },
  {
    name: "another partner's token",
    request: () => ({ path: '/postback/acme', query: acme({ token: 'fenced-token-123' }) }),
    status: 401,
    code: 'bad_credentials',
  },
  {
    name: 'token of a partner that signs',
    request: () => ({
      path: '/postback/signed',
      query: q({ subid: lead.signed, status: 'approved', token: ACME_TOKEN }),
    }),
    status: 401,
    code: 'missing_credentials',
  },
  {
    name: 'wrong token under the partner alias',
    request: () => ({
      path: '/postback/net',
      query: q({ clickid: lead.net, st: '2', key: 'wrong-token-000' }),
    }),
    status: 401,
    code: 'bad_credentials',
  },
  // Signatures
  {
    name: 'signature that does not match',
    request: () => ({
      path: '/postback/signed',
      query: q({ subid: lead.signed, status: 'approved', ts: nowSeconds() }),
      headers: { 'x-signature': 'ab'.repeat(32) },
    }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'signature not hex',
    request: () => ({
      path: '/postback/signed',
      query: q({ subid: lead.signed, status: 'approved', ts: nowSeconds() }),
      headers: { 'x-signature': 'not-a-signature' },
    }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'signed with another secret',
    request: () => ({
      path: '/postback/signed',
      ...signedQuery(
        { subid: lead.signed, status: 'approved', ts: nowSeconds() },
        'some-other-secret-0123456789',
      ),
    }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'expired ts (an hour ago), correctly signed',
    request: () => ({
      path: '/postback/signed',
      ...signedQuery({ subid: lead.signed, status: 'approved', ts: nowSeconds(-3600) }),
    }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'ts an hour ahead, correctly signed',
    request: () => ({
      path: '/postback/signed',
      ...signedQuery({ subid: lead.signed, status: 'approved', ts: nowSeconds(3600) }),
    }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'signed without ts',
    request: () => ({ path: '/postback/signed', ...signedQuery({ subid: lead.signed, status: 'approved' }) }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'ts not a number',
    request: () => ({
      path: '/postback/signed',
      ...signedQuery({ subid: lead.signed, status: 'approved', ts: 'yesterday' }),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'signed parameters changed after signing',
    request: () => {
      const s = signedQuery({ subid: lead.signed, status: 'rejected', ts: nowSeconds() });
      return {
        path: '/postback/signed',
        query: s.query.replace('status=rejected', 'status=approved'),
        headers: s.headers,
      };
    },
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'a signed value holding "&" and "=" (the same signed string as another set of parameters)',
    request: () => ({
      path: '/postback/signed',
      ...signedQuery({ subid: lead.signed, status: 'approved', ts: nowSeconds(), note: 'x&status=rejected' }),
    }),
    status: 403,
    code: 'bad_signature',
  },
  {
    name: 'no signature for a signing partner',
    request: () => ({
      path: '/postback/signed',
      query: q({ subid: lead.signed, status: 'approved', ts: nowSeconds() }),
    }),
    status: 401,
    code: 'missing_credentials',
  },
  {
    name: 'valid signature, returned on a scrubbed lead',
    request: signedChargeback,
    status: 409,
    code: 'conflict',
  },
  {
    name: 'the same signed request replayed',
    request: signedChargeback,
    status: 403,
    code: 'replayed_signature',
  },
  {
    name: 'valid signature for a lead delivered to another partner',
    request: () => ({
      path: '/postback/signed',
      ...signedQuery({ subid: lead.acme, status: 'approved', ts: nowSeconds() }),
    }),
    status: 403,
    code: 'forbidden',
  },
  // Addresses
  {
    name: 'address outside the allowlist',
    request: () => ({
      path: '/postback/fenced',
      query: q({ subid: lead.fenced, status: 'approved', token: 'fenced-token-123' }),
    }),
    status: 403,
    code: 'ip_not_allowed',
  },
  {
    name: 'address outside the allowlist, no partner in path',
    request: () => ({
      path: '/postback',
      query: q({ subid: lead.fenced, status: 'approved', token: 'fenced-token-123' }),
    }),
    status: 403,
    code: 'ip_not_allowed',
  },
  {
    name: 'spoofed x-forwarded-for is not trusted',
    request: () => ({
      path: '/postback/fenced',
      query: q({ subid: lead.fenced, status: 'approved', token: 'fenced-token-123' }),
      headers: { 'x-forwarded-for': '10.1.2.3' },
    }),
    status: 403,
    code: 'ip_not_allowed',
  },
  {
    // The lead went on to "second" after "first" turned it down: "first" cannot decide it (or be credited).
    name: 'postback from a partner earlier in the waterfall',
    request: () => ({
      path: '/postback/first',
      query: q({ subid: lead.moved, status: 'approved', token: 'first-token-1234' }),
    }),
    status: 409,
    code: 'conflict',
  },
  {
    name: "earlier partner's token without a partner in the path",
    request: () => ({
      path: '/postback',
      query: q({ subid: lead.moved, status: 'approved', token: 'first-token-1234' }),
    }),
    status: 401,
    code: 'bad_credentials',
  },
  // Unknown things
  {
    name: 'unknown subid',
    request: () => ({ path: '/postback/acme', query: acme({ subid: 'no-such-lead-000' }) }),
    status: 404,
    code: 'unknown_lead',
  },
  {
    // With the partner in the path, credentials come first: a stranger cannot probe which leads exist.
    name: 'unknown subid with a wrong token',
    request: () => ({
      path: '/postback/acme',
      query: acme({ subid: 'no-such-lead-000', token: 'not-the-token' }),
    }),
    status: 401,
    code: 'bad_credentials',
  },
  {
    name: 'unknown subid without a partner in the path',
    request: () => ({ path: '/postback', query: acme({ subid: 'no-such-lead-000' }) }),
    status: 404,
    code: 'unknown_lead',
  },
  {
    name: 'unknown partner',
    request: () => ({ path: '/postback/nope', query: acme() }),
    status: 404,
    code: 'unknown_partner',
  },
  {
    name: 'unmapped status',
    request: () => ({ path: '/postback/acme', query: acme({ status: 'weird' }) }),
    status: 422,
    code: 'unmapped_status',
  },
  {
    name: 'numeric code not in the partner map',
    request: () => ({ path: '/postback/acme', query: acme({ status: '2' }) }),
    status: 422,
    code: 'unmapped_status',
  },
  {
    name: 'status "__proto__"',
    request: () => ({ path: '/postback/acme', query: acme({ status: '__proto__' }) }),
    status: 422,
    code: 'unmapped_status',
  },
  {
    name: 'status "constructor"',
    request: () => ({ path: '/postback/acme', query: acme({ status: 'constructor' }) }),
    status: 422,
    code: 'unmapped_status',
  },
  {
    name: 'SQL-ish status',
    request: () => ({ path: '/postback/acme', query: acme({ status: "approved'; DROP TABLE leads;--" }) }),
    status: 422,
    code: 'unmapped_status',
  },
  {
    name: 'returned on a scrubbed lead',
    request: () => ({
      path: '/postback/acme',
      query: acme({ subid: lead.acmeScrubbed, status: 'chargeback' }),
    }),
    status: 409,
    code: 'conflict',
  },
  {
    name: 'SQL-ish txid on an impossible transition',
    request: () => ({
      path: '/postback/acme',
      query: acme({ subid: lead.acmeScrubbed, status: 'refund', txid: "1' OR '1'='1" }),
    }),
    status: 409,
    code: 'conflict',
  },
  // Injection shapes
  {
    name: 'subid[$ne]=x in the query',
    request: () => ({ path: '/postback/acme', query: `subid[$ne]=x&status=approved&token=${ACME_TOKEN}` }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid[$ne]=x in a form body',
    request: () => ({ path: '/postback/acme', ...form(`subid[$ne]=x&status=approved&token=${ACME_TOKEN}`) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '{"subid":{"$ne":"x"}} as JSON',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: { $ne: 'x' }, status: 'approved', token: ACME_TOKEN }),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '{"$where": ...} as JSON',
    request: () => ({
      path: '/postback/acme',
      ...json({ $where: 'sleep(1000)', subid: lead.acme, status: 'approved', token: ACME_TOKEN }),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid=a&subid=b',
    request: () => ({ path: '/postback/acme', query: `subid=a&subid=b&status=approved&token=${ACME_TOKEN}` }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid in query and a different one in the body',
    request: () => ({ path: '/postback/acme', query: acme(), ...form('subid=other-lead-1') }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '__proto__ carrying the subid in JSON',
    request: () => ({
      path: '/postback/acme',
      ...json(`{"__proto__":{"subid":"${lead.acme}"},"status":"approved","token":"${ACME_TOKEN}"}`),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '__proto__[subid] in the query',
    request: () => ({
      path: '/postback/acme',
      query: `__proto__[subid]=${lead.acme}&status=approved&token=${ACME_TOKEN}`,
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'dotted parameter name',
    request: () => ({ path: '/postback/acme', query: `${acme()}&a.b=1` }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: "SQL-ish subid ' OR 1=1 --",
    request: () => ({ path: '/postback/acme', query: acme({ subid: "' OR 1=1 --" }) }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'script tag as subid',
    request: () => ({ path: '/postback', query: acme({ subid: '<script>alert(1)</script>' }) }),
    status: 400,
    code: 'invalid_request',
  },
  // Wrong types in JSON bodies
  {
    name: 'txid as a JSON number past 2^53 (it parses to another number)',
    request: () => ({
      path: '/postback/acme',
      ...json(
        `{"subid":"${lead.acme}","status":"approved","txid":12345678901234567891,"token":"${ACME_TOKEN}"}`,
      ),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'payout as a JSON number with 17 significant digits',
    request: () => ({
      path: '/postback/acme',
      ...json(
        `{"subid":"${lead.acme}","status":"approved","payout":12.345678901234567,"token":"${ACME_TOKEN}"}`,
      ),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'payout as a JSON number with an exponent',
    request: () => ({
      path: '/postback/acme',
      ...json(`{"subid":"${lead.acme}","status":"approved","payout":1e21,"token":"${ACME_TOKEN}"}`),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'subid as a JSON array',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: [lead.acme], status: 'approved', token: ACME_TOKEN }),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'status as a JSON boolean (read as "true", a word no partner maps)',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: lead.acme, status: true, token: ACME_TOKEN }),
    }),
    status: 422,
    code: 'unmapped_status',
  },
  {
    name: 'subid as JSON null',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: null, status: 'approved', token: ACME_TOKEN }),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a JSON array as the body',
    request: () => ({
      path: '/postback/acme',
      ...json([{ subid: lead.acme, status: 'approved', token: ACME_TOKEN }]),
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a JSON string as the body',
    request: () => ({ path: '/postback/acme', ...json('"approved"') }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'malformed JSON',
    request: () => ({ path: '/postback/acme', ...json(`{"subid":"${lead.acme}","status":`) }),
    status: 400,
    code: 'invalid_request',
  },
  // Content types, sizes, methods
  {
    name: 'text/plain body',
    request: () => ({ path: '/postback/acme', body: acme(), contentType: 'text/plain' }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'XML body',
    request: () => ({
      path: '/postback/acme',
      body: `<postback><subid>${lead.acme}</subid></postback>`,
      contentType: 'application/xml',
    }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'JSON body of 100 kB',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: lead.acme, status: 'approved', token: ACME_TOKEN, pad: 'x'.repeat(100_000) }),
    }),
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'form body of 100 kB',
    request: () => ({ path: '/postback/acme', ...form(`${acme()}&pad=${'x'.repeat(100_000)}`) }),
    status: 413,
    code: 'payload_too_large',
  },
  // Compressed bodies: the encoding is the client's to get right, and what it inflates to counts against the limit
  {
    name: 'a form body that is not the gzip its content-encoding says',
    request: () => ({ path: '/postback/acme', ...form(acme()), headers: { 'content-encoding': 'gzip' } }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a JSON body that is not the deflate its content-encoding says',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: lead.acme, status: 'approved', token: ACME_TOKEN }),
      headers: { 'content-encoding': 'deflate' },
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a JSON body that is not the brotli its content-encoding says',
    request: () => ({
      path: '/postback/acme',
      ...json({ subid: lead.acme, status: 'approved', token: ACME_TOKEN }),
      headers: { 'content-encoding': 'br' },
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a gzip that stops halfway',
    request: () => ({
      path: '/postback/acme',
      body: gzipSync(acme()).subarray(0, 20),
      contentType: 'application/x-www-form-urlencoded',
      headers: { 'content-encoding': 'gzip' },
    }),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a gzip bomb: 20 kB that inflates to 20 MB',
    request: () => ({
      path: '/postback/acme',
      body: gzipSync(`${acme()}&pad=${'0'.repeat(20_000_000)}`),
      contentType: 'application/x-www-form-urlencoded',
      headers: { 'content-encoding': 'gzip' },
    }),
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'an unknown content-encoding',
    request: () => ({ path: '/postback/acme', ...form(acme()), headers: { 'content-encoding': 'zstd-x' } }),
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'PUT instead of GET or POST',
    request: () => ({ method: 'PUT', path: '/postback/acme', ...json({ subid: lead.acme }) }),
    status: 405,
    code: 'method_not_allowed',
  },
  {
    name: 'a path below a partner',
    request: () => ({ path: '/postback/acme/extra', query: acme() }),
    status: 404,
    code: 'not_found',
  },
];

test(`${rows.length} hostile postbacks: each a clear 4xx, logged, and no lead changed`, async () => {
  expect(rows.length).toBeGreaterThanOrEqual(40);
  const ids = Object.values(lead);
  const snapshot = async () => ({
    leads: (
      await Lead.find(
        { _id: { $in: ids } },
        { status: 1, seq: 1, partnerId: 1, revenueCents: 1, updatedAt: 1 },
      )
        .sort({ _id: 1 })
        .lean()
    ).map((l) => ({ ...l })),
    events: await StatusEvent.countDocuments({ leadId: { $in: ids } }),
    notifications: await Notification.countDocuments({ leadId: { $in: ids } }),
    claims: await PostbackClaim.countDocuments({ leadId: { $in: ids } }),
  });
  const before = await snapshot();
  expect(before.leads.map((l) => l.status).sort()).toEqual([
    ...Array<string>(5).fill('pending'),
    'rejected',
    'rejected',
  ]);
  expect(refusing.received.map((l) => l.subid)).toEqual([lead.moved]);
  const logsBefore = await PostbackLog.countDocuments();

  const results: { name: string; status: number; code: unknown; requestId: string }[] = [];
  for (const [i, row] of rows.entries()) {
    const req = row.request();
    const requestId = `hostile-${i}`;
    const res = await send(stack.baseUrl, { ...req, headers: { ...req.headers, 'x-request-id': requestId } });
    results.push({
      name: row.name,
      status: res.status,
      code: (res.body.error as { code?: unknown } | undefined)?.code,
      requestId,
    });
    // Every error is the documented JSON shape, with a message and no stack trace.
    expect(typeof (res.body.error as { message?: unknown } | undefined)?.message).toBe('string');
    expect(JSON.stringify(res.body)).not.toMatch(/\n\s+at /);
  }
  expect(results.map(({ name, status, code }) => ({ name, status, code }))).toEqual(
    rows.map(({ name, status, code }) => ({ name, status, code })),
  );

  // Nothing moved: same statuses, sequence numbers and revenue, no history, no notification, no claim.
  expect(await snapshot()).toEqual(before);
  expect(before.claims).toBe(2); // the two scrubs'

  // Every request was logged, with the answer it got, including those refused before the handler.
  expect(await PostbackLog.countDocuments()).toBe(logsBefore + rows.length);
  const logs = await PostbackLog.find({ requestId: { $in: results.map((r) => r.requestId) } }).lean();
  const byRequest = new Map(logs.map((l) => [l.requestId, l]));
  for (const r of results) {
    expect({
      name: r.name,
      httpStatus: byRequest.get(r.requestId)?.httpStatus,
      errorCode: byRequest.get(r.requestId)?.errorCode,
      outcome: byRequest.get(r.requestId)?.outcome,
    }).toEqual({
      name: r.name,
      httpStatus: r.status,
      errorCode: r.code,
      outcome: 'rejected',
    });
    expect(typeof byRequest.get(r.requestId)?.latencyMs).toBe('number');
  }
  // Secrets are never stored, whichever name they came under.
  const stored = JSON.stringify(logs);
  for (const secret of [ACME_TOKEN, 'fenced-token-123', 'first-token-1234', 'wrong-token-000', HMAC_SECRET])
    expect(stored).not.toContain(secret);
  expect(stored).not.toContain(signedChargeback().headers?.['x-signature']);
}, 120_000);

test('a HEAD of a postback URL (a link checker, a URL validator) is 405 with Allow, logged, and applies nothing', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-hostile-head');
  const query = q({ subid: leadId, status: 'approved', token: ACME_TOKEN });
  const res = await fetch(`${stack.baseUrl}/postback/acme?${query}`, {
    method: 'HEAD',
    headers: { 'x-request-id': 'hostile-head' },
  });
  expect(res.status).toBe(405);
  expect(res.headers.get('allow')).toBe('GET, POST');
  const log = await eventually(
    async () => (await PostbackLog.findOne({ requestId: 'hostile-head' }).lean()) ?? undefined,
  );
  expect(log).toMatchObject({
    method: 'HEAD',
    httpStatus: 405,
    outcome: 'rejected',
    errorCode: 'method_not_allowed',
  });
  expect(JSON.stringify(log)).not.toContain(ACME_TOKEN);
  expect(await historyOf(leadId)).toEqual(['received', 'pending']);
  // The same URL fired with GET is the postback.
  expect(await send(stack.baseUrl, { path: '/postback/acme', query })).toEqual(applied(leadId));
});
