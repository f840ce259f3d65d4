// Worker process: runs lead workflows and their activities on the task queue.
import { NativeConnection } from '@temporalio/worker';
import { undiciHttp } from '../../activities/http';
import { disconnectMongo } from '../../shared/db';
import { boot } from '../../shared/boot';
import { describeTarget, explainConnectError, temporalTarget } from '../../shared/temporal-connection';
import { startWorkerMetrics, type WorkerMetricsServer } from './metrics';
import { createLeadWorker, tuningFromEnv } from './worker';

export async function runWorker(): Promise<() => Promise<void>> {
  const { env, logger, config, metrics } = await boot('worker');
  // Before the first connection: the SDK's runtime (and its Prometheus exporter) is installed once.
  let metricsServer: WorkerMetricsServer | undefined;
  try {
    metricsServer = await startWorkerMetrics({ metrics, logger, port: env.METRICS_PORT });
  } catch (err) {
    // A second worker on one host finds the port taken: it works on, unscraped, rather than not at all.
    logger.warn({ err: String(err), port: env.METRICS_PORT }, 'worker metrics not served');
  }
  const target = temporalTarget();
  const connection = await NativeConnection.connect(target.connection).catch((err: unknown) => {
    throw explainConnectError(err, target);
  });
  const tuning = tuningFromEnv(env);
  const worker = await createLeadWorker({
    connection,
    namespace: target.namespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
    deps: { config: () => config, http: undiciHttp, now: () => new Date(), logger, metrics },
    tuning,
  });
  const running = worker.run();
  // The workflow cache size bounds the worker's memory with many leads waiting (docs/benchmarks.md, "Scale").
  logger.info(
    {
      taskQueue: env.TEMPORAL_TASK_QUEUE,
      temporal: describeTarget(target),
      maxCachedWorkflows: worker.options.maxCachedWorkflows,
      workflowThreads: worker.options.workflowThreadPoolSize,
      ...tuning,
    },
    'worker running',
  );
  /** Drains: no new tasks, those in flight finish (or are cancelled after the grace time), then exits. */
  return async () => {
    logger.info('worker draining');
    // The SDK's runtime already starts a shutdown on SIGINT/SIGTERM; a second call would throw.
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running;
    logger.info('worker stopped');
    await connection.close();
    await metricsServer?.close();
    await disconnectMongo();
  };
}

if (require.main === module) {
  runWorker()
    .then((stop) => {
      const shutdown = () => {
        setTimeout(() => process.exit(1), 25_000).unref(); // past the worker's own force time
        void stop().then(() => process.exit(0));
      };
      process.once('SIGINT', shutdown);
      process.once('SIGTERM', shutdown);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
