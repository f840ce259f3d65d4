// The lead workflow on the time-skipping test server with its real worker and activities: a Mongo-wire
// database of its own, loopback partner and source simulators, and helpers to create leads like the gateway.
import { randomBytes } from 'node:crypto';
import type { WorkflowHandle, WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { undiciHttp } from '../../activities/http';
import {
  startPartnerSimulator,
  startSourceSimulator,
  type PartnerSimulator,
  type SourceSimulator,
} from '../../scripts/simulators';
import { searchAttributeTypes } from '../../apps/cli/search-attributes';
import { createLeadWorker } from '../../apps/worker/worker';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';
import { Delivery, Lead, Notification, StatusEvent } from '../../shared/models';
import { receivedEvent } from '../../shared/reports';
import {
  LEAD_WORKFLOW_TYPE,
  leadWorkflowId,
  postbackSignal,
  replayNotificationSignal,
  leadStartAttributes,
  statusQuery,
  type LeadWorkflowInput,
  type LeadWorkflowView,
  type PostbackSignal,
  type ReplayNotificationSignal,
} from '../../shared/temporal';
import type { leadWorkflow } from '../../workflows/lead';
import { createTimeSkippingEnv, uniqueDbName, uniqueTaskQueue, testDbUri } from './servers';
import { simulatorPing } from './bidders';
import { useStarted } from './late-bound';
import { eventually, quietTemporalRuntime } from './stack';

/** The simulators a routing config can point at. */
export interface Endpoints {
  /** Partner `acme`'s API. */
  acme: string;
  /** A second partner, `bravo`, for waterfall cases. */
  bravo: string;
  /** The traffic source's postback endpoint. */
  source: string;
}

export type LeadHandle = WorkflowHandleWithFirstExecutionRunId<typeof leadWorkflow>;

export type LeadFields = {
  clickId?: string;
  vertical?: string;
  geo?: { country?: string; state?: string; zip?: string };
} & Record<string, unknown>;

export interface LeadRecord {
  lead: Record<string, unknown> & { status: string; seq: number };
  history: {
    _id: string;
    status: string;
    seq: number;
    partnerId?: string;
    reason?: string;
    rawStatus?: string;
    revenueDeltaCents: number;
  }[];
  deliveries: { partnerId: string; attempt: number; outcome: string; httpStatus?: number; reason?: string }[];
  notifications: {
    status: string;
    eventId: string;
    attempt: number;
    ok: boolean;
    httpStatus?: number;
    exhausted?: boolean;
    at: Date;
  }[];
}

export interface LeadConfigOptions {
  /** Add partner `bravo` (priority 2) behind `acme` in the waterfall. */
  withBravo?: boolean;
  /** Overrides of the source's notification retry policy. */
  notify?: Record<string, unknown>;
  /** acme may resell: its postback rejection sends the lead on to the next partner. */
  acmeAllowsResale?: boolean;
  /** Partners answer delivery synchronously (`{"status": "accepted" | "rejected"}`). */
  synchronousAnswers?: boolean;
  /** Ping-post: every partner is pinged first at `<url>/ping` (the simulator's answer shape). */
  auction?: boolean;
  /** Multisell: how many buyers share an auctioned lead (routing.auction.winners). */
  winners?: number;
  /** acme has a daily cap: a post to it takes a cap slot. */
  acmeDailyCap?: number;
}

/** The source's postback URL carries every macro, so tests see exactly what was filled in. */
export const SOURCE_POSTBACK_PATH =
  '/pb?clickid={clickid}&status={status}&payout={payout}&currency={currency}&partner={partner}&lead={lead_id}&event={event_id}';

/** Partner acme (and optionally bravo) with a 24h postback timeout and a 12.50 default payout; one source, src-1. */
export function leadTestConfig(e: Endpoints, opts: LeadConfigOptions = {}) {
  const partner = (id: string, url: string, priority: number) => ({
    id,
    delivery: { url: `${url}/leads`, timeoutMs: 2000, maxAttempts: 5 },
    postback: {
      token: `${id}-token-123`,
      timeout: '24h',
      ...(id === 'acme' && opts.acmeAllowsResale ? { allowResale: true } : {}),
    },
    ...(opts.synchronousAnswers ? { response: { statusPath: 'status' } } : {}),
    ...(opts.auction ? { ping: simulatorPing(url) } : {}),
    routing: { priority, ...(id === 'acme' && opts.acmeDailyCap ? { dailyCap: opts.acmeDailyCap } : {}) },
    payout: 12.5,
  });
  return {
    partners: [partner('acme', e.acme, 1), ...(opts.withBravo ? [partner('bravo', e.bravo, 2)] : [])],
    // A generous deadline: on a loaded machine a ping answered at once must not count as late.
    ...(opts.auction
      ? { routing: { auction: { timeoutMs: 10_000, ...(opts.winners ? { winners: opts.winners } : {}) } } }
      : {}),
    sources: [
      {
        id: 'src-1',
        apiKey: 'key-src-1-abcdef',
        postbackUrl: `${e.source}${SOURCE_POSTBACK_PATH}`,
        notify: { initialInterval: 200, maxInterval: 5000, maxDuration: '10m', ...opts.notify },
      },
    ],
  };
}

/** A partner's postback as the gateway signals it, for partner acme unless overridden. */
export function postbackFor(
  leadId: string,
  status: PostbackSignal['status'],
  extra: Partial<PostbackSignal> = {},
): PostbackSignal {
  return {
    postbackId: `pb-${leadId}-${status}-${randomBytes(3).toString('hex')}`,
    partnerId: 'acme',
    status,
    rawStatus: status,
    receivedAt: new Date().toISOString(),
    ...extra,
  };
}

export interface WorkflowHarness {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  worker: Worker;
  acme: PartnerSimulator;
  bravo: PartnerSimulator;
  source: SourceSimulator;
  /** Replaces the routing config the activities read (the next activity sees it, like a reload). */
  useConfig(build: (endpoints: Endpoints) => unknown): void;
  /**
   * Stores a lead as the gateway's intake does (status `received`, seq 0, history event `<leadId>:0`),
   * minus the intake outbox entry: here the test starts the workflow itself.
   */
  insertLead(fields?: LeadFields, sourceId?: string): Promise<string>;
  /** Starts the lead's workflow as the gateway does. */
  startLead(leadId: string, sourceId?: string): Promise<LeadHandle>;
  /** insertLead then startLead. */
  submitLead(fields?: LeadFields, sourceId?: string): Promise<{ leadId: string; handle: LeadHandle }>;
  /** The lead document, its status history (in order), delivery attempts and notification attempts. */
  record(leadId: string): Promise<LeadRecord>;
  queryStatus(leadId: string): Promise<LeadWorkflowView>;
  /** Waits in real time (no time skipping) until the lead document has this status. */
  waitForStatus(leadId: string, status: string): Promise<LeadRecord>;
  /** What the gateway does with a postback or a replay request: signal-with-start; returns the run's handle. */
  signalWithStart(
    leadId: string,
    signal: { postback: PostbackSignal } | { replayNotification: ReplayNotificationSignal },
  ): Promise<{ runId: string; handle: WorkflowHandle<typeof leadWorkflow> }>;
  stop(): Promise<void>;
}

/**
 * The time-skipping server knows only the built-in search attributes, and a workflow that upserts an
 * unknown one fails its workflow task. It has no ListSearchAttributes (so not the idempotent
 * `leadrouter temporal setup`), but it does implement AddSearchAttributes: we register the ones the
 * spec names on each fresh server, as the dev setup does on the dev server.
 */
export async function registerLeadSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(searchAttributeTypes()),
  });
}

/** The time-skipping server, a database of its own and the real lead worker on them. */
export interface LeadWorkerOnTestServer {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  worker: Worker;
  stop(): Promise<void>;
}

/**
 * Starts the time-skipping server, `start` (what the config points at: simulators; it returns their stop),
 * a database of its own and the lead worker, whose activities read `config` and `now`. Undone in reverse
 * order by stop(), or at once when a later step of the start-up fails, so a failed beforeAll does not
 * leave a test server and a polling worker keeping jest alive.
 */
export async function startLeadWorkerOnTestServer(options: {
  name: string;
  config: () => ConfigIndex;
  now?: () => Date;
  start?: () => Promise<() => Promise<unknown>>;
}): Promise<LeadWorkerOnTestServer> {
  quietTemporalRuntime();
  const undo: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const step of undo.splice(0).reverse()) await step().catch(() => undefined);
  };
  const taskQueue = uniqueTaskQueue(options.name);
  try {
    const env = await createTimeSkippingEnv();
    undo.push(() => env.teardown());
    if (options.start) undo.push(await options.start());
    await connectMongo(testDbUri(uniqueDbName(options.name)));
    undo.push(() => disconnectMongo());
    await registerLeadSearchAttributes(env);
    const worker = await createLeadWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue,
      deps: {
        config: options.config,
        http: undiciHttp,
        now: options.now ?? (() => new Date()),
        logger: createLogger('workflow-test', process.env.TEST_LOG_LEVEL ?? 'silent'),
        metrics: createMetrics(),
      },
    });
    const running = worker.run();
    undo.push(async () => {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running;
    });
    return { env, taskQueue, worker, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export async function startWorkflowHarness(
  build: (endpoints: Endpoints) => unknown,
): Promise<WorkflowHarness> {
  // Assigned by start(), which runs before the core returns.
  let acme!: PartnerSimulator, bravo!: PartnerSimulator, source!: SourceSimulator;
  let config!: ConfigIndex;
  const { env, taskQueue, worker, stop } = await startLeadWorkerOnTestServer({
    name: 'wf',
    config: () => config,
    async start() {
      [acme, bravo, source] = await Promise.all([
        startPartnerSimulator(),
        startPartnerSimulator(),
        startSourceSimulator(),
      ]);
      config = new ConfigIndex(
        parseRoutingConfig(build({ acme: acme.url, bravo: bravo.url, source: source.url })),
      );
      return () => Promise.all([acme.stop(), bravo.stop(), source.stop()]);
    },
  });
  const endpoints: Endpoints = { acme: acme.url, bravo: bravo.url, source: source.url };

  const defaultSource = () => config.config.sources[0]?.id ?? 'src-1';

  const harness: WorkflowHarness = {
    env,
    taskQueue,
    worker,
    acme,
    bravo,
    source,
    useConfig(next) {
      config = new ConfigIndex(parseRoutingConfig(next(endpoints)));
    },
    async insertLead(fields = {}, sourceId = defaultSource()) {
      const leadId = `wf-${randomBytes(8).toString('hex')}`;
      const at = new Date();
      await Lead.create({
        _id: leadId,
        ...fields,
        sourceId,
        status: 'received',
        seq: 0,
        createdAt: at,
        updatedAt: at,
      });
      await StatusEvent.create(receivedEvent(leadId, sourceId, at));
      return leadId;
    },
    async startLead(leadId, sourceId = defaultSource()) {
      return env.client.workflow.start<typeof leadWorkflow>(LEAD_WORKFLOW_TYPE, {
        workflowId: leadWorkflowId(leadId),
        taskQueue,
        args: [{ leadId } satisfies LeadWorkflowInput],
        ...leadStartAttributes(sourceId),
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
      });
    },
    async submitLead(fields = {}, sourceId = defaultSource()) {
      const leadId = await harness.insertLead(fields, sourceId);
      return { leadId, handle: await harness.startLead(leadId, sourceId) };
    },
    async record(leadId) {
      const [lead, events, deliveries, notifications] = await Promise.all([
        Lead.findById(leadId).lean(),
        StatusEvent.find({ leadId }).lean(),
        Delivery.find({ leadId }).sort({ at: 1, attempt: 1 }).lean(),
        Notification.find({ leadId }).sort({ at: 1 }).lean(),
      ]);
      if (!lead) throw new Error(`lead ${leadId} not in the database`);
      // Ordered by sequence number, which is the order the workflow decided them in.
      const history = events
        .map((e) => ({ ...e, seq: Number(e._id.slice(e._id.lastIndexOf(':') + 1)) }))
        .sort((a, b) => a.seq - b.seq);
      return {
        lead: lead as unknown as LeadRecord['lead'],
        history: history as unknown as LeadRecord['history'],
        deliveries: deliveries as unknown as LeadRecord['deliveries'],
        notifications: notifications as unknown as LeadRecord['notifications'],
      };
    },
    queryStatus(leadId) {
      return env.client.workflow.getHandle(leadWorkflowId(leadId)).query(statusQuery);
    },
    async waitForStatus(leadId, status) {
      return eventually(
        async () => {
          const r = await harness.record(leadId);
          return r.lead.status === status ? r : undefined;
        },
        30_000,
        `lead ${leadId} ${status}`,
      );
    },
    async signalWithStart(leadId, signal) {
      const common = {
        workflowId: leadWorkflowId(leadId),
        taskQueue,
        args: [{ leadId } satisfies LeadWorkflowInput],
      };
      const started =
        'postback' in signal
          ? await env.client.workflow.signalWithStart(LEAD_WORKFLOW_TYPE, {
              ...common,
              signal: postbackSignal,
              signalArgs: [signal.postback],
            })
          : await env.client.workflow.signalWithStart(LEAD_WORKFLOW_TYPE, {
              ...common,
              signal: replayNotificationSignal,
              signalArgs: [signal.replayNotification],
            });
      const runId = started.signaledRunId;
      return {
        runId,
        handle: env.client.workflow.getHandle<typeof leadWorkflow>(leadWorkflowId(leadId), runId),
      };
    },
    stop,
  };
  return harness;
}

/** Registers the suite's beforeAll and afterAll around one harness on this config and returns it. */
export const useWorkflowHarness = (build: (endpoints: Endpoints) => unknown): WorkflowHarness =>
  useStarted('workflow harness', () => startWorkflowHarness(build));
