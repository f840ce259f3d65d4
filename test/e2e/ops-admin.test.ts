// Operator endpoints over HTTP on the real servers: admin key checks, lead search with cursor pagination,
// a lead's journey as one timeline, replay of an exhausted source notification, and the postback log.
import { useStack } from '../support/e2e';
import {
  ADMIN_KEY,
  adminCli,
  approveAfterWrongToken,
  baseConfig,
  eventually,
  getJson,
  postJson,
  SHORT_NOTIFY,
} from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const ADMIN = { 'x-api-key': ADMIN_KEY };

const { stack, source } = useStack({
  config: ({ partner, source }) => baseConfig(partner.url, source.url, SHORT_NOTIFY),
});

// A test that makes the source fail (to exhaust notifications) heals it even when it fails itself.
afterEach(() => source.failNext(0));

async function newLead(body: Record<string, unknown> = {}): Promise<string> {
  const r = await postJson(`${stack.baseUrl}/leads`, body, SOURCE_KEY);
  expect(r.status).toBe(202);
  return r.body.leadId as string;
}

async function waitForStatus(leadId: string, status: string): Promise<void> {
  await eventually(
    async () =>
      (await getJson(`${stack.baseUrl}/leads/${leadId}`, ADMIN)).body.status === status ? true : undefined,
    30_000,
    `${leadId} ${status}`,
  );
}

test('admin endpoints: missing or wrong key 401, source key 403, JSON errors', async () => {
  const routes: [string, string][] = [
    ['GET', '/admin/leads'],
    ['GET', '/admin/leads/some-lead-id/journey'],
    ['POST', '/admin/notifications/replay'],
  ];
  for (const [method, path] of routes) {
    for (const [headers, status, code] of [
      [{}, 401, 'missing_credentials'],
      [{ 'x-api-key': 'wrong-key-wrong-key-wrong' }, 401, 'bad_credentials'],
      [SOURCE_KEY, 403, 'forbidden'],
    ] as const) {
      const res = await fetch(`${stack.baseUrl}${path}`, {
        method,
        headers: { ...headers, ...(method === 'POST' ? { 'content-type': 'application/json' } : {}) },
        body: method === 'POST' ? JSON.stringify({ leadId: 'some-lead-id', status: 'accepted' }) : undefined,
      });
      expect({ route: `${method} ${path}`, key: Object.keys(headers).length, status: res.status }).toEqual({
        route: `${method} ${path}`,
        key: Object.keys(headers).length,
        status,
      });
      expect(res.headers.get('content-type')).toMatch(/application\/json/);
      expect(((await res.json()) as { error: { code: string } }).error.code).toBe(code);
    }
  }
});

test('lead search: filters, stable cursor pagination, bad input is a 400', async () => {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) ids.push(await newLead({ clickId: `page-${i}` }));
  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const r = await getJson(
      `${stack.baseUrl}/admin/leads?sourceId=src-1&limit=2${cursor ? `&cursor=${cursor}` : ''}`,
      ADMIN,
    );
    expect(r.status).toBe(200);
    const leads = r.body.leads as { leadId: string; createdAt: string; sourceId: string }[];
    expect(leads.length).toBeLessThanOrEqual(2);
    for (const l of leads) expect(l.sourceId).toBe('src-1');
    seen.push(...leads.map((l) => l.leadId));
    cursor = r.body.nextCursor as string | undefined;
    pages += 1;
  } while (cursor && pages < 20);
  // Every lead exactly once, newest first.
  expect(new Set(seen).size).toBe(seen.length);
  for (const id of ids) expect(seen).toContain(id);
  expect(seen.indexOf(ids[4] as string)).toBeLessThan(seen.indexOf(ids[0] as string));
  expect(pages).toBeGreaterThanOrEqual(3);

  // A time window and the cursor together, one lead per page.
  const all = (await getJson(`${stack.baseUrl}/admin/leads?sourceId=src-1&limit=500`, ADMIN)).body.leads as {
    leadId: string;
    createdAt: string;
  }[];
  const from = all.find((l) => l.leadId === ids[1])?.createdAt as string;
  const expected = all.filter((l) => l.createdAt >= from).map((l) => l.leadId);
  const windowed: string[] = [];
  cursor = undefined;
  do {
    const r = await getJson(
      `${stack.baseUrl}/admin/leads?from=${encodeURIComponent(from)}&limit=1${cursor ? `&cursor=${cursor}` : ''}`,
      ADMIN,
    );
    windowed.push(...(r.body.leads as { leadId: string }[]).map((l) => l.leadId));
    cursor = r.body.nextCursor as string | undefined;
  } while (cursor && windowed.length < 50);
  expect(windowed).toEqual(expected);

  const none = await getJson(`${stack.baseUrl}/admin/leads?sourceId=nobody`, ADMIN);
  expect(none).toEqual({ status: 200, body: { leads: [] } });
  const future = await getJson(`${stack.baseUrl}/admin/leads?from=2999-01-01`, ADMIN);
  expect(future.body.leads).toEqual([]);

  for (const bad of [
    'status=won',
    'limit=0',
    'limit=abc',
    'cursor=not-a-cursor',
    'from=yesterday',
    'color=red',
  ]) {
    const r = await getJson(`${stack.baseUrl}/admin/leads?${bad}`, ADMIN);
    expect({ bad, status: r.status, code: (r.body.error as { code: string }).code }).toEqual({
      bad,
      status: 400,
      code: 'invalid_request',
    });
  }
});

test('journey of a lead, then replay of its exhausted notification', async () => {
  source.failNext(1_000_000);
  const leadId = await newLead({ clickId: 'clk-journey' });
  await waitForStatus(leadId, 'pending');
  await approveAfterWrongToken(stack, leadId, '7.25');
  await waitForStatus(leadId, 'accepted');

  const journey = await eventually(
    async () => {
      const r = await getJson(`${stack.baseUrl}/admin/leads/${leadId}/journey`, ADMIN);
      const notes = (r.body.lead as { notifications: { exhausted?: boolean }[] }).notifications;
      return notes.some((n) => n.exhausted) ? r.body : undefined;
    },
    40_000,
    'exhausted notification',
  );

  const lead = journey.lead as { leadId: string; status: string; payout: string };
  expect(lead).toMatchObject({ leadId, status: 'accepted', payout: '7.25' });
  const postbacks = journey.postbacks as {
    httpStatus: number;
    outcome: string;
    query: Record<string, string>;
    latencyMs: number;
  }[];
  expect(postbacks.map((p) => p.httpStatus)).toEqual([401, 200]);
  expect(postbacks.map((p) => p.outcome)).toEqual(['rejected', 'applied']);
  for (const p of postbacks) {
    expect(p.query.token).toBe('[redacted]');
    expect(p.latencyMs).toEqual(expect.any(Number));
  }
  const timeline = journey.timeline as {
    at: string;
    kind: string;
    httpStatus?: number;
    latencyMs?: number;
    summary: string;
  }[];
  expect([...timeline].sort((a, b) => a.at.localeCompare(b.at)).map((e) => e.at)).toEqual(
    timeline.map((e) => e.at),
  );
  expect(new Set(timeline.map((e) => e.kind))).toEqual(
    new Set(['status', 'delivery', 'postback', 'notification']),
  );
  const delivery = timeline.find((e) => e.kind === 'delivery');
  expect(delivery).toMatchObject({ httpStatus: 200, latencyMs: expect.any(Number) });
  expect(timeline.filter((e) => e.kind === 'notification' && e.httpStatus === 500).length).toBeGreaterThan(0);
  expect(timeline.filter((e) => e.kind === 'status').map((e) => e.summary.split(':')[0])).toEqual([
    'status received',
    'status pending',
    'status accepted',
  ]);

  // Bulk dry run finds it; nothing is sent.
  const dry = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { sourceId: 'src-1', status: 'accepted', dryRun: true },
    ADMIN,
  );
  expect(dry.status).toBe(200);
  expect(dry.body).toMatchObject({ dryRun: true, replayed: 0 });
  expect(dry.body.targets).toContainEqual({ leadId, status: 'accepted' });

  // The source is back; replay the one notification.
  source.failNext(0);
  const hitsBefore = source.hits.filter((h) => h.query.clickid === 'clk-journey').length;
  const replay = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { leadId, status: 'accepted' },
    ADMIN,
  );
  expect(replay).toEqual({
    status: 200,
    body: { dryRun: false, matched: 1, targets: [{ leadId, status: 'accepted' }], replayed: 1, failed: [] },
  });
  const hit = await eventually(
    async () => source.hits.find((h) => h.query.clickid === 'clk-journey' && h.answered === 200),
    30_000,
    'replayed notification',
  );
  expect(hit.query).toMatchObject({ status: 'accepted', payout: '7.25', event: `${leadId}.accepted` });
  expect(source.hits.filter((h) => h.query.clickid === 'clk-journey').length).toBeGreaterThan(hitsBefore);
  await eventually(
    async () => {
      const r = await getJson(`${stack.baseUrl}/admin/leads/${leadId}/journey`, ADMIN);
      return (r.body.lead as { notifications: { ok: boolean }[] }).notifications.some((n) => n.ok)
        ? true
        : undefined;
    },
    30_000,
    'delivered notification recorded',
  );

  // Delivered now: no longer replayable.
  const after = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { sourceId: 'src-1', dryRun: true },
    ADMIN,
  );
  expect(after.body.targets).not.toContainEqual({ leadId, status: 'accepted' });
  const again = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { leadId, status: 'accepted' },
    ADMIN,
  );
  expect(again.status).toBe(409);
});

test('bulk replay by filter sends every matching exhausted notification once', async () => {
  source.failNext(1_000_000);
  const ids = await Promise.all(
    ['clk-bulk-a', 'clk-bulk-b'].map(async (clickId) => {
      const leadId = await newLead({ clickId });
      await waitForStatus(leadId, 'pending');
      const pb = await getJson(
        `${stack.baseUrl}/postback?subid=${leadId}&status=declined&token=acme-token-123`,
      );
      expect(pb.status).toBe(200);
      return leadId;
    }),
  );
  for (const leadId of ids) {
    await eventually(
      async () => {
        const r = await getJson(`${stack.baseUrl}/admin/leads/${leadId}/journey`, ADMIN);
        return (r.body.lead as { notifications: { exhausted?: boolean }[] }).notifications.some(
          (n) => n.exhausted,
        )
          ? true
          : undefined;
      },
      40_000,
      'exhausted',
    );
  }
  source.failNext(0);
  const bulk = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { sourceId: 'src-1', status: 'rejected' },
    ADMIN,
  );
  expect(bulk.status).toBe(200);
  expect(bulk.body).toMatchObject({ dryRun: false, matched: 2, replayed: 2, failed: [] });
  expect(new Set((bulk.body.targets as { leadId: string }[]).map((t) => t.leadId))).toEqual(new Set(ids));
  for (const leadId of ids) {
    await eventually(
      async () =>
        source.hits.some((h) => h.query.event === `${leadId}.rejected` && h.answered === 200)
          ? true
          : undefined,
      30_000,
      'replayed',
    );
  }
  for (const leadId of ids)
    expect(
      source.hits.filter((h) => h.query.event === `${leadId}.rejected` && h.answered === 200),
    ).toHaveLength(1);
  // An accepted-status filter does not touch them.
  const other = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { status: 'accepted', dryRun: true },
    ADMIN,
  );
  for (const leadId of ids) expect(other.body.targets).not.toContainEqual({ leadId, status: 'rejected' });
});

test('replay and journey refuse bad input with 4xx', async () => {
  const unknown = await postJson(
    `${stack.baseUrl}/admin/notifications/replay`,
    { leadId: 'no-such-lead-1', status: 'accepted' },
    ADMIN,
  );
  expect(unknown.status).toBe(404);
  for (const body of [
    { leadId: 'x', status: 'accepted' },
    { status: 'won' },
    { leadId: 'abcdefgh' },
    { sourceId: 'src-1', leadId: 'abcdefgh', status: 'accepted', extra: 1 },
    { limit: 0 },
  ]) {
    const r = await postJson(`${stack.baseUrl}/admin/notifications/replay`, body, ADMIN);
    expect({ body, status: r.status }).toEqual({ body, status: 400 });
  }
  const journey = await getJson(`${stack.baseUrl}/admin/leads/no-such-lead-1/journey`, ADMIN);
  expect(journey.status).toBe(404);
  const badId = await getJson(`${stack.baseUrl}/admin/leads/${encodeURIComponent('$where')}/journey`, ADMIN);
  expect(badId.status).toBe(400);
});

test('the API reference is served without a key: /openapi.json and the /docs page', async () => {
  const doc = await fetch(`${stack.baseUrl}/openapi.json`);
  expect(doc.status).toBe(200);
  expect(doc.headers.get('content-type')).toMatch(/application\/json/);
  const body = (await doc.json()) as { openapi: string; paths: Record<string, unknown> };
  expect(body.openapi).toMatch(/^3\./);
  expect(Object.keys(body.paths)).toEqual(
    expect.arrayContaining(['/leads', '/postback/{partnerId}', '/admin/leads/{leadId}/journey']),
  );
  const page = await fetch(`${stack.baseUrl}/docs`);
  expect(page.status).toBe(200);
  expect(page.headers.get('content-type')).toMatch(/text\/html/);
  const html = await page.text();
  expect(html).toContain('<span class="m post">POST</span> /admin/notifications/replay');
  expect(html).not.toMatch(/<script|https?:\/\//i);
});

test('the postback log: refusals with their codes, filters, stable paging while postbacks arrive, a summary per code, the CLI', async () => {
  const since = new Date(Date.now() - 1000).toISOString();
  const leadId = await newLead();
  await waitForStatus(leadId, 'pending');
  const send = (path: string) => fetch(`${stack.baseUrl}${path}`).then((r) => r.status);
  expect(await send(`/postback/acme?subid=${leadId}&status=approved&token=wrong-token-123`)).toBe(401);
  expect(await send(`/postback/acme?subid=no-such-lead-1&status=approved&token=acme-token-123`)).toBe(404);
  expect(await send(`/postback/acme?subid=${leadId}&status=weird-word&token=acme-token-123`)).toBe(422);
  expect(await send(`/postback/acme?subid=${leadId}&status=approved&payout=3.00&token=acme-token-123`)).toBe(
    200,
  );
  await waitForStatus(leadId, 'accepted');

  const list = async (query: string) => {
    const r = await getJson(`${stack.baseUrl}/admin/postbacks?from=${since}&${query}`, ADMIN);
    expect(r.status).toBe(200);
    return r.body as { postbacks: Record<string, unknown>[]; nextCursor?: string };
  };
  const refused = await list('partnerId=acme&outcome=refused');
  expect(refused.postbacks.map((p) => p.errorCode)).toEqual([
    'unmapped_status',
    'unknown_lead',
    'bad_credentials',
  ]);
  expect(refused.postbacks.map((p) => p.httpStatus)).toEqual([422, 404, 401]);
  // Secrets as stored: redacted, never in clear.
  expect(JSON.stringify(refused)).not.toContain('token-123');
  expect(refused.postbacks[2]).toMatchObject({ partnerId: 'acme', leadId, query: { token: '[redacted]' } });
  expect((await list('code=unknown_lead')).postbacks).toHaveLength(1);
  const applied = await list('outcome=applied');
  expect(applied.postbacks).toHaveLength(1);
  expect(applied.postbacks[0]).toMatchObject({ leadId, status: 'accepted', payout: '3.00' });

  // Paging newest first with postbacks arriving between pages: every row there was at the start, once, in order.
  for (let i = 0; i < 7; i++)
    await send(`/postback/acme?subid=gone-lead-${i}&status=approved&token=acme-token-123`);
  const before = (await list('limit=500')).postbacks.map((p) => p.id);
  const paged: unknown[] = [];
  let cursor: string | undefined;
  do {
    const page = await list(`limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    paged.push(...page.postbacks.map((p) => p.id));
    cursor = page.nextCursor;
    await Promise.all(
      [0, 1].map((i) => send(`/postback/acme?subid=late-lead-${i}&status=approved&token=acme-token-123`)),
    );
  } while (cursor);
  expect(paged).toEqual(before);

  const summary = await getJson(
    `${stack.baseUrl}/admin/postbacks/refusals?partnerId=acme&from=${since}`,
    ADMIN,
  );
  expect(summary.status).toBe(200);
  const counts = Object.fromEntries(
    (summary.body.rows as { code: string; count: number }[]).map((r) => [r.code, r.count]),
  );
  expect(counts).toMatchObject({ bad_credentials: 1, unmapped_status: 1 });
  expect(counts.unknown_lead).toBeGreaterThanOrEqual(8);

  for (const bad of ['outcome=bogus', 'cursor=not-a-cursor', 'limit=0', 'from=yesterday', 'color=red'])
    expect((await getJson(`${stack.baseUrl}/admin/postbacks?${bad}`, ADMIN)).status).toBe(400);
  expect((await getJson(`${stack.baseUrl}/admin/postbacks`, SOURCE_KEY)).status).toBe(403);

  const args = ['postbacks', '--partner', 'acme', '--refused', '--since', '1h', '--all'];
  const { code, stdout, stderr } = await adminCli(stack, args);
  expect(code).toBe(0);
  const text = stdout + stderr;
  expect(text).toMatch(/ acme +rejected +422 +\S+ +"weird-word" +unmapped_status: /);
  expect(text).toMatch(/ acme +rejected +401 +\S+ +"approved" +bad_credentials: /);
  expect(text).toMatch(/refusals .*\n +acme +\d+ +unknown_lead\n/);
  expect(text).not.toContain(' applied ');
});
