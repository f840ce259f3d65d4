// Search attributes, memo and the `status` query as operators use them: a finished lead is found by
// `LeadStatus="accepted" AND PartnerId="acme"` through the client's list (the Temporal UI runs the same query).
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { statusQuery } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { baseConfig, decidedLead, eventually } from '../support/stack';

const { stack } = useStack({ config: ({ partner, source }) => baseConfig(partner.url, source.url) });

const decided = (rawStatus: 'approved' | 'declined', expected: string) =>
  decidedLead(stack, `clk-${rawStatus}`, { status: rawStatus }, expected);

/** The workflows a visibility query finds (visibility lags the workflow a little, so callers poll). */
async function list(query: string): Promise<WorkflowExecutionInfo[]> {
  const found: WorkflowExecutionInfo[] = [];
  for await (const info of stack.client.workflow.list({ query })) found.push(info);
  return found;
}

test('an accepted lead is found by LeadStatus and PartnerId, with its status in the memo and the status query', async () => {
  const accepted = await decided('approved', 'accepted');
  const rejected = await decided('declined', 'rejected');
  const acceptedId = `lead-${accepted}`;
  const rejectedId = `lead-${rejected}`;

  // The query from the docs, as the UI and `temporal workflow list --query` run it.
  const info = await eventually(
    async () => {
      const all = await list(`LeadStatus="accepted" AND PartnerId="acme" AND TaskQueue="${stack.taskQueue}"`);
      return all.find((w) => w.workflowId === acceptedId);
    },
    30_000,
    'accepted lead in visibility',
  );
  expect(info.type).toBe('leadWorkflow');
  expect(info.memo).toMatchObject({ status: 'accepted', partnerId: 'acme' });
  expect(
    info.typedSearchAttributes
      .getAll()
      .map((p) => [p.key.name, p.value])
      .sort(),
  ).toEqual(
    expect.arrayContaining([
      ['LeadStatus', 'accepted'],
      ['PartnerId', 'acme'],
      ['SourceId', 'src-1'],
    ]),
  );

  const rejectedOnly = await eventually(
    async () => {
      const all = await list(`LeadStatus="rejected" AND PartnerId="acme" AND TaskQueue="${stack.taskQueue}"`);
      return all.some((w) => w.workflowId === rejectedId) ? all : undefined;
    },
    30_000,
    'rejected lead in visibility',
  );
  expect(rejectedOnly.map((w) => w.workflowId)).not.toContain(acceptedId);

  const bySource = await eventually(
    async () => {
      const all = await list(`SourceId="src-1" AND TaskQueue="${stack.taskQueue}"`);
      const ids = all.map((w) => w.workflowId);
      return ids.includes(acceptedId) && ids.includes(rejectedId) ? ids : undefined;
    },
    30_000,
    'both by source',
  );
  expect(bySource).toEqual(expect.arrayContaining([acceptedId, rejectedId]));

  // The `status` query answers from the workflow, finished or not.
  const view = await stack.client.workflow.getHandle(acceptedId).query(statusQuery);
  expect(view).toMatchObject({
    leadId: accepted,
    sourceId: 'src-1',
    status: 'accepted',
    partnerId: 'acme',
    partnersTried: ['acme'],
    payoutCents: 1250,
  });
});
