// Runs bench:e2e's "server limit" (bench/lib/server-limit-workflow.ts) on a given Temporal server: journeys
// started as the gateway starts a lead, a worker in this process, the signal sent as the partner's postback.
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker } from '@temporalio/worker';
import type { temporal } from '@temporalio/proto';
import { leadStartAttributes, postbackSignal, type PostbackSignal } from '../../shared/temporal';
import { runLoad, type LoadResult } from './ingest-stack';
import type { ServerLimitActivities, ServerLimitInput, serverLimitJourney } from './server-limit-workflow';

export interface ServerLimitOptions {
  address: string;
  namespace: string;
  journeys: number;
  /** Workflow starts in flight, as the source's POST /leads in flight. */
  concurrency: number;
  /** After `deliver`, as the partner's delay before posting back. */
  postbackDelayMs: number;
  /** Starts per second at most (open loop); unset: as fast as `concurrency` allows. */
  rate?: number;
  publish: boolean;
}

/** For a paced intake: operation i waits until `i / rate` seconds after the first. */
export function pacer(rate: number | undefined): (i: number) => Promise<void> {
  const started = performance.now();
  return async (i) => {
    if (!rate) return;
    const wait = started + (i * 1000) / rate - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
  };
}

export interface ServerLimitResult {
  intake: LoadResult;
  completed: number;
  /** Completed journeys per second, first start to last `notify`. */
  rate: number;
  /** Signal sent -> the workflow handled it (its clock at the signal), ms, sorted. */
  decided: number[];
  /** Signal sent -> `notify` ran, ms, sorted. */
  notified: number[];
  /** The histories of a sample of journeys, to compare with a lead's. */
  histories: temporal.api.history.v1.IHistory[];
}

const noop = () => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

/** Bundling takes seconds: done once, before anything is measured. */
let bundle: ReturnType<typeof bundleWorkflowCode> | undefined;

export interface ServerLimitRunner {
  /** A client on the same server, for the bench's own look-ups (a lead's history). */
  client: Client;
  run(options: Omit<ServerLimitOptions, 'address' | 'namespace'>): Promise<ServerLimitResult>;
  stop(): Promise<void>;
}

export async function startServerLimit(address: string, namespace: string): Promise<ServerLimitRunner> {
  // The SDK logs every worker state change at INFO to stdout, into the bench's report.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  bundle ??= bundleWorkflowCode({
    workflowsPath: require.resolve('./server-limit-workflow'),
    logger: quietLogger,
  });
  const connection = await Connection.connect({ address });
  const client = new Client({ connection, namespace });
  const nativeConnection = await NativeConnection.connect({ address });
  const taskQueue = 'bench-server-limit';
  const signalledAt = new Map<string, number>();
  const finished = new Map<string, { decidedAt: number; notifiedAt: number }>();
  const postback = (journeyId: string): PostbackSignal => ({
    postbackId: `pb-${journeyId}`,
    partnerId: 'acme',
    status: 'accepted',
    rawStatus: 'approved',
    payoutCents: 1250,
    currency: 'USD',
    txid: `tx-${journeyId}`,
    receivedAt: new Date().toISOString(),
  });
  let postbackDelayMs = 0;
  const activities: ServerLimitActivities = {
    async deliver(journeyId) {
      // The partner answers the delivery, then posts back a moment later.
      setTimeout(() => {
        signalledAt.set(journeyId, Date.now());
        client.workflow
          .getHandle(journeyId)
          .signal(postbackSignal, postback(journeyId))
          .catch((err: unknown) => console.error(`signal ${journeyId}: ${String(err)}`));
      }, postbackDelayMs);
    },
    async notify(journeyId, decidedAt) {
      finished.set(journeyId, { decidedAt, notifiedAt: Date.now() });
    },
  };
  const worker = await Worker.create({
    connection: nativeConnection,
    namespace,
    taskQueue,
    workflowBundle: await bundle,
    activities,
    // As the lead worker (apps/worker/worker.ts).
    maxConcurrentActivityTaskExecutions: 200,
    shutdownForceTime: '10s',
  });
  const running = worker.run();
  let runs = 0;

  return {
    client,
    async run({ journeys, concurrency, postbackDelayMs: delayMs, rate, publish }) {
      postbackDelayMs = delayMs;
      const prefix = `server-limit-${++runs}-${publish ? 'published' : 'bare'}`;
      const ids: string[] = [];
      const startedAt = Date.now();
      const pace = pacer(rate);
      const intake = await runLoad(journeys, concurrency, async (i) => {
        await pace(i);
        const journeyId = `${prefix}-${i}`;
        await client.workflow.start<typeof serverLimitJourney>('serverLimitJourney', {
          workflowId: journeyId,
          taskQueue,
          args: [{ journeyId, publish } satisfies ServerLimitInput],
          // As the gateway starts a lead's workflow (apps/gateway/temporal.ts).
          ...leadStartAttributes('src-1'),
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        });
        ids.push(journeyId);
      });
      const deadline = Date.now() + 60_000 + journeys * 200;
      const done = () => ids.filter((id) => finished.has(id)).length;
      while (done() < ids.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
      const decided: number[] = [];
      const notified: number[] = [];
      let last = startedAt;
      for (const id of ids) {
        const f = finished.get(id);
        const s = signalledAt.get(id);
        if (!f || s === undefined) continue;
        decided.push(f.decidedAt - s);
        notified.push(f.notifiedAt - s);
        last = Math.max(last, f.notifiedAt);
      }
      decided.sort((a, b) => a - b);
      notified.sort((a, b) => a - b);
      const completed = notified.length;
      const histories = await fetchHistories(
        client,
        ids.filter((id) => finished.has(id)),
      );
      return {
        intake,
        completed,
        rate: completed / ((last - startedAt) / 1000),
        decided,
        notified,
        histories,
      };
    },
    async stop() {
      worker.shutdown();
      await running;
      await nativeConnection.close();
      await connection.close();
    },
  };
}

/** The closed histories of up to `sample` workflows spread over `ids` (each waited for until it closes). */
export async function fetchHistories(
  client: Client,
  ids: string[],
  sample = 20,
): Promise<temporal.api.history.v1.IHistory[]> {
  const step = Math.max(1, Math.floor(ids.length / sample));
  const picked = ids.filter((_, i) => i % step === 0).slice(0, sample);
  return Promise.all(
    picked.map(async (id) => {
      const handle = client.workflow.getHandle(id);
      await handle.result().catch(() => undefined);
      return handle.fetchHistory();
    }),
  );
}

/** What a history is made of: the server's work for one workflow run. */
export interface HistoryShape {
  events: number;
  workflowTasks: number;
  activities: number;
  /** Local activity results and patch markers. */
  markers: number;
  timers: number;
  /** Search attribute and memo upserts: each one a visibility write. */
  upserts: number;
  signals: number;
}

/** The mean shape of the histories (a workflow task more or less, depending on when the signal lands). */
export function historyShape(histories: temporal.api.history.v1.IHistory[]): HistoryShape {
  const mean = (attributes: (keyof temporal.api.history.v1.IHistoryEvent)[]) =>
    histories.reduce(
      (sum, h) => sum + (h.events ?? []).filter((e) => attributes.some((a) => e[a] != null)).length,
      0,
    ) / Math.max(1, histories.length);
  return {
    events: histories.reduce((sum, h) => sum + (h.events?.length ?? 0), 0) / Math.max(1, histories.length),
    workflowTasks: mean(['workflowTaskScheduledEventAttributes']),
    activities: mean(['activityTaskScheduledEventAttributes']),
    markers: mean(['markerRecordedEventAttributes']),
    timers: mean(['timerStartedEventAttributes']),
    upserts: mean([
      'upsertWorkflowSearchAttributesEventAttributes',
      'workflowPropertiesModifiedEventAttributes',
    ]),
    signals: mean(['workflowExecutionSignaledEventAttributes']),
  };
}

const one = (n: number) => String(Math.round(n * 10) / 10);

export function describeShape(s: HistoryShape): string {
  return `${one(s.events)} events: ${one(s.workflowTasks)} workflow tasks, ${one(s.activities)} activities, ${one(s.markers)} markers, ${one(s.timers)} timers, ${one(s.signals)} signals, ${one(s.upserts)} upserts`;
}
