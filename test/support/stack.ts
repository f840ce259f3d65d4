// An in-process leadrouter (gateway + worker + reconciler) on the real servers jest's global setup started,
// with its own database and task queue so test files can run side by side.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime, type Worker } from '@temporalio/worker';
import { createGateway, type GatewayDeps } from '../../apps/gateway/app';
import { Reconciler } from '../../apps/gateway/outbox';
import { TemporalClient } from '../../apps/gateway/temporal';
import { createLeadWorker } from '../../apps/worker/worker';
import { undiciHttp } from '../../activities/http';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createLogger } from '../../shared/logger';
import { createMetrics, type Metrics } from '../../shared/metrics';
import { Lead } from '../../shared/models';
import { runCli } from './cli';
import { testEnv, uniqueDbName, uniqueTaskQueue, testDbUri } from './servers';
import { waitFor } from '../../scripts/util';

export const ADMIN_KEY = 'admin-key-for-tests-0123456789';

let runtimeQuiet = false;
/** The SDK's core logs every poll error at warn; tests that stop servers on purpose would drown in them. */
export function quietTemporalRuntime(): void {
  if (runtimeQuiet) return;
  runtimeQuiet = true;
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR') });
  } catch {
    // already installed by an earlier file in this worker process
  }
}

export interface StackOptions {
  config: unknown;
  temporalAddress?: string;
  withWorker?: boolean;
  reconcilerIntervalMs?: number;
  dbName?: string;
  /** The driver emits command events (`mongoose.connection.getClient().on('commandStarted', ...)`). */
  monitorCommands?: boolean;
  /** Gateway settings a test needs (proxy hops, metrics token). */
  gateway?: Pick<GatewayDeps, 'trustProxy' | 'metricsToken'>;
  /** The activities' clock (cap periods, attempt times); the real one unless a test pins the day. */
  now?: () => Date;
}

export interface Stack {
  baseUrl: string;
  taskQueue: string;
  client: Client;
  config: ConfigIndex;
  /** Replaces the routing config the gateway and activities read from now on, as a reload would. */
  useConfig(raw: unknown): void;
  metrics: Metrics;
  temporal: TemporalClient;
  reconciler: Reconciler;
  worker?: Worker;
  /** Stops the worker (for outage tests) and starts a new one. */
  startWorker(): Promise<void>;
  stopWorker(): Promise<void>;
  stop(): Promise<void>;
}

export async function startStack(options: StackOptions): Promise<Stack> {
  quietTemporalRuntime();
  const env = testEnv();
  const address = options.temporalAddress ?? env.temporalAddress;
  let config = new ConfigIndex(parseRoutingConfig(options.config));
  const logger = createLogger('test', process.env.TEST_LOG_LEVEL ?? 'silent');
  const metrics = createMetrics();
  const taskQueue = uniqueTaskQueue('stack');
  const dbUri = testDbUri(options.dbName ?? uniqueDbName('stack'));
  await connectMongo(options.monitorCommands ? `${dbUri}?monitorCommands=true` : dbUri);

  const temporal = new TemporalClient({ address, namespace: env.temporalNamespace, taskQueue });
  const app = createGateway({
    config: () => config,
    temporal,
    logger,
    metrics,
    adminKey: ADMIN_KEY,
    ...options.gateway,
  });
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  // No housekeeping (report buckets, cap slot sweep): tests that seed old events decide when buckets are built.
  const reconciler = new Reconciler({
    temporal,
    logger,
    metrics,
    intervalMs: options.reconcilerIntervalMs ?? 500,
    graceMs: 200,
  });
  reconciler.start();

  const client = new Client({
    connection: await Connection.connect({ address }),
    namespace: env.temporalNamespace,
  });
  let nativeConnection: NativeConnection | undefined;
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;

  const stack: Stack = {
    baseUrl,
    taskQueue,
    client,
    config,
    useConfig(raw) {
      config = stack.config = new ConfigIndex(parseRoutingConfig(raw));
    },
    metrics,
    temporal,
    reconciler,
    async startWorker() {
      nativeConnection ??= await NativeConnection.connect({ address });
      worker = await createLeadWorker({
        connection: nativeConnection,
        namespace: env.temporalNamespace,
        taskQueue,
        deps: {
          config: () => config,
          http: undiciHttp,
          now: options.now ?? (() => new Date()),
          logger,
          metrics,
        },
      });
      stack.worker = worker;
      running = worker.run();
    },
    async stopWorker() {
      if (worker && worker.getState() === 'RUNNING') worker.shutdown();
      await running?.catch(() => undefined);
      worker = undefined;
      stack.worker = undefined;
    },
    async stop() {
      await reconciler.stop();
      await stack.stopWorker();
      await nativeConnection?.close().catch(() => undefined);
      await new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      });
      await temporal.close();
      await client.connection.close();
      await disconnectMongo();
    },
  };
  if (options.withWorker ?? true) await stack.startWorker();
  return stack;
}

/** Polls until `check` returns a value other than undefined, or fails with the last state after `timeoutMs`. */
export function eventually<T>(
  check: () => Promise<T | undefined>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  return waitFor(check, timeoutMs, what, 100);
}

/** A minimal valid routing config around the given partner and source endpoints. */
export function baseConfig(
  partnerUrl: string,
  sourceUrl: string,
  overrides: { partner?: Record<string, unknown>; source?: Record<string, unknown> } = {},
) {
  return {
    partners: [
      {
        id: 'acme',
        delivery: { url: `${partnerUrl}/leads`, timeoutMs: 2000, maxAttempts: 3 },
        postback: { token: 'acme-token-123', statusMap: { lead: 'pending' }, timeout: '1h' },
        payout: 12.5,
        ...overrides.partner,
      },
    ],
    sources: [
      {
        id: 'src-1',
        apiKey: 'key-src-1-abcdef',
        postbackUrl: `${sourceUrl}/pb?clickid={clickid}&status={status}&payout={payout}&event={event_id}`,
        notify: { initialInterval: 100, maxInterval: 1000, maxDuration: '1m' },
        ...overrides.source,
      },
    ],
  };
}

/** `baseConfig` overrides: notifications give up after 2 s, so a failing source endpoint exhausts them within a test. */
export const SHORT_NOTIFY = {
  source: { notify: { initialInterval: 100, maxInterval: 200, maxDuration: '2s' } },
};

export async function postJson(url: string, body: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

export async function getJson(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Submits a lead, which must be answered 202 `received` with its id and workflow id; returns the id. */
export async function submitLead(
  stack: Pick<Stack, 'baseUrl'>,
  lead: Record<string, unknown>,
  headers: Record<string, string>,
): Promise<string> {
  const created = await postJson(`${stack.baseUrl}/leads`, lead, headers);
  expect(created.status).toBe(202);
  const leadId = created.body.leadId as string;
  expect(created.body).toEqual({ leadId, workflowId: `lead-${leadId}`, status: 'received' });
  return leadId;
}

/** Waits until every one of `partnerIds` holds the lead as a `pending` buyer (a lead sold to several). */
export async function buyersPending(leadId: string, partnerIds: string[], timeoutMs = 30_000): Promise<void> {
  await eventually(
    async () => {
      const lead = await Lead.findById(leadId, { buyers: 1 }).lean();
      const buyers = lead?.buyers as Record<string, { status: string }> | undefined;
      return partnerIds.every((id) => buyers?.[id]?.status === 'pending') ? true : undefined;
    },
    timeoutMs,
    `buyers ${partnerIds.join(', ')} pending`,
  );
}

/** Waits until `GET /leads/:id`, read with the source's `headers`, shows `status`; returns that view. */
export function leadReaches(
  stack: Pick<Stack, 'baseUrl'>,
  leadId: string,
  status: string,
  headers: Record<string, string>,
  timeoutMs = 30_000,
): Promise<Record<string, unknown>> {
  return eventually(
    async () => {
      const { body } = await getJson(`${stack.baseUrl}/leads/${leadId}`, headers);
      return body.status === status ? body : undefined;
    },
    timeoutMs,
    `lead ${leadId} ${status}`,
  );
}

/** The `leadrouter` command in this process against a stack's admin API (its URL and admin key, plus `env`). */
export function adminCli(stack: Pick<Stack, 'baseUrl'>, args: string[], env: Record<string, string> = {}) {
  return runCli(args, { LEADROUTER_URL: stack.baseUrl, LEADROUTER_ADMIN_KEY: ADMIN_KEY, ...env });
}

/**
 * acme's approval of a delivered lead, first with a wrong token (which must be refused 401), then with acme's
 * token and `payout` (which must be answered 200).
 */
export async function approveAfterWrongToken(
  stack: Pick<Stack, 'baseUrl'>,
  leadId: string,
  payout: string,
): Promise<void> {
  const postback = (query: string) =>
    getJson(`${stack.baseUrl}/postback?subid=${leadId}&status=approved&${query}`);
  expect((await postback('token=wrong-token-123')).status).toBe(401);
  expect((await postback(`payout=${payout}&token=acme-token-123`)).status).toBe(200);
}

/**
 * A lead of `baseConfig`'s source taken through acme: submitted, delivered (`pending`), then decided by
 * acme's postback with `status` (and `payout`); returns its id once the lead shows `expected`.
 */
export async function decidedLead(
  stack: Pick<Stack, 'baseUrl'>,
  clickId: string,
  postback: { status: string; payout?: string },
  expected: string,
): Promise<string> {
  const key = { 'x-api-key': 'key-src-1-abcdef' };
  const created = await postJson(`${stack.baseUrl}/leads`, { clickId }, key);
  const leadId = created.body.leadId as string;
  await leadReaches(stack, leadId, 'pending', key);
  const query = new URLSearchParams({ subid: leadId, ...postback, token: 'acme-token-123' });
  const pb = await getJson(`${stack.baseUrl}/postback?${query}`);
  if (pb.status !== 200) throw new Error(`postback answered ${pb.status}: ${JSON.stringify(pb.body)}`);
  await leadReaches(stack, leadId, expected, key);
  return leadId;
}
