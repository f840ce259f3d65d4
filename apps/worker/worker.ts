// Builds the lead worker: the workflow bundle (built once per process) plus the activities and their dependencies.
import {
  bundleWorkflowCode,
  NativeConnection,
  Worker,
  type BundleOptions,
  type InjectedSinks,
  type WorkflowBundleWithSourceMap,
} from '@temporalio/worker';
import { createActivities, type ActivityDeps } from '../../activities';

let bundle: Promise<WorkflowBundleWithSourceMap> | undefined;

/** What measuring the workflows' test coverage needs (@temporalio/nyc-test-coverage's WorkflowCoverage). */
export interface WorkflowInstrumentation {
  augmentBundleOptions(options: BundleOptions & { workflowsPath: string }): BundleOptions;
  // any: the SDK types injected sinks per sink interface; the coverage sinks' own type is the library's.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sinks: InjectedSinks<any>;
}
let instrumentation: WorkflowInstrumentation | undefined;

/** Only `npm test` calls this: later bundles are instrumented and workers report to its sinks. */
export function instrumentWorkflowBundle(coverage: WorkflowInstrumentation): void {
  instrumentation = coverage;
  bundle = undefined;
}

/** Bundling takes seconds; tests and the dev launcher create several workers from one bundle. */
export function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  const options = { workflowsPath: require.resolve('../../workflows'), logger: quietBundlerLogger };
  bundle ??= bundleWorkflowCode(instrumentation ? instrumentation.augmentBundleOptions(options) : options);
  return bundle;
}

const noop = () => undefined;
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: noop, log: noop };

export interface LeadWorkerOptions {
  connection: NativeConnection;
  namespace?: string;
  taskQueue: string;
  deps: ActivityDeps;
  maxConcurrentActivityTaskExecutions?: number;
}

export async function createLeadWorker(options: LeadWorkerOptions): Promise<Worker> {
  return Worker.create({
    connection: options.connection,
    namespace: options.namespace ?? 'default',
    taskQueue: options.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities(options.deps),
    maxConcurrentActivityTaskExecutions: options.maxConcurrentActivityTaskExecutions ?? 200,
    // On shutdown, activities in flight (a delivery waiting on a slow partner) get this long to finish before
    // they are cancelled and retried on another worker; delivery timeouts are at most 120 s, usually 5 s.
    shutdownGraceTime: '10s',
    ...(instrumentation ? { sinks: instrumentation.sinks } : {}),
    // A stop must not hang when the server is already gone (Ctrl-C takes both down together).
    shutdownForceTime: '15s',
  });
}
