// The lead workflow on the time-skipping test server with its real worker and activities: a Mongo-wire
// database of its own, loopback partner and source simulators, and helpers to create leads like the gateway.
import { randomBytes } from 'node:crypto';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker } from '@temporalio/worker';
import { undiciHttp } from '../../activities/http';
import {
  startPartnerSimulator,
  startSourceSimulator,
  type PartnerSimulator,
  type SourceSimulator,
} from '../../apps/dev/simulators';
import { createLeadWorker } from '../../apps/worker/worker';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';
import { Delivery, Lead, Notification, StatusEvent } from '../../shared/models';
import {
  LEAD_WORKFLOW_TYPE,
  leadWorkflowId,
  SEARCH_ATTRIBUTES,
  type LeadWorkflowInput,
  type LeadWorkflowView,
} from '../../shared/temporal';
import type { leadWorkflow } from '../../workflows/lead';
import { DEFAULT_SEARCH_ATTRIBUTES } from '../../scripts/lib/provision';
import { createTimeSkippingEnv, testEnv, uniqueDbName, uniqueTaskQueue } from './servers';
import { quietTemporalRuntime } from './stack';

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

export interface WorkflowHarness {
  env: TestWorkflowEnvironment;
  taskQueue: string;
  worker: Worker;
  acme: PartnerSimulator;
  bravo: PartnerSimulator;
  source: SourceSimulator;
  /** Replaces the routing config the activities read (the next activity sees it, like a reload). */
  useConfig(build: (endpoints: Endpoints) => unknown): void;
  /** Stores a lead as the gateway's intake does (status `received`, seq 0, history event `<leadId>:0`). */
  insertLead(fields?: LeadFields, sourceId?: string): Promise<string>;
  /** Starts the lead's workflow as the gateway does. */
  startLead(leadId: string, sourceId?: string): Promise<LeadHandle>;
  /** insertLead then startLead. */
  submitLead(fields?: LeadFields, sourceId?: string): Promise<{ leadId: string; handle: LeadHandle }>;
  /** The lead document, its status history (in order), delivery attempts and notification attempts. */
  record(leadId: string): Promise<LeadRecord>;
  queryStatus(leadId: string): Promise<LeadWorkflowView>;
  stop(): Promise<void>;
}

/**
 * The time-skipping server has no search attributes beyond the built-in ones, and a workflow that
 * upserts an unregistered one fails its workflow task. Like the dev setup (scripts/lib/provision),
 * we register the ones the spec names through the operator service, which the test server implements.
 */
async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const { temporal } = await import('@temporalio/proto');
  const Type = temporal.api.enums.v1.IndexedValueType;
  const byName: Record<string, number> = { Keyword: Type.INDEXED_VALUE_TYPE_KEYWORD };
  const searchAttributes = Object.fromEntries(
    Object.entries(DEFAULT_SEARCH_ATTRIBUTES).map(([name, type]) => {
      const t = byName[type];
      if (t === undefined) throw new Error(`search attribute ${name}: unsupported type ${type}`);
      return [name, t];
    }),
  );
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes,
  });
}

export async function startWorkflowHarness(
  build: (endpoints: Endpoints) => unknown,
): Promise<WorkflowHarness> {
  quietTemporalRuntime();
  const [env, acme, bravo, source] = await Promise.all([
    createTimeSkippingEnv(),
    startPartnerSimulator(),
    startPartnerSimulator(),
    startSourceSimulator(),
  ]);
  const endpoints: Endpoints = { acme: acme.url, bravo: bravo.url, source: source.url };
  let config = new ConfigIndex(parseRoutingConfig(build(endpoints)));
  const logger = createLogger('workflow-test', process.env.TEST_LOG_LEVEL ?? 'silent');
  await connectMongo(`${testEnv().mongoUri.replace(/\/$/, '')}/${uniqueDbName('wf')}`);
  await registerSearchAttributes(env);

  const taskQueue = uniqueTaskQueue('wf');
  const worker = await createLeadWorker({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    deps: { config: () => config, http: undiciHttp, now: () => new Date(), logger, metrics: createMetrics() },
  });
  const running = worker.run();

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
      await StatusEvent.create({
        _id: `${leadId}:0`,
        leadId,
        sourceId,
        status: 'received',
        at,
        reason: 'received from source',
      });
      return leadId;
    },
    async startLead(leadId, sourceId = defaultSource()) {
      return env.client.workflow.start<typeof leadWorkflow>(LEAD_WORKFLOW_TYPE, {
        workflowId: leadWorkflowId(leadId),
        taskQueue,
        args: [{ leadId } satisfies LeadWorkflowInput],
        typedSearchAttributes: [
          { key: SEARCH_ATTRIBUTES.leadStatus, value: 'received' },
          { key: SEARCH_ATTRIBUTES.sourceId, value: sourceId },
        ],
        memo: { sourceId },
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
      return env.client.workflow.getHandle(leadWorkflowId(leadId)).query<LeadWorkflowView>('status');
    },
    async stop() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await running.catch(() => undefined);
      await Promise.all([acme.stop(), bravo.stop(), source.stop()]);
      await disconnectMongo();
      await env.teardown();
    },
  };
  return harness;
}
