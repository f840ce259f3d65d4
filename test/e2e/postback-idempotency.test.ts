// Repeated postbacks have one effect: the same one twice, twenty at once, the same txid again. And every
// postback's handling time is on record (PostbackLog.latencyMs) and in the /metrics histogram.
import { PostbackClaim, PostbackLog, StatusEvent } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import {
  ACME_TOKEN,
  applied,
  histogramCount,
  historyOf,
  notificationsOf,
  partnersConfig,
  pendingLead,
  repeated,
  send,
  unloggedPostbackService,
  waitForStatus,
} from '../support/postbacks';

/** Postbacks this file sent to the stack: the /metrics histogram must have seen exactly these. */
let sent = 0;

const { stack, source } = useStack({
  config: ({ partner, source }) => partnersConfig(partner.url, source.url),
});

async function postback(path: string, params: Record<string, string>) {
  sent++;
  return send(stack.baseUrl, { path, query: new URLSearchParams(params).toString() });
}

/** Waits for the workflow to finish: after that no further status or notification can come from it. */
async function settled(leadId: string) {
  await stack.client.workflow.getHandle(leadWorkflowId(leadId)).result();
}

/** The same postback to acme 20 times at once: every copy is answered 200, and exactly one is applied. */
async function twentyAtOnce(params: Record<string, string>) {
  const answers = await Promise.all(Array.from({ length: 20 }, () => postback('/postback/acme', params)));
  expect(answers.map((a) => a.status)).toEqual(Array(20).fill(200));
  expect(answers.filter((a) => a.body.duplicate === false)).toHaveLength(1);
  return answers;
}

const sourceHits = (clickId: string, status: string) =>
  source.hits.filter((h) => h.query.clickid === clickId && h.query.status === status);

test('the same postback twice, and again after the lead is accepted: one effect, then duplicates', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-twice');
  const params = { subid: leadId, status: 'approved', payout: '20.00', token: ACME_TOKEN };
  const first = await postback('/postback/acme', params);
  const second = await postback('/postback/acme', params);
  expect(first).toEqual(applied(leadId));
  expect(second).toEqual(repeated(leadId));

  await waitForStatus(leadId, 'accepted');
  // Once the lead is accepted, a repeat is still a repeat (200 duplicate), not an impossible transition (409).
  const third = await postback('/postback', params);
  expect(third).toEqual(repeated(leadId));

  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  expect(sourceHits('clk-twice', 'accepted')).toHaveLength(1);
  expect(await notificationsOf(leadId, 'accepted')).toHaveLength(1);
  const outcomes = (await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean()).map((l) => l.outcome);
  expect(outcomes).toEqual(['applied', 'duplicate', 'duplicate']);
  // The status change points back at the request that caused it.
  const appliedLog = await PostbackLog.findOne({ leadId, outcome: 'applied' }).lean();
  const event = await StatusEvent.findOne({ leadId, status: 'accepted' }).lean();
  expect(event?.postbackId).toBe(String(appliedLog?._id));
});

test('20 identical postbacks at once: exactly one is applied', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-burst');
  const params = { subid: leadId, status: 'approved', token: ACME_TOKEN };
  const answers = await twentyAtOnce(params);
  expect(answers.filter((a) => a.body.duplicate === true)).toHaveLength(19);

  await waitForStatus(leadId, 'accepted');
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  expect(await StatusEvent.countDocuments({ leadId, status: 'accepted' })).toBe(1);
  expect(sourceHits('clk-burst', 'accepted')).toHaveLength(1);
  expect(await notificationsOf(leadId, 'accepted')).toHaveLength(1);
  expect(await PostbackLog.countDocuments({ leadId, outcome: 'applied' })).toBe(1);
  expect(await PostbackLog.countDocuments({ leadId, outcome: 'duplicate' })).toBe(19);
});

test('20 identical holds at once, then the approval: the hold is applied once', async () => {
  // The gateway signals before it claims, so racing copies can all reach the workflow: it must apply one.
  const leadId = await pendingLead(stack, 'auto', 'clk-hold-burst');
  const hold = { subid: leadId, status: 'on hold', token: ACME_TOKEN };
  await twentyAtOnce(hold);
  const approved = await postback('/postback/acme', { subid: leadId, status: 'approved', token: ACME_TOKEN });
  expect(approved.body).toMatchObject({ status: 'accepted', duplicate: false });

  await waitForStatus(leadId, 'accepted');
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'pending', 'accepted']);
  expect(await PostbackLog.countDocuments({ leadId, outcome: 'applied' })).toBe(2);
});

test('a postback whose log line cannot be written is answered 503 though applied; its retry is a duplicate', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-unlogged');
  const service = await unloggedPostbackService(stack);
  const query = { subid: leadId, status: 'approved', payout: '20.00', token: ACME_TOKEN };
  await expect(
    service.receive({
      method: 'GET',
      path: '/postback/acme',
      query,
      body: {},
      headers: {},
      ip: '127.0.0.1',
      requestId: 'unlogged-1',
      partnerIdFromPath: 'acme',
    }),
  ).rejects.toMatchObject({ code: 'dependency_unavailable', status: 503 });
  // The signal went out before the log write: the lead is accepted, once.
  await waitForStatus(leadId, 'accepted');
  expect(await PostbackLog.countDocuments({ leadId })).toBe(0);

  // The partner retries: a duplicate (no claim was missing here; the lead has this partner's status either way).
  const retry = await postback('/postback/acme', query);
  expect(retry).toEqual(repeated(leadId));
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  expect((await PostbackLog.find({ leadId }).lean()).map((l) => l.outcome)).toEqual(['duplicate']);
  expect(await PostbackClaim.countDocuments({ leadId })).toBe(1);
});

test('approved again after the lead was accepted by this partner, with no claim on record: a duplicate, not 409', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-no-claim');
  const query = { subid: leadId, status: 'approved', token: ACME_TOKEN };
  expect((await postback('/postback/acme', query)).body).toMatchObject({ duplicate: false });
  await waitForStatus(leadId, 'accepted');
  await settled(leadId);
  // As if the claim write had failed after the signal.
  await PostbackClaim.deleteMany({ leadId });
  expect(await postback('/postback/acme', query)).toEqual(repeated(leadId));
  // The missing claim is written again, so the effect is on record.
  expect(await PostbackClaim.countDocuments({ leadId, _id: `${leadId}:acme:accepted` })).toBe(1);
});

test('the same txid again (under partner aliases, other raw word, no partner in the path) is a duplicate', async () => {
  const leadId = await pendingLead(stack, 'loans', 'clk-txid');
  // "net" names our parameters clickid/st/key/transaction_id; its "2" and its "lead" both mean a sale.
  const first = await postback('/postback/net', {
    clickid: leadId,
    st: '2',
    key: 'net-token-12345',
    transaction_id: 'T-1001',
    payout: '9.99',
  });
  expect(first).toEqual(applied(leadId));
  const again = await postback('/postback/net', {
    clickid: leadId,
    st: '2',
    key: 'net-token-12345',
    transaction_id: 'T-1001',
    payout: '9.99',
  });
  const otherWord = await postback('/postback', {
    clickid: leadId,
    st: 'lead',
    key: 'net-token-12345',
    transaction_id: 'T-1001',
  });
  expect(again.body).toEqual(repeated(leadId).body);
  expect(otherWord.body).toEqual(repeated(leadId).body);

  const lead = await waitForStatus(leadId, 'accepted');
  expect(lead.payoutCents).toBe(999);
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  expect(sourceHits('clk-txid', 'accepted')).toHaveLength(1);
  const logs = await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean();
  expect(logs.map((l) => [l.partnerId, l.txid, l.rawStatus, l.outcome])).toEqual([
    ['net', 'T-1001', '2', 'applied'],
    ['net', 'T-1001', '2', 'duplicate'],
    ['net', 'T-1001', 'lead', 'duplicate'],
  ]);
  // The token came under the partner's own name ("key") and is not stored.
  expect(logs.map((l) => (l.query as Record<string, unknown>).key)).toEqual([
    '[redacted]',
    '[redacted]',
    '[redacted]',
  ]);
});

test('handling time: every postback has latencyMs in its log and one observation in the /metrics histogram', async () => {
  const res = await fetch(`${stack.baseUrl}/metrics`);
  const text = await res.text();
  expect(res.status).toBe(200);
  expect(text).toMatch(/^# TYPE leadrouter_postback_handling_seconds histogram$/m);
  expect(sent).toBeGreaterThanOrEqual(50);
  expect(histogramCount(text)).toBe(sent);
  // Buckets are cumulative: the +Inf bucket of each outcome equals its count.
  const inf = [
    ...text.matchAll(/^leadrouter_postback_handling_seconds_bucket\{le="\+Inf",outcome="(\w+)"\} (\d+)$/gm),
  ];
  expect(Object.fromEntries(inf.map((m) => [m[1], Number(m[2])]))).toEqual({ applied: 6, duplicate: 44 });
  const logs = await PostbackLog.find({}, { latencyMs: 1, outcome: 1 }).lean();
  expect(logs).toHaveLength(sent);
  for (const l of logs) {
    expect(l.latencyMs).toBeGreaterThan(0);
    expect(l.latencyMs).toBeLessThan(30_000);
  }
});

test('the same txid with another status is still a duplicate: one event, one effect', async () => {
  const leadId = await pendingLead(stack, 'loans', 'clk-txid-other');
  const net = (st: string, txid: string) =>
    postback('/postback/net', { clickid: leadId, st, key: 'net-token-12345', transaction_id: txid });
  // "1" is a hold (pending), "2" a sale: a valid step, but under the hold's transaction id it is that event again.
  expect((await net('1', 'T-3001')).body).toEqual(applied(leadId, 'pending').body);
  expect((await net('2', 'T-3001')).body).toEqual(repeated(leadId, 'pending').body);
  // A new transaction id is a new event.
  expect((await net('2', 'T-3002')).body).toEqual(applied(leadId).body);
  await waitForStatus(leadId, 'accepted');
  await settled(leadId);
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'pending', 'accepted']);
});
