// Generated postbacks against the real stack: arbitrary query strings, bodies, content types and paths are
// answered 200/202 or a JSON 4xx, never a 5xx, and only an accepted postback changes a lead.
import fc from 'fast-check';
import { Lead, PostbackClaim, StatusEvent } from '../../shared/models';
import { signParams } from '../../shared/signature';
import { useStack } from '../support/e2e';
import { pendingLead, verticalPartner } from '../support/postbacks';
import { baseConfig, eventually } from '../support/stack';

const ACME_TOKEN = 'acme-token-123';
const NET_TOKEN = 'net-token-12345';
const HMAC_SECRET = 'fuzz-signed-secret-0123456789';
const RUNS = 400;

/** Pending leads, by the partner they were delivered to. */
const leads: Record<'acme' | 'net' | 'signed', string[]> = { acme: [], net: [], signed: [] };

function config(partnerUrl: string, sourceUrl: string) {
  const cfg = baseConfig(partnerUrl, sourceUrl);
  return {
    ...cfg,
    // The fuzzer is one address sending hundreds of refusals: the per-address budget would answer most of them
    // 429 before the handler saw them (postback-limits.test.ts covers that budget).
    settings: { authFailureRateLimit: { perSecond: 1000, burst: 100_000 } },
    partners: [
      { ...cfg.partners[0], routing: { filters: { vertical: ['auto'] } } },
      // A network with its own parameter names and numeric codes.
      verticalPartner(
        partnerUrl,
        'net',
        'loans',
        {
          token: NET_TOKEN,
          params: { subid: 'clickid', status: 'st', token: 'key', txid: 'transaction_id' },
          statusMap: { '1': 'pending', '2': 'accepted', '3': 'rejected' },
        },
        { payout: 4 },
      ),
      verticalPartner(
        partnerUrl,
        'signed',
        'home',
        { hmacSecret: HMAC_SECRET, defaultStatus: 'accepted' },
        { payout: 7 },
      ),
    ],
  };
}

const { stack } = useStack({
  config: ({ partner, source }) => config(partner.url, source.url),
  ready: async ({ stack }) => {
    const made = await Promise.all(
      (['auto', 'auto', 'auto', 'loans', 'loans', 'home', 'home'] as const).map(
        async (v) => [v, await pendingLead(stack, v)] as const,
      ),
    );
    for (const [v, id] of made) leads[v === 'auto' ? 'acme' : v === 'loans' ? 'net' : 'signed'].push(id);
  },
  timeoutMs: 120_000,
});

// ---- The generator: mostly plausible postbacks (so some get through) mixed with hostile shapes. ----

const anyLead = () => fc.constantFrom(...leads.acme, ...leads.net, ...leads.signed);
const name = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.constantFrom(
      'subid',
      'status',
      'payout',
      'currency',
      'txid',
      'token',
      'ts',
      'clickid',
      'st',
      'key',
      'transaction_id',
      'signature',
    ),
  },
  {
    weight: 2,
    arbitrary: fc.constantFrom(
      'subid[$ne]',
      'subid[]',
      '__proto__',
      'constructor',
      'a.b',
      '$where',
      '',
      ' ',
      'status[0]',
      'токен',
      'subid%00',
    ),
  },
  { weight: 1, arbitrary: fc.string({ maxLength: 70 }) },
);
const value = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom(
      'approved',
      'declined',
      'hold',
      'lead',
      'chargeback',
      'sale',
      'trash',
      'APPROVED ',
      '1',
      '2',
      '3',
      'weird',
      '',
    ),
  },
  {
    weight: 3,
    arbitrary: fc.constantFrom(
      ACME_TOKEN,
      NET_TOKEN,
      'wrong-token',
      '12.50',
      '-1',
      '1e3',
      'usd',
      'EURO',
      '0',
      String(Math.floor(Date.now() / 1000)),
    ),
  },
  { weight: 3, arbitrary: fc.constant(null).chain(() => anyLead()) },
  {
    weight: 2,
    arbitrary: fc.oneof(
      fc.string(),
      fc.string({ unit: 'binary' }),
      fc.string({ minLength: 2000, maxLength: 2100 }),
    ),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '{"$ne":null}',
      "' OR 1=1 --",
      '<script>',
      '%',
      '%zz',
      '\u0000',
      '../../etc/passwd',
    ),
  },
);
const pairs = fc.array(fc.tuple(name, value), { maxLength: 9 });
/** Query text: mostly encoded pairs, sometimes raw fragments that are not valid percent-encoding. */
const queryText = fc
  .tuple(
    pairs,
    fc.array(fc.constantFrom('%', '%zz', '&&', '=', 'a=b=c', '%00', '+', ';', 'subid', 'x=%E0%A4%A'), {
      maxLength: 2,
    }),
  )
  .map(([ps, raw]) =>
    [...ps.map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`), ...raw].join('&'),
  );
const path = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.constantFrom('/postback', '/postback/acme', '/postback/net', '/postback/signed'),
  },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      '/postback/nope',
      '/postback/ACME',
      '/postback/%2e%2e',
      '/postback/acme/extra',
      '/postback/' + 'x'.repeat(300),
    ),
  },
);
type Body = { contentType?: string; text: string } | undefined;
const body: fc.Arbitrary<Body> = fc.oneof(
  fc.constant(undefined),
  pairs.map((ps) => ({
    contentType: 'application/x-www-form-urlencoded',
    text: new URLSearchParams(ps).toString(),
  })),
  fc
    .dictionary(
      name,
      fc.oneof(
        value,
        fc.integer(),
        fc.boolean(),
        fc.constant(null),
        fc.array(value, { maxLength: 2 }),
        fc.dictionary(fc.string(), value, { maxKeys: 2 }),
      ),
      { maxKeys: 6 },
    )
    .map((o) => ({ contentType: 'application/json', text: JSON.stringify(o) })),
  fc.constantFrom<Body>(
    { contentType: 'application/json', text: '{"subid":' },
    { contentType: 'application/json', text: '[1,2]' },
    { contentType: 'application/json', text: '"text"' },
    { contentType: 'application/json', text: 'null' },
    { contentType: 'text/plain', text: 'subid=x&status=approved' },
    { contentType: 'application/xml', text: '<a/>' },
    { contentType: 'application/json', text: JSON.stringify({ pad: 'x'.repeat(70_000) }) },
    { text: 'no content type' },
  ),
);

interface Generated {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  query: string;
  body: Body;
  sign: boolean;
}
const hostile: fc.Arbitrary<Generated> = fc.record({
  method: fc.constantFrom('GET', 'GET', 'POST', 'POST', 'PUT', 'DELETE'),
  path,
  query: queryText,
  body,
  sign: fc.boolean(),
});
/** A partner's own postback, now and then with one extra or replaced parameter. */
const plausible: fc.Arbitrary<Generated> = fc
  .record({
    partner: fc.constantFrom('acme', 'net'),
    inPath: fc.boolean(),
    status: fc.constantFrom('approved', 'declined', 'hold', 'lead', 'chargeback', '1', '2', '3', 'sale'),
    payout: fc.option(fc.constantFrom('12.50', '0', '3', '-2', 'abc'), { nil: undefined }),
    extra: fc.option(fc.tuple(name, value), { nil: undefined }),
    method: fc.constantFrom('GET', 'POST'),
  })
  .chain((r) => fc.constantFrom(...leads[r.partner as 'acme' | 'net']).map((leadId) => ({ ...r, leadId })))
  .map((r) => {
    const names =
      r.partner === 'net'
        ? { subid: 'clickid', status: 'st', token: 'key' }
        : { subid: 'subid', status: 'status', token: 'token' };
    const params: Record<string, string> = {
      [names.subid]: r.leadId,
      [names.status]: r.status,
      [names.token]: r.partner === 'net' ? NET_TOKEN : ACME_TOKEN,
    };
    if (r.payout !== undefined) params.payout = r.payout;
    if (r.extra) params[r.extra[0]] = r.extra[1];
    const text = new URLSearchParams(params).toString();
    const path = r.inPath ? `/postback/${r.partner}` : '/postback';
    return r.method === 'GET'
      ? { method: 'GET' as const, path, query: text, body: undefined, sign: false }
      : {
          method: 'POST' as const,
          path,
          query: '',
          body: { contentType: 'application/x-www-form-urlencoded', text },
          sign: false,
        };
  });
const request = fc.oneof({ weight: 3, arbitrary: hostile }, { weight: 1, arbitrary: plausible });

interface Sent {
  status: number;
  body: Record<string, unknown> | undefined;
  text: string;
}

async function send(g: Generated): Promise<Sent> {
  const url = new URL(`${stack.baseUrl}${g.path}?${g.query}`);
  const headers: Record<string, string> = {};
  if (g.sign) {
    // A real signature over the query parameters as the gateway will read them (sometimes valid, often not).
    headers['x-signature'] = signParams(HMAC_SECRET, Object.fromEntries(url.searchParams));
  }
  const withBody = g.method !== 'GET' && g.body !== undefined;
  if (withBody && g.body?.contentType) headers['content-type'] = g.body.contentType;
  const res = await fetch(`${stack.baseUrl}${g.path}?${g.query}`, {
    method: g.method,
    headers,
    body: withBody ? g.body?.text : undefined,
  });
  const text = await res.text();
  let parsed: Record<string, unknown> | undefined;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

test(`${RUNS} generated postbacks: never a 5xx, errors are JSON, only accepted postbacks change leads`, async () => {
  const all = [...leads.acme, ...leads.net, ...leads.signed];
  const before = new Map(
    (await Lead.find({ _id: { $in: all } }).lean()).map((l) => [l._id, JSON.stringify(l)]),
  );
  const effectsBefore = await PostbackClaim.countDocuments();
  const changedBy = new Set<string>();
  let applied = 0;
  const seen: Record<number, number> = {};

  await fc.assert(
    fc.asyncProperty(request, async (g) => {
      const res = await send(g);
      seen[res.status] = (seen[res.status] ?? 0) + 1;
      expect(res.status).toBeLessThan(500);
      expect(res.text).not.toMatch(/\bat .+\.(ts|js):\d+/); // no stack trace
      if (res.status === 200 || res.status === 202) {
        expect(res.body).toMatchObject({
          ok: true,
          leadId: expect.any(String),
          duplicate: expect.any(Boolean),
        });
        if (!res.body!.duplicate) {
          applied += 1;
          changedBy.add(res.body!.leadId as string);
        }
      } else {
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.body).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
      }
    }),
    { numRuns: RUNS },
  );

  // Every 200/202 that was not a duplicate is one effect claim; refused requests claimed nothing.
  expect((await PostbackClaim.countDocuments()) - effectsBefore).toBe(applied);
  // Let the workflows apply what was accepted, then check that no other lead moved.
  await eventually(
    async () => {
      const events = await StatusEvent.countDocuments({
        leadId: { $in: [...changedBy] },
        postbackId: { $exists: true },
      });
      return events >= changedBy.size ? true : undefined;
    },
    30_000,
    'accepted postbacks applied',
  );
  for (const lead of await Lead.find({ _id: { $in: all } }).lean()) {
    if (!changedBy.has(lead._id)) expect(JSON.stringify(lead)).toBe(before.get(lead._id));
  }
  const distinct = Object.keys(seen).length;
  console.log(
    `postback fuzz: ${RUNS} requests, answers by HTTP status ${JSON.stringify(seen)}, ${applied} applied`,
  );
  // The generator reaches both outcomes: some postbacks get through, most are refused for varied reasons.
  expect(seen[200] ?? 0).toBeGreaterThan(0);
  expect(distinct).toBeGreaterThanOrEqual(5);
}, 180_000);
