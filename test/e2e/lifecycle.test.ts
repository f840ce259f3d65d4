// End to end over HTTP on the real dev server and Mongo-wire server: lead in, partner gets it with its
// subid, partner posts back, the lead shows its verdict and payout, and the source got its postback.
import { type PartnerSimulatorOptions } from '../../scripts/simulators';
import { Delivery, IntakeOutbox, Lead } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { applied } from '../support/postbacks';
import { baseConfig, eventually, getJson, leadReaches, postJson, submitLead } from '../support/stack';

const KEY = { 'x-api-key': 'key-src-1-abcdef' };
const OTHER_KEY = { 'x-api-key': 'key-src-2-abcdef' };

// Read by the simulator at send time: filled in once the gateway's address is known.
const partnerOptions: PartnerSimulatorOptions = {};

const { stack, partner, source } = useStack({
  partners: { partner: partnerOptions },
  config: ({ partner, source }) => {
    const cfg = baseConfig(partner.url, source.url);
    // src-3's tracker attributes conversions by the sub ids it sent with the lead.
    const src3 = {
      id: 'src-3',
      apiKey: 'key-src-3-abcdef',
      postbackUrl: `${source.url}/subs?clickid={clickid}&s1={sub1}&s2={sub2}&s3={sub3}&status={status}`,
    };
    return { ...cfg, sources: [...cfg.sources, { id: 'src-2', apiKey: 'key-src-2-abcdef' }, src3] };
  },
  ready: ({ stack, partner }) => {
    Object.assign(partnerOptions, { postbackUrl: `${stack.baseUrl}/postback/acme`, token: 'acme-token-123' });
    partner.setBehavior(() => ({}));
  },
});

test('lead accepted by postback: history, payout and source notification', async () => {
  const leadId = await submitLead(
    stack,
    { clickId: 'clk-42', vertical: 'auto', geo: { country: 'us' } },
    KEY,
  );

  const delivered = await eventually(
    async () => partner.received.find((l) => l.subid === leadId),
    20_000,
    'delivery',
  );
  expect(delivered.body).toMatchObject({ subid: leadId, vertical: 'auto', geo: { country: 'US' } });
  await leadReaches(stack, leadId, 'pending', KEY, 20_000);

  const pb = await getJson(
    `${stack.baseUrl}/postback?subid=${leadId}&status=approved&payout=20.5&token=acme-token-123`,
  );
  expect(pb).toEqual(applied(leadId));

  const lead = await leadReaches(stack, leadId, 'accepted', KEY, 20_000);
  expect(lead).toMatchObject({
    leadId,
    clickId: 'clk-42',
    sourceId: 'src-1',
    partnerId: 'acme',
    payout: '20.50',
    currency: 'USD',
  });
  expect((lead.history as { status: string }[]).map((h) => h.status)).toEqual([
    'received',
    'pending',
    'accepted',
  ]);
  expect(lead.deliveries).toEqual([
    expect.objectContaining({ partnerId: 'acme', outcome: 'pending', httpStatus: 200 }),
  ]);

  const hit = await eventually(
    async () => source.hits.find((h) => h.query.clickid === 'clk-42'),
    20_000,
    'source postback',
  );
  expect(hit.query).toEqual({
    clickid: 'clk-42',
    status: 'accepted',
    payout: '20.50',
    event: `${leadId}.accepted`,
  });
  const withNotification = await eventually(
    async () => {
      const r = await getJson(`${stack.baseUrl}/leads/${leadId}`, KEY);
      return (r.body.notifications as unknown[]).length ? r.body : undefined;
    },
    20_000,
    'notification recorded',
  );
  expect(withNotification.notifications).toEqual([
    expect.objectContaining({ status: 'accepted', ok: true, httpStatus: 200 }),
  ]);
});

test("the source's sub ids come back in its notification: {sub1} as sent, one it did not send blank", async () => {
  const key = { 'x-api-key': 'key-src-3-abcdef' };
  const leadId = await submitLead(stack, { clickId: 'clk-subs', sub1: 'camp 7&x', sub2: 'ad-9' }, key);
  await leadReaches(stack, leadId, 'pending', key, 20_000);
  const pb = await getJson(`${stack.baseUrl}/postback?subid=${leadId}&status=approved&token=acme-token-123`);
  expect(pb).toEqual(applied(leadId));
  const hit = await eventually(
    async () => source.hits.find((h) => h.query.clickid === 'clk-subs'),
    20_000,
    'source postback',
  );
  expect(hit.query).toEqual({ clickid: 'clk-subs', s1: 'camp 7&x', s2: 'ad-9', s3: '', status: 'accepted' });
});

test('a new lead is stored with every field it was sent and the schema defaults, as the Lead model reads it', async () => {
  const input = {
    clickId: 'clk-shape',
    vertical: 'auto',
    geo: { country: 'de', zip: '10115' },
    contact: {},
    data: { age: 41, owner: true, note: 'x' },
    sub1: 's1',
    sub5: 's5',
  };
  const leadId = await submitLead(stack, input, KEY);
  const stored = await Lead.collection.findOne({ _id: leadId as never });
  expect(stored?.createdAt).toBeInstanceOf(Date);
  // The document the Lead model would have saved (its casts and defaults), but for what the workflow writes since.
  const modeled = new Lead({
    _id: leadId,
    ...input,
    geo: { country: 'DE', zip: '10115' },
    sourceId: 'src-1',
    status: 'received',
    createdAt: stored?.createdAt,
    updatedAt: stored?.createdAt,
  }).toObject({ minimize: false });
  const { status: _status, seq: _seq, updatedAt: _updatedAt, ...fromIntake } = modeled;
  expect(stored).toMatchObject({ ...fromIntake, __v: 0 });
  expect(Object.keys(stored?.geo as object).sort()).toEqual(['country', 'zip']);
  await leadReaches(stack, leadId, 'pending', KEY, 20_000);
});

test('the same leadId again is the same lead, delivered once', async () => {
  const body = { leadId: 'idem-key-0001', clickId: 'clk-idem' };
  const first = await postJson(`${stack.baseUrl}/leads`, body, KEY);
  const second = await postJson(`${stack.baseUrl}/leads`, body, KEY);
  expect(first.status).toBe(202);
  expect(second.status).toBe(200);
  expect(second.body.leadId).toBe('idem-key-0001');
  // Quiet, by positive signals: the lead is pending (delivered; the workflow now waits for a postback, and only
  // a signal could make it deliver again) and the intake outbox holds nothing still to start or signal.
  await leadReaches(stack, 'idem-key-0001', 'pending', KEY, 20_000);
  await eventually(
    async () => ((await IntakeOutbox.countDocuments({ _id: 'idem-key-0001' })) === 0 ? true : undefined),
    20_000,
    'intake outbox empty',
  );
  expect(partner.received.filter((l) => l.subid === 'idem-key-0001')).toHaveLength(1);
  const history = await stack.client.workflow.getHandle(leadWorkflowId('idem-key-0001')).fetchHistory();
  const deliveries = (history.events ?? []).filter(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'deliverLead',
  );
  expect(deliveries).toHaveLength(1);
  expect(await Delivery.countDocuments({ leadId: 'idem-key-0001' })).toBe(1);
});

test('the same new leadId sent many times at once is one lead: one 202, the rest answered as repeats', async () => {
  const body = { leadId: 'idem-race-0001', clickId: 'clk-race' };
  const answers = await Promise.all(
    Array.from({ length: 8 }, () => postJson(`${stack.baseUrl}/leads`, body, KEY)),
  );
  expect(answers.map((a) => a.status).sort()).toEqual([200, 200, 200, 200, 200, 200, 200, 202]);
  for (const a of answers) expect(a.body).toMatchObject({ leadId: 'idem-race-0001' });
  await leadReaches(stack, 'idem-race-0001', 'pending', KEY, 20_000);
  expect(await Delivery.countDocuments({ leadId: 'idem-race-0001' })).toBe(1);
});

test("another source's leadId is not this source's to reuse or read: 409, and the lead stays theirs", async () => {
  const first = await postJson(`${stack.baseUrl}/leads`, { leadId: 'idem-owned-0001' }, KEY);
  expect(first.status).toBe(202);
  const other = await postJson(`${stack.baseUrl}/leads`, { leadId: 'idem-owned-0001' }, OTHER_KEY);
  expect(other).toMatchObject({
    status: 409,
    body: { error: { code: 'conflict', message: 'leadId is already used' } },
  });
  expect((await getJson(`${stack.baseUrl}/leads/idem-owned-0001`, OTHER_KEY)).status).toBe(404);
  expect((await getJson(`${stack.baseUrl}/leads/idem-owned-0001`, KEY)).body).toMatchObject({
    sourceId: 'src-1',
  });
});

test('a partner that posts back before answering the delivery still decides the lead', async () => {
  partner.setBehavior(() => ({
    postbackBeforeAnswer: true,
    postback: [{ status: 'approved', payout: '7.25' }],
  }));
  try {
    const created = await postJson(`${stack.baseUrl}/leads`, { clickId: 'clk-eager' }, KEY);
    const leadId = created.body.leadId as string;
    const answer = await eventually(
      async () => partner.postbackResults.find((r) => r.subid === leadId),
      20_000,
      'eager postback answered',
    );
    expect(answer.httpStatus).toBe(200);
    const lead = await leadReaches(stack, leadId, 'accepted', KEY, 20_000);
    expect(lead).toMatchObject({ partnerId: 'acme', payout: '7.25' });
  } finally {
    partner.setBehavior(() => ({}));
  }
});
