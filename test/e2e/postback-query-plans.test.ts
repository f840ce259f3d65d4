// A lead's happy path reads and writes MongoDB by index only: every query the gateway and the worker send for one
// lead's journey (intake, delivery, a postback with a txid, its repeat, the status, the notification) is explained
// on the real server and must not scan its collection. FerretDB as released pushes down only an `_id` equality, so a
// `$in` on `_id` was a scan of the whole collection (the txid check did that on every postback); the project's
// build pushes `$in` down too (decision 0001), which the first test checks with the rest.
import type { CommandStartedEvent, Document } from 'mongodb';
import mongoose from 'mongoose';
import { leadWorkflowId, statusQuery } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { ACME_TOKEN, partnersConfig, pendingLead, send, SOURCE_KEY } from '../support/postbacks';
import { eventually, postJson } from '../support/stack';

const { stack } = useStack({
  config: ({ partner, source }) => partnersConfig(partner.url, source.url),
  // No reconciler pass during the journey: its outbox scans are not the lead's path.
  stack: { monitorCommands: true, reconcilerIntervalMs: 3_600_000 },
});

/** The filter a command selects documents by, when it has one. */
function filterOf(e: CommandStartedEvent): { collection: string; filter: Document } | undefined {
  const c = e.command;
  const collection = String(c[e.commandName]);
  switch (e.commandName) {
    case 'find':
    case 'count':
      return { collection, filter: c.filter ?? c.query ?? {} };
    case 'update':
    case 'delete':
      return { collection, filter: c[e.commandName === 'update' ? 'updates' : 'deletes'][0].q };
    case 'findAndModify':
      return { collection, filter: c.query };
    case 'aggregate':
      return { collection, filter: c.pipeline[0]?.$match ?? {} };
    default:
      return undefined;
  }
}

/** The partner's approval of a lead, with a txid (as partners send it) and its token. */
const approvalWithTxid = (leadId: string): string =>
  new URLSearchParams({
    subid: leadId,
    status: 'approved',
    payout: '12.50',
    txid: `tx-${leadId}`,
    token: ACME_TOKEN,
  }).toString();

/** True when the server answers the filter from an index: FerretDB pushes it down, mongod plans no COLLSCAN. */
async function usesIndex(collection: string, filter: Document): Promise<boolean> {
  const db = mongoose.connection.db!;
  const plan = await db.command({ explain: { find: collection, filter }, verbosity: 'queryPlanner' });
  if ('filterPushdown' in plan) return plan.filterPushdown === true;
  return !JSON.stringify(plan.queryPlanner.winningPlan).includes('COLLSCAN');
}

test('one lead from intake to its notified acceptance, a postback with a txid and its repeat: no collection scan', async () => {
  const seen: { collection: string; filter: Document }[] = [];
  const record = (e: CommandStartedEvent) => {
    const selected = filterOf(e);
    if (selected) seen.push(selected);
  };
  const client = mongoose.connection.getClient();
  client.on('commandStarted', record);
  try {
    const leadId = await pendingLead(stack, 'auto', 'clk-plans');
    const query = approvalWithTxid(leadId);
    expect((await send(stack.baseUrl, { path: '/postback', query })).status).toBe(200);
    const repeat = await send(stack.baseUrl, { path: '/postback', query });
    expect(repeat.status).toBe(200);
    expect(repeat.body).toMatchObject({ duplicate: true });
    await stack.client.workflow.getHandle(leadWorkflowId(leadId)).result();
  } finally {
    client.off('commandStarted', record);
  }

  const collections = new Set(seen.map((s) => s.collection));
  expect([...collections]).toEqual(expect.arrayContaining(['leads', 'postback_effects']));
  const scans = [];
  for (const { collection, filter } of seen) {
    if (!(await usesIndex(collection, filter))) scans.push({ collection, filter });
  }
  expect(scans).toEqual([]);
});

test("one lead's journey costs its lead document three reads, a read-and-mark and two writes", async () => {
  // Only the application's commands: the test waits on the workflow's query (Temporal), never on MongoDB.
  const commands: string[] = [];
  const record = (e: CommandStartedEvent) => {
    if (e.command[e.commandName] === 'leads') commands.push(e.commandName);
  };
  const client = mongoose.connection.getClient();
  client.on('commandStarted', record);
  try {
    const created = await postJson(
      `${stack.baseUrl}/leads`,
      { clickId: 'clk-budget', vertical: 'auto', geo: { country: 'US' } },
      SOURCE_KEY,
    );
    expect(created.status).toBe(202);
    const leadId = created.body.leadId as string;
    const handle = stack.client.workflow.getHandle(leadWorkflowId(leadId));
    await eventually(async () => ((await handle.query(statusQuery)).status === 'pending' ? true : undefined));
    const query = approvalWithTxid(leadId);
    expect((await send(stack.baseUrl, { path: '/postback', query })).status).toBe(200);
    // The run ends once the source is notified of the acceptance: the journey's last step.
    expect((await handle.result()).status).toBe('accepted');
  } finally {
    client.off('commandStarted', record);
  }
  const counted: Record<string, number> = {};
  for (const c of commands) counted[c] = (counted[c] ?? 0) + 1;
  // insert: the intake. find: the run's start, the gateway's postback, the source's notification.
  // findAndModify: the delivery reads the lead and marks it offered. update: pending, accepted (the accepted
  // status is timed from the delivery the run passes, not from a read).
  expect(counted).toEqual({ insert: 1, find: 3, findAndModify: 1, update: 2 });
});

test("a postback with a txid reads the partner's other claims of the lead in one find", async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-txid-reads');
  const claimReads: Document[] = [];
  const record = (e: CommandStartedEvent) => {
    if (e.commandName === 'find' && e.command.find === 'postback_effects') claimReads.push(e.command.filter);
  };
  const client = mongoose.connection.getClient();
  client.on('commandStarted', record);
  try {
    expect((await send(stack.baseUrl, { path: '/postback', query: approvalWithTxid(leadId) })).status).toBe(
      200,
    );
  } finally {
    client.off('commandStarted', record);
  }
  // The approval's own claim is found by its insert; the other three statuses' claims, by one read.
  expect(claimReads).toEqual([
    { _id: { $in: ['pending', 'rejected', 'returned'].map((s) => `${leadId}:acme:${s}`) } },
  ]);
});
