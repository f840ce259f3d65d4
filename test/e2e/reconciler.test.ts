// The reconciler under failure, on the real servers: entries are queued the way production queues them (a second
// gateway that cannot reach Temporal takes leads and postbacks), then a reconciler of the test's own is ticked by
// hand. Faults are a refusal by the real Temporal server (an id over its length limit), the database connection
// dropped, and a Temporal call made to fail by a gateway subclass (Temporal itself stays real).
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Client } from '@temporalio/client';
import { createGateway } from '../../apps/gateway/app';
import { Reconciler } from '../../apps/gateway/outbox';
import { TemporalClient } from '../../apps/gateway/temporal';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createMetrics, type Metrics } from '../../shared/metrics';
import { IntakeOutbox, Lead, PostbackClaim, StatusEvent } from '../../shared/models';
import { leadWorkflowId, type PostbackSignal } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { testEnv, uniqueDbName, testDbUri } from '../support/servers';
import { ADMIN_KEY, getJson, postJson } from '../support/stack';
import {
  ACME_TOKEN,
  partnersConfig,
  pendingLead,
  send,
  SOURCE_KEY,
  waitForStatus,
} from '../support/postbacks';

/** Temporal refuses a workflow id over 1000 characters: a start or signal for this lead is refused every time. */
const POISON = `poison-${'x'.repeat(1000)}`;
const ADMIN = { 'x-api-key': ADMIN_KEY };

let cutOff: { url: string; server: Server; temporal: TemporalClient };
const dbName = uniqueDbName('reconciler');
const mongoUri = () => testDbUri(dbName);

/** A gateway whose Temporal calls can be made to fail, or to be followed by a step of the test's own. */
class FaultyTemporal extends TemporalClient {
  /** Signals answered so far; the one with this number fails, and Temporal then looks down until `up()`. */
  signals = 0;
  failSignal = 0;
  private down = false;
  afterSignal?: (leadId: string) => Promise<void>;

  override async signalPostback(leadId: string, signal: PostbackSignal): Promise<void> {
    if (++this.signals === this.failSignal || this.down) {
      this.down = true;
      throw new Error('connection to Temporal lost (injected)');
    }
    await super.signalPostback(leadId, signal);
    await this.afterSignal?.(leadId);
  }

  override async ping(): Promise<boolean> {
    return !this.down && super.ping();
  }

  up(): void {
    this.down = false;
  }
}

function reconcilerFor(
  temporal: TemporalClient,
  extra: Partial<ConstructorParameters<typeof Reconciler>[0]> = {},
) {
  const lines: string[] = [];
  const logger = pino(
    { level: 'info' },
    new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(chunk.toString()), done()) }),
  );
  const metrics: Metrics = createMetrics();
  const reconciler = new Reconciler({ temporal, logger, metrics, graceMs: 0, backoffMs: 1, ...extra });
  return { reconciler, lines, metrics };
}

const newTemporal = <T extends TemporalClient>(
  Kind: new (o: TemporalClient['options']) => T = TemporalClient as never,
) =>
  new Kind({
    address: testEnv().temporalAddress,
    namespace: testEnv().temporalNamespace,
    taskQueue: stack.taskQueue,
  });

/** Signals in the workflow's history carrying this postback. */
async function signalsOf(client: Client, leadId: string, postbackId: string): Promise<number> {
  const history = await client.workflow.getHandle(leadWorkflowId(leadId)).fetchHistory();
  return (history.events ?? []).filter((e) =>
    (e.workflowExecutionSignaledEventAttributes?.input?.payloads ?? []).some((p) =>
      Buffer.from(p.data ?? [])
        .toString()
        .includes(`"${postbackId}"`),
    ),
  ).length;
}

/** A pending lead's approval, queued by the gateway that cannot reach Temporal. */
async function queuedApproval(clickId: string): Promise<{ leadId: string; postbackId: string }> {
  const leadId = await pendingLead(stack, 'auto', clickId);
  const res = await send(cutOff.url, {
    path: '/postback/acme',
    query: new URLSearchParams({
      token: ACME_TOKEN,
      subid: leadId,
      status: 'approved',
      payout: '5.00',
    }).toString(),
  });
  expect(res).toMatchObject({ status: 202, body: { queued: true } });
  const claim = await PostbackClaim.findById(`${leadId}:acme:accepted`).lean();
  return { leadId, postbackId: String(claim?.postbackId) };
}

/** A lead taken by the gateway that cannot reach Temporal: stored, its start queued. */
async function queuedLead(clickId: string): Promise<string> {
  const res = await postJson(
    `${cutOff.url}/leads`,
    { clickId, vertical: 'auto', geo: { country: 'US' } },
    SOURCE_KEY,
  );
  expect(res).toMatchObject({ status: 202 });
  return res.body.leadId as string;
}

const { stack } = useStack({
  config: ({ partner, source }) => partnersConfig(partner.url, source.url),
  // The stack's own reconciler never ticks here: each test drives one of its own.
  stack: { dbName, reconcilerIntervalMs: 3_600_000 },
  ready: async ({ stack }) => {
    const temporal = new TemporalClient({
      address: '127.0.0.1:1',
      namespace: 'default',
      taskQueue: stack.taskQueue,
      callTimeoutMs: 300,
    });
    const app = createGateway({
      config: () => stack.config,
      temporal,
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
      adminKey: ADMIN_KEY,
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    cutOff = { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, server, temporal };
  },
});

afterAll(async () => {
  await new Promise<void>((r) => {
    cutOff?.server.closeAllConnections();
    cutOff?.server.close(() => r());
  });
  await cutOff?.temporal.close();
}, 60_000);

beforeEach(async () => {
  await Promise.all([IntakeOutbox.deleteMany({}), PostbackClaim.deleteMany({ sentAt: { $exists: false } })]);
});

test('an entry Temporal refuses does not hold up the ones behind it; after its attempts it is dead, listed and retried', async () => {
  const old = new Date(Date.now() - 60_000);
  await Lead.create({ _id: POISON, sourceId: 'src-1', status: 'received' });
  await IntakeOutbox.create({ _id: POISON, createdAt: old });
  const poisonSignal = {
    postbackId: 'pb-poison',
    partnerId: 'acme',
    status: 'accepted',
    receivedAt: old.toISOString(),
  };
  await PostbackClaim.create({
    _id: `${POISON}:acme:accepted`,
    leadId: POISON,
    postbackId: 'pb-poison',
    signal: poisonSignal,
    claimedAt: old,
  });
  const [lead1, lead2] = [await queuedLead('clk-rc-behind-1'), await queuedLead('clk-rc-behind-2')];
  const approval = await queuedApproval('clk-rc-behind-3');

  const temporal = newTemporal();
  const { reconciler, lines, metrics } = reconcilerFor(temporal, { maxAttempts: 2 });
  expect(await reconciler.tick()).toBe(3);
  await Promise.all([
    waitForStatus(lead1, 'pending'),
    waitForStatus(lead2, 'pending'),
    waitForStatus(approval.leadId, 'accepted'),
  ]);
  expect(await IntakeOutbox.findById(POISON).lean()).toMatchObject({
    attempts: 1,
    nextAttemptAt: expect.any(Date),
  });
  expect(lines.join('')).toContain('outbox entry failed; will retry');

  // The second attempt is the last: dead-lettered, counted, logged, listed.
  await new Promise((r) => setTimeout(r, 5)); // past the 1 ms backoff
  expect(await reconciler.tick()).toBe(0);
  const dead = await getJson(`${stack.baseUrl}/admin/outbox?state=dead`, ADMIN);
  expect(dead.status).toBe(200);
  expect(dead.body.entries).toEqual([
    expect.objectContaining({ id: POISON, kind: 'lead-start', leadId: POISON, state: 'dead', attempts: 2 }),
    expect.objectContaining({
      id: `${POISON}:acme:accepted`,
      kind: 'postback-signal',
      leadId: POISON,
      state: 'dead',
      attempts: 2,
    }),
  ]);
  expect((dead.body.entries as { lastError: string }[])[0]?.lastError).toMatch(/length|limit|long/i);
  expect((await getJson(`${stack.baseUrl}/admin/outbox?state=waiting`, ADMIN)).body.entries).toEqual([]);
  expect(await metrics.registry.getSingleMetricAsString('leadrouter_outbox_dead_letters_total')).toMatch(
    /kind="lead-start"} 1[\s\S]*kind="postback-signal"} 1/,
  );
  expect(lines.join('')).toContain('outbox entry dead-lettered');
  // A dead entry is not tried again by later passes.
  expect(await reconciler.tick()).toBe(0);
  expect((await IntakeOutbox.findById(POISON).lean())?.attempts).toBe(2);

  // Retry puts it back in line: attempts cleared, and the next pass tries it again.
  const retried = await postJson(`${stack.baseUrl}/admin/outbox/${POISON}/retry`, {}, ADMIN);
  expect(retried).toMatchObject({
    status: 200,
    body: { id: POISON, kind: 'lead-start', state: 'waiting', attempts: 0 },
  });
  expect((await getJson(`${stack.baseUrl}/admin/outbox?state=dead`, ADMIN)).body.entries).toHaveLength(1);
  await reconciler.tick();
  expect(await IntakeOutbox.findById(POISON).lean()).toMatchObject({ attempts: 1 });
  expect((await postJson(`${stack.baseUrl}/admin/outbox/no-such-entry/retry`, {}, ADMIN)).status).toBe(404);
  expect((await getJson(`${stack.baseUrl}/admin/outbox?state=dead`, {})).status).toBe(401);
  expect((await getJson(`${stack.baseUrl}/admin/outbox?state=gone`, ADMIN)).status).toBe(400);
  await temporal.close();
});

test('a pass that throws (the database went away) is logged, and the next tick delivers', async () => {
  const leadId = await queuedLead('clk-rc-throws');
  const temporal = newTemporal();
  const { reconciler, lines } = reconcilerFor(temporal);
  await disconnectMongo();
  try {
    expect(await reconciler.tick()).toBe(0);
  } finally {
    await connectMongo(mongoUri());
  }
  expect(lines.join('')).toContain('reconciler pass failed; will retry');
  expect(await reconciler.tick()).toBe(1);
  await waitForStatus(leadId, 'pending');
  await temporal.close();
});

test('a pass that throws after it was told of queued postbacks: the next tick still searches for them', async () => {
  const temporal = newTemporal();
  const { reconciler } = reconcilerFor(temporal);
  // The start's backlog and the first full scan, spent on nothing.
  expect(await reconciler.tick()).toBe(0);
  const { leadId } = await queuedApproval('clk-rc-told-throws');
  temporal.markBacklog(); // what this gateway's own failed signal does
  await disconnectMongo();
  try {
    expect(await reconciler.tick()).toBe(0);
  } finally {
    await connectMongo(mongoUri());
  }
  // Not left to the full scan minutes later.
  expect(await reconciler.tick()).toBe(1);
  await waitForStatus(leadId, 'accepted');
  await temporal.close();
});

test('a signal failing mid-batch: the next tick delivers every entry exactly once', async () => {
  const queued = [
    await queuedApproval('clk-rc-mid-1'),
    await queuedApproval('clk-rc-mid-2'),
    await queuedApproval('clk-rc-mid-3'),
  ];
  const temporal = newTemporal(FaultyTemporal);
  temporal.failSignal = 2;
  const { reconciler } = reconcilerFor(temporal);
  expect(await reconciler.tick()).toBe(1); // the first; the second failed and Temporal looked down: the pass stopped
  // An outage is not the entry's fault: no attempt counted against it.
  expect(
    (await PostbackClaim.findById(`${queued[1]?.leadId}:acme:accepted`).lean())?.attempts,
  ).toBeUndefined();
  temporal.up();
  expect(await reconciler.tick()).toBe(2);
  expect(temporal.signals).toBe(4); // three sent once each, and the one call that failed
  for (const q of queued) {
    await waitForStatus(q.leadId, 'accepted');
    expect(await signalsOf(stack.client, q.leadId, q.postbackId)).toBe(1);
  }
  expect(await PostbackClaim.countDocuments({ sentAt: { $exists: false } })).toBe(0);
  await temporal.close();
});

test('a signal that succeeds while its sentAt update fails is sent again and applied once', async () => {
  const q = await queuedApproval('clk-rc-sentat');
  const temporal = newTemporal(FaultyTemporal);
  temporal.afterSignal = () => disconnectMongo();
  const { reconciler, lines } = reconcilerFor(temporal);
  try {
    expect(await reconciler.tick()).toBe(0);
  } finally {
    temporal.afterSignal = undefined;
    await connectMongo(mongoUri());
  }
  expect(lines.join('')).toContain('reconciler pass failed');
  expect((await PostbackClaim.findById(`${q.leadId}:acme:accepted`).lean())?.sentAt).toBeUndefined();
  expect(await reconciler.tick()).toBe(1);
  const lead = await waitForStatus(q.leadId, 'accepted');
  expect(lead.revenueCents).toBe(500);
  // Sent twice (the second may reach a new run if the first closed meanwhile), applied once: one status event.
  expect(temporal.signals).toBe(2);
  expect(await StatusEvent.countDocuments({ leadId: q.leadId, status: 'accepted' })).toBe(1);
  await temporal.close();
});

test('an intake entry whose lead is missing is dropped without a workflow; the ones behind it start', async () => {
  await IntakeOutbox.create({ _id: 'no-such-lead-rc', createdAt: new Date(Date.now() - 60_000) });
  const leadId = await queuedLead('clk-rc-after-missing');
  const temporal = newTemporal();
  const { reconciler } = reconcilerFor(temporal);
  expect(await reconciler.tick()).toBe(2);
  expect(await IntakeOutbox.countDocuments()).toBe(0);
  await expect(stack.client.workflow.getHandle(leadWorkflowId('no-such-lead-rc')).describe()).rejects.toThrow(
    /not found/i,
  );
  await waitForStatus(leadId, 'pending');
  await temporal.close();
});

test('overlapping ticks: the second finds the pass under way and sends nothing; each entry is signalled once', async () => {
  const queued = [await queuedApproval('clk-rc-overlap-1'), await queuedApproval('clk-rc-overlap-2')];
  const temporal = newTemporal();
  const { reconciler } = reconcilerFor(temporal);
  const [first, second] = await Promise.all([reconciler.tick(), reconciler.tick()]);
  expect([first, second]).toEqual([2, 0]);
  for (const q of queued) expect(await signalsOf(stack.client, q.leadId, q.postbackId)).toBe(1);
  await temporal.close();
});

test('claims another gateway left are found by the periodic full scan, not by a quiet pass', async () => {
  let now = new Date();
  const temporal = newTemporal();
  const { reconciler } = reconcilerFor(temporal, { fullScanIntervalMs: 60_000, now: () => now });
  expect(await reconciler.tick()).toBe(0); // a new process scans once at start, then only when told
  const q = await queuedApproval('clk-rc-fullscan'); // queued by the other gateway: this one was not told
  now = new Date(now.getTime() + 30_000);
  expect(await reconciler.tick()).toBe(0);
  expect((await PostbackClaim.findById(`${q.leadId}:acme:accepted`).lean())?.sentAt).toBeUndefined();
  now = new Date(now.getTime() + 31_000);
  expect(await reconciler.tick()).toBe(1);
  await waitForStatus(q.leadId, 'accepted');
  await temporal.close();
});
