// Builds the lead worker: the workflow bundle (loaded once per process) plus the activities and their dependencies.
import { NativeConnection, Worker } from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';
import type { Env } from '../../shared/env';
import {
  defaultBundleLocation,
  loadWorkflowBundle,
  type LoadedBundle,
  type WorkflowInstrumentation,
} from './bundle';

export type { WorkflowInstrumentation } from './bundle';

let bundle: Promise<LoadedBundle> | undefined;
let instrumentation: WorkflowInstrumentation | undefined;

/** Only `npm test` calls this: later bundles are instrumented and workers report to its sinks. */
export function instrumentWorkflowBundle(coverage: WorkflowInstrumentation): void {
  instrumentation = coverage;
  bundle = undefined;
}

/**
 * The workflow bundle, loaded once per process (tests and the dev launcher create several workers from one):
 * the one kept for these sources, or bundled now (apps/worker/bundle.ts).
 */
export function workflowBundle(onKeepFailed?: (err: unknown) => void): Promise<LoadedBundle> {
  bundle ??= loadWorkflowBundle({ ...defaultBundleLocation(), instrumentation, onKeepFailed });
  return bundle;
}

export interface LeadWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  deps: ActivityDeps;
  /** Sizing from the environment (`WORKER_*`, shared/env.ts); what is not given keeps its default. */
  tuning?: WorkerTuning;
}

export interface WorkerTuning {
  maxCachedWorkflows?: number;
  maxConcurrentWorkflowTaskExecutions?: number;
  maxConcurrentActivityTaskExecutions?: number;
  maxConcurrentLocalActivityExecutions?: number;
  workflowThreadPoolSize?: number;
}

/** The worker's sizing from its environment's `WORKER_*` settings. */
export function tuningFromEnv(env: Env): WorkerTuning {
  const tuning: WorkerTuning = {
    maxCachedWorkflows: env.WORKER_MAX_CACHED_WORKFLOWS,
    maxConcurrentWorkflowTaskExecutions: env.WORKER_MAX_CONCURRENT_WORKFLOW_TASKS,
    maxConcurrentActivityTaskExecutions: env.WORKER_MAX_CONCURRENT_ACTIVITIES,
    maxConcurrentLocalActivityExecutions: env.WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES,
    workflowThreadPoolSize: env.WORKER_WORKFLOW_THREADS,
  };
  return Object.fromEntries(Object.entries(tuning).filter(([, v]) => v !== undefined));
}

export async function createLeadWorker(options: LeadWorkerOptions): Promise<Worker> {
  const { logger } = options.deps;
  const started = Date.now();
  const loaded = await workflowBundle((err) =>
    logger.warn({ err: String(err) }, 'workflow bundle not kept; the next start bundles again'),
  );
  logger.info({ from: loaded.from, ms: Date.now() - started }, 'workflow bundle ready');
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    workflowBundle: loaded.bundle,
    activities: createActivities(options.deps),
    maxConcurrentActivityTaskExecutions: 200,
    ...options.tuning,
    // On shutdown, activities in flight (a delivery waiting on a slow partner) get this long to finish before
    // they are cancelled and retried on another worker; delivery timeouts are at most 120 s, usually 5 s.
    shutdownGraceTime: '10s',
    ...(instrumentation ? { sinks: instrumentation.sinks } : {}),
    // A stop must not hang when the server is already gone (Ctrl-C takes both down together).
    shutdownForceTime: '15s',
  });
}
