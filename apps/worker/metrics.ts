// The worker's /metrics: its own prom-client registry plus the Temporal SDK's runtime metrics, on one port.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Runtime, type RuntimeOptions } from '@temporalio/worker';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';

/** Where the worker serves /metrics unless METRICS_PORT says otherwise. */
export const DEFAULT_WORKER_METRICS_PORT = 9464;
/** The SDK's own Prometheus exporter; loopback only, since /metrics on the worker port re-serves it. */
export const DEFAULT_TEMPORAL_METRICS_ADDRESS = '127.0.0.1:9465';

/**
 * Installs the Temporal runtime with its Prometheus exporter (worker task slots, poll latencies, workflow
 * and activity task counts, sticky cache, ...). Must run before the first NativeConnection or Worker:
 * the runtime is process-wide and fixed once created.
 */
export function installTemporalRuntimeMetrics(
  bindAddress = DEFAULT_TEMPORAL_METRICS_ADDRESS,
  extra: Omit<RuntimeOptions, 'telemetryOptions'> = {},
): void {
  Runtime.install({
    ...extra,
    telemetryOptions: {
      metrics: { prometheus: { bindAddress, countersTotalSuffix: true, useSecondsForDurations: true } },
    },
  });
}

export interface WorkerMetricsServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

export interface WorkerMetricsOptions {
  metrics: Metrics;
  port?: number;
  host?: string;
  /** The SDK exporter to append to our own text (see installTemporalRuntimeMetrics); none when undefined. */
  temporalMetricsAddress?: string;
  logger?: Logger;
}

async function sdkMetrics(address: string): Promise<string> {
  try {
    const res = await fetch(`http://${address}/metrics`, { signal: AbortSignal.timeout(2000) });
    if (!res.ok) return `# temporal sdk metrics unavailable: HTTP ${res.status}\n`;
    return await res.text();
  } catch (err) {
    // A scrape must still show our own metrics when the SDK exporter is not up (yet).
    return `# temporal sdk metrics unavailable: ${(err as Error).message.replace(/\n/g, ' ')}\n`;
  }
}

/** Serves GET /metrics (and a trivial /healthz for container checks) for the worker process. */
export async function startWorkerMetricsServer(options: WorkerMetricsOptions): Promise<WorkerMetricsServer> {
  const { metrics, temporalMetricsAddress, logger } = options;
  const server = http.createServer((req, res) => {
    void (async () => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (req.method !== 'GET' || (path !== '/metrics' && path !== '/healthz')) {
        res
          .writeHead(404, { 'content-type': 'application/json' })
          .end(JSON.stringify({ error: { code: 'not_found', message: 'no such route' } }));
        return;
      }
      if (path === '/healthz') {
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true }));
        return;
      }
      try {
        const [own, sdk] = await Promise.all([
          metrics.registry.metrics(),
          temporalMetricsAddress ? sdkMetrics(temporalMetricsAddress) : '',
        ]);
        res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(`${own}\n${sdk}`);
      } catch (err) {
        logger?.error({ err }, 'metrics scrape failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics unavailable\n');
      }
    })();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? DEFAULT_WORKER_METRICS_PORT, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  logger?.info({ port, temporalMetricsAddress }, 'worker metrics listening');
  return {
    url: `http://${options.host && options.host !== '0.0.0.0' ? options.host : '127.0.0.1'}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * For apps/worker/main.ts, before the first NativeConnection: installs the SDK exporter and serves /metrics.
 * `TEMPORAL_METRICS_ADDRESS` moves the SDK exporter (default 127.0.0.1:9465); it is re-served on `port`.
 */
export async function startWorkerMetrics(options: {
  metrics: Metrics;
  logger?: Logger;
  port?: number;
  temporalMetricsAddress?: string;
  runtime?: Omit<RuntimeOptions, 'telemetryOptions'>;
}): Promise<WorkerMetricsServer> {
  const address =
    options.temporalMetricsAddress ??
    process.env.TEMPORAL_METRICS_ADDRESS ??
    DEFAULT_TEMPORAL_METRICS_ADDRESS;
  installTemporalRuntimeMetrics(address, options.runtime);
  return startWorkerMetricsServer({
    metrics: options.metrics,
    logger: options.logger,
    port: options.port ?? DEFAULT_WORKER_METRICS_PORT,
    temporalMetricsAddress: address,
  });
}
