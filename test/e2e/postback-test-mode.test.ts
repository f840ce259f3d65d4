// The partner integration test: a postback with `test=1` (or the partner's own name for it) is authenticated,
// read and mapped like any other, answered with what would happen, logged with outcome `test`, and changes
// no lead, claim or workflow.
import { Lead, PostbackClaim, PostbackLog } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import {
  ACME_TOKEN,
  historyOf,
  nowSeconds,
  partnersConfig,
  pendingLead,
  refusal,
  send,
  signedQuery,
  waitForStatus,
} from '../support/postbacks';

const { stack } = useStack({
  // acme calls the flag "sandbox".
  config: ({ partner, source }) =>
    partnersConfig(partner.url, source.url, {
      postback: {
        token: ACME_TOKEN,
        statusMap: { lead: 'pending' },
        timeout: '1h',
        params: { test: 'sandbox' },
      },
    }),
});

const acme = (params: Record<string, string>) =>
  send(stack.baseUrl, {
    path: '/postback/acme',
    query: new URLSearchParams({ token: ACME_TOKEN, ...params }).toString(),
  });

/** Signals the lead's workflow received: a test postback must add none. */
async function signalsOf(leadId: string): Promise<number> {
  const history = await stack.client.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
}

/** The whole answer to a test postback (`test=1` or the partner's alias): what applying it would do. */
const testAnswer = (leadId: string, status: string, wouldApply: boolean, reason: string) => ({
  status: 200,
  body: { ok: true, test: true, leadId, status, wouldApply, reason },
});

test('a test postback says it would apply, and changes nothing but the log', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-test-mode');
  const before = await Lead.findById(leadId).lean();
  const signalsBefore = await signalsOf(leadId);

  const res = await acme({ subid: leadId, status: 'approved', payout: '3.00', sandbox: '1' });
  expect(res).toEqual(testAnswer(leadId, 'accepted', true, 'the lead would become accepted'));
  // Nothing moved: the lead, its claims, its workflow.
  expect(await Lead.findById(leadId).lean()).toEqual(before);
  expect(await PostbackClaim.countDocuments({ leadId })).toBe(0);
  expect(await signalsOf(leadId)).toBe(signalsBefore);
  const [line] = await PostbackLog.find({ leadId }).lean();
  expect(line).toMatchObject({
    outcome: 'test',
    httpStatus: 200,
    partnerId: 'acme',
    status: 'accepted',
    wouldApply: true,
  });
  expect(line?.expiresAt).toBeInstanceOf(Date);

  // The real one afterwards is applied as the first of its kind (the test claimed nothing).
  expect((await acme({ subid: leadId, status: 'approved', payout: '3.00' })).body).toMatchObject({
    duplicate: false,
  });
  await waitForStatus(leadId, 'accepted');
  await stack.client.workflow.getHandle(leadWorkflowId(leadId)).result();

  // Tests after it: a repeat and an impossible step would not apply, and say why.
  const repeat = await acme({ subid: leadId, status: 'approved', sandbox: '1' });
  expect(repeat.body).toMatchObject({ test: true, status: 'accepted', wouldApply: false });
  expect(String(repeat.body.reason)).toMatch(/repeat/);
  const reject = await acme({ subid: leadId, status: 'declined', test: '1' });
  expect(reject.body).toMatchObject({
    test: true,
    status: 'rejected',
    wouldApply: false,
    reason: 'a lead that is accepted cannot become rejected',
  });
  expect(await historyOf(leadId)).toEqual(['received', 'pending', 'accepted']);
  expect(await PostbackClaim.countDocuments({ leadId })).toBe(1);
  expect((await PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean()).map((l) => l.outcome)).toEqual([
    'test',
    'applied',
    'test',
    'test',
  ]);
});

test('a test postback is checked like any other: bad credentials, an unmapped status and an unknown lead are errors', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-test-errors');
  const wrongToken = await send(stack.baseUrl, {
    path: '/postback/acme',
    query: new URLSearchParams({
      subid: leadId,
      status: 'approved',
      token: 'not-the-token',
      sandbox: '1',
    }).toString(),
  });
  expect(wrongToken).toMatchObject({ status: 401, body: { error: { code: 'bad_credentials' } } });
  expect(await acme({ subid: leadId, status: 'maybe later', sandbox: '1' })).toMatchObject(
    refusal(422, 'unmapped_status'),
  );
  expect(await acme({ subid: 'no-such-lead', status: 'approved', sandbox: '1' })).toMatchObject(
    refusal(404, 'unknown_lead'),
  );
  expect(await acme({ subid: leadId, status: 'approved', sandbox: 'yes' })).toMatchObject(
    refusal(400, 'invalid_request'),
  );
  expect((await Lead.findById(leadId).lean())?.status).toBe('pending');
});

test('a signed test postback: the signature is checked, then the same answer', async () => {
  const leadId = await pendingLead(stack, 'home', 'clk-test-signed');
  const signed = signedQuery({ subid: leadId, status: 'approved', ts: nowSeconds(), test: '1' });
  const res = await send(stack.baseUrl, { path: '/postback/signed', ...signed });
  expect(res.body).toMatchObject({ ok: true, test: true, leadId, status: 'accepted', wouldApply: true });
  expect(await PostbackClaim.countDocuments({ leadId })).toBe(0);
  expect((await Lead.findById(leadId).lean())?.status).toBe('pending');
});

test('a test postback repeating a transaction id already received would not apply, and names the status it claimed', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-test-txid');
  expect(
    (await acme({ subid: leadId, status: 'approved', payout: '3.00', txid: 'tx-77' })).body,
  ).toMatchObject({ duplicate: false });
  await waitForStatus(leadId, 'accepted');
  // Another status under the same transaction: a partner's retry with a changed body, not a new event.
  const res = await acme({ subid: leadId, status: 'declined', txid: 'tx-77', sandbox: '1' });
  expect(res).toEqual(
    testAnswer(leadId, 'rejected', false, 'a repeat: transaction tx-77 was received already (accepted)'),
  );
  expect(await PostbackClaim.countDocuments({ leadId })).toBe(1);
});

test("a test postback for a lead another partner holds would not apply; its status is still read with this partner's map", async () => {
  const leadId = await pendingLead(stack, 'home', 'clk-test-other'); // delivered to `signed`
  const res = await acme({ subid: leadId, status: 'lead', sandbox: '1' });
  // 'pending': acme's own word "lead".
  expect(res).toEqual(testAnswer(leadId, 'pending', false, 'this lead was not delivered to this partner'));
  // The same refusal outside a test is an error, as it always was.
  expect(await acme({ subid: leadId, status: 'lead' })).toMatchObject(refusal(403, 'forbidden'));
  // A status acme has no word for: the test answers with the mapping error, not a guess.
  expect(await acme({ subid: leadId, status: 'maybe later', sandbox: '1' })).toMatchObject(
    refusal(422, 'unmapped_status'),
  );
  expect((await Lead.findById(leadId).lean())?.status).toBe('pending');
});
