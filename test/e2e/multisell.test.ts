// Multisell over HTTP on the real servers: a lead shared between its two best bidders, each posting back for
// it on its own (the gateway's holder check lets every buyer in), the lead accepted when one accepted, and the
// reports crediting each buyer its own win and sale.
import { bidderPartner } from '../support/bidders';
import { useStack } from '../support/e2e';
import { ADMIN_KEY, buyersPending, eventually, getJson, leadReaches, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const ADMIN = { 'x-api-key': ADMIN_KEY };

const { stack, cola } = useStack({
  partners: { acme: {}, bravo: {}, cola: {} },
  source: false,
  config: ({ acme, bravo, cola }) => ({
    partners: [
      bidderPartner('acme', acme.url),
      bidderPartner('bravo', bravo.url),
      bidderPartner('cola', cola.url),
    ],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
    routing: { auction: { timeoutMs: 10_000, winners: 2 } },
  }),
  ready: ({ acme, bravo, cola }) => {
    acme.setPingBehavior(() => ({ bid: '9.00' }));
    bravo.setPingBehavior(() => ({ bid: '7.50' }));
    cola.setPingBehavior(() => ({ bid: '3.00' }));
    // No synchronous verdict: each buyer decides by postback.
    for (const p of [acme, bravo, cola]) p.setBehavior(() => ({ body: { received: true } }));
  },
});

const postback = (partnerId: string, leadId: string, status: string) =>
  getJson(
    `${stack.baseUrl}/postback/${partnerId}?subid=${leadId}&status=${status}&token=${partnerId}-token-123`,
    {},
  );

test('both buyers post back for the shared lead; one rejection does not undo the other acceptance', async () => {
  const from = new Date(Date.now() - 1000).toISOString();
  const r = await postJson(
    `${stack.baseUrl}/leads`,
    { vertical: 'auto', geo: { country: 'US' } },
    SOURCE_KEY,
  );
  expect(r.status).toBe(202);
  const leadId = r.body.leadId as string;
  await buyersPending(leadId, ['acme', 'bravo']);
  expect(cola.received.filter((l) => l.subid === leadId)).toHaveLength(0);

  // Not the lead's last posted buyer (bravo), acme still holds it; without its id in the path, its token
  // says which buyer it is, whatever the letter case of its name.
  const pathless = await getJson(
    `${stack.baseUrl}/postback?subid=${leadId}&status=accepted&Token=acme-token-123`,
    {},
  );
  expect(pathless).toMatchObject({ status: 200 });
  expect(await postback('bravo', leadId, 'rejected')).toMatchObject({ status: 200 });
  // A partner that bid but was not posted to holds nothing.
  expect((await postback('cola', leadId, 'accepted')).status).toBe(403);
  // Both verdicts recorded (each signal is applied in its own time): the lead is accepted, acme's bid its payout.
  const lead = await eventually(
    async () => {
      const view = await getJson(`${stack.baseUrl}/leads/${leadId}`, SOURCE_KEY);
      return (view.body.history as unknown[]).length === 5 ? view.body : undefined;
    },
    30_000,
    'both verdicts recorded',
  );
  expect(lead).toMatchObject({ status: 'accepted', partnerId: 'acme', payout: '9.00' });
  const history = (lead.history as { status: string; partnerId?: string }[]).map((h) => [
    h.status,
    h.partnerId,
  ]);
  expect(history).toEqual([
    ['received', undefined],
    ['pending', 'acme'],
    ['pending', 'bravo'],
    ['accepted', 'acme'],
    ['rejected', 'bravo'],
  ]);
  // The journey names each buyer's verdict.
  const journey = await getJson(`${stack.baseUrl}/admin/leads/${leadId}/journey`, ADMIN);
  const statuses = (journey.body.timeline as { kind: string; summary: string }[])
    .filter((e) => e.kind === 'status')
    .map((e) => e.summary);
  expect(statuses).toEqual([
    expect.stringMatching(/^status received/),
    'status pending: buyer acme: won the auction at 900 USD; awaiting postback',
    'status pending: buyer bravo: won the auction at 750 USD; awaiting postback',
    expect.stringMatching(/^status accepted: buyer acme: accepted by partner postback/),
    expect.stringMatching(/^status rejected: buyer bravo: rejected by partner postback/),
  ]);
  // acme's chargeback is its own, and the lead then has no sale left. Sent without its id in the path and with its
  // token as a Bearer header, the header says which buyer it is.
  const chargeback = await getJson(`${stack.baseUrl}/postback?subid=${leadId}&status=returned`, {
    authorization: 'Bearer acme-token-123',
  });
  expect(chargeback).toMatchObject({ status: 200 });
  await leadReaches(stack, leadId, 'returned', SOURCE_KEY);

  const to = new Date(Date.now() + 1000).toISOString();
  const report = await getJson(`${stack.baseUrl}/reports/partners?from=${from}&to=${to}`, ADMIN);
  const rows = Object.fromEntries((report.body.rows as { group: string }[]).map((row) => [row.group, row]));
  // Each buyer's deciding postback is counted, not only the last posted buyer's.
  expect(rows.acme).toMatchObject({ accepted: 1, returned: 1, decisions: 1, auction: { wins: 1 } });
  expect(rows.bravo).toMatchObject({ rejected: 1, decisions: 1, auction: { wins: 1 } });
  expect(rows.cola).toMatchObject({ auction: { wins: 0, bids: 1 } });
});
