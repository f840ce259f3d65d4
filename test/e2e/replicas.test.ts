// Several gateways against one database (three gateways' background jobs in one process, each with its own
// Temporal connection and lease holder, on the real Mongo-wire server and Temporal dev server): every job is
// done once per term, by one of them, and another takes over when that one stops (decision 0012).
import pino from 'pino';
import { Client, Connection } from '@temporalio/client';
import { Housekeeper } from '../../apps/gateway/housekeeping';
import { Lease } from '../../apps/gateway/lease';
import { Reconciler } from '../../apps/gateway/outbox';
import { TemporalClient } from '../../apps/gateway/temporal';
import { createMetrics } from '../../shared/metrics';
import { IntakeOutbox, Lead, PostbackClaim, SignatureNonce } from '../../shared/models';
import { leadWorkflowId } from '../../shared/temporal';
import { useDatabase } from '../support/e2e';
import { testEnv, uniqueTaskQueue } from '../support/servers';

const logger = pino({ level: 'silent' });
const TERM = 10_000;
const FULL_SCAN = 60_000;
const taskQueue = uniqueTaskQueue('replicas');
const run = Date.now().toString(36);
let client: Client;
let now = new Date();

interface Replica {
  name: string;
  temporal: TemporalClient;
  reconciler: Reconciler;
  housekeeper: Housekeeper;
}
let replicas: Replica[] = [];

function replica(name: string): Replica {
  const env = testEnv();
  const temporal = new TemporalClient({
    address: env.temporalAddress,
    namespace: env.temporalNamespace,
    taskQueue,
  });
  const lease = { holder: `${name}:${run}`, termMs: TERM };
  const clock = () => now;
  return {
    name,
    temporal,
    reconciler: new Reconciler({
      temporal,
      logger,
      metrics: createMetrics(),
      graceMs: 0,
      fullScanIntervalMs: FULL_SCAN,
      lease,
      now: clock,
    }),
    housekeeper: new Housekeeper({ logger, intervalMs: TERM, lease, now: clock }),
  };
}

/** Ticks every replica's reconciler at once; returns what each delivered. */
const tickAll = (rs: Replica[]) => Promise.all(rs.map((r) => r.reconciler.tick()));
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

async function queueLeads(prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${run}-${i}`);
  await Lead.create(ids.map((_id) => ({ _id, sourceId: 'src-1', status: 'received' })));
  await IntakeOutbox.create(ids.map((_id) => ({ _id, createdAt: new Date(now.getTime() - 1000) })));
  return ids;
}

async function queueSignals(prefix: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${prefix}-${run}-${i}`);
  const claimedAt = new Date(now.getTime() - 1000);
  await PostbackClaim.create(
    ids.map((leadId) => ({
      _id: `${leadId}:acme:accepted`,
      leadId,
      postbackId: `pb-${leadId}`,
      signal: {
        postbackId: `pb-${leadId}`,
        partnerId: 'acme',
        status: 'accepted',
        receivedAt: claimedAt.toISOString(),
      },
      claimedAt,
    })),
  );
  return ids;
}

async function signalCount(leadId: string): Promise<number> {
  const history = await client.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
  return (history.events ?? []).filter((e) => e.workflowExecutionSignaledEventAttributes).length;
}

useDatabase('replicas');

beforeAll(async () => {
  client = new Client({
    connection: await Connection.connect({ address: testEnv().temporalAddress }),
    namespace: testEnv().temporalNamespace,
  });
  replicas = ['g1', 'g2', 'g3'].map(replica);
});

afterAll(async () => {
  await Promise.all(replicas.map((r) => r.temporal.close()));
  await client.connection.close();
});

test('a lease term has exactly one holder, however many gateways ask at once', async () => {
  const at = new Date('2026-12-01T10:00:05Z');
  const leases = Array.from({ length: 12 }, (_, i) => new Lease(`race-${run}`, TERM, `holder-${i}`));
  const first = await Promise.all(leases.map((l) => l.holds(at)));
  expect(first.filter(Boolean)).toHaveLength(1);
  // The same answer for the rest of the term, without asking again.
  expect(await Promise.all(leases.map((l) => l.holds(new Date(at.getTime() + 4000))))).toEqual(first);
  const next = await Promise.all(leases.map((l) => l.holds(new Date(at.getTime() + TERM))));
  expect(next.filter(Boolean)).toHaveLength(1);
});

test('three gateways: queued starts and signals are sent once, by the term holder; another takes over when it stops', async () => {
  // A second into a full-scan term (terms are aligned on the clock), so the steps below stay in the terms they name.
  now = new Date(Math.ceil(Date.now() / FULL_SCAN) * FULL_SCAN + 1000);
  // Each new process looks once (it may inherit what a dead one left): the outbox is empty, nothing is sent.
  expect(sum(await tickAll(replicas))).toBe(0);

  // Leads queued by some gateway that then died: only the term's holder sends them, each once.
  const leads = await queueLeads('rep-lead', 6);
  const first = await tickAll(replicas);
  expect(first.filter((n) => n > 0)).toEqual([6]);
  expect(sum(await tickAll(replicas))).toBe(0);
  expect(await IntakeOutbox.countDocuments()).toBe(0);
  for (const id of leads) await client.workflow.getHandle(leadWorkflowId(id)).describe();

  // Claims nobody was told about wait for the periodic full scan, which one gateway does.
  const signalled = await queueSignals('rep-signal', 4);
  now = new Date(now.getTime() + 2000);
  expect(sum(await tickAll(replicas))).toBe(0);
  now = new Date(now.getTime() + FULL_SCAN);
  expect(sum(await tickAll(replicas))).toBe(4);
  expect(sum(await tickAll(replicas))).toBe(0);
  for (const id of signalled) expect(await signalCount(id)).toBe(1);

  // The holder stops (killed): within a term, one of the others holds the job and sends what is queued.
  const holder = replicas[first.findIndex((n) => n > 0)] as Replica;
  const others = replicas.filter((r) => r !== holder);
  const later = await queueLeads('rep-after', 3);
  now = new Date(now.getTime() + TERM);
  const taken = await tickAll(others);
  expect(taken.filter((n) => n > 0)).toEqual([3]);
  for (const id of later) await client.workflow.getHandle(leadWorkflowId(id)).describe();
});

test('a gateway whose own Temporal call failed sends what it queued, lease or not', async () => {
  now = new Date(now.getTime() + TERM);
  // Find a gateway that does not hold this term.
  const holds = await Promise.all(
    replicas.map((r) => new Lease('outbox', TERM, `${r.name}:${run}`).holds(now)),
  );
  const follower = replicas[holds.findIndex((h) => !h)] as Replica;
  const [leadId] = await queueSignals('rep-told', 1);
  follower.temporal.markBacklog(); // what a failed call does
  expect(await follower.reconciler.tick()).toBe(1);
  expect(await signalCount(leadId as string)).toBe(1);
});

test('three housekeepers: house is kept once per term', async () => {
  now = new Date(Math.ceil(Date.now() / TERM) * TERM + 1000);
  await SignatureNonce.create({ _id: `n-${run}`, expiresAt: new Date(now.getTime() - 1) });
  const kept = await Promise.all(replicas.map((r) => r.housekeeper.run()));
  expect(kept.filter(Boolean)).toHaveLength(1);
  expect(await SignatureNonce.countDocuments()).toBe(0);
  now = new Date(now.getTime() + 5000); // same term: nobody again
  expect((await Promise.all(replicas.map((r) => r.housekeeper.run()))).filter(Boolean)).toHaveLength(0);
  now = new Date(now.getTime() + TERM);
  expect((await Promise.all(replicas.map((r) => r.housekeeper.run()))).filter(Boolean)).toHaveLength(1);
});
