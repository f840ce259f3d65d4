// Gateway process: HTTP API for sources, partners and operators, plus the outbox reconciler and housekeeping.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { disconnectMongo } from '../../shared/db';
import { boot } from '../../shared/boot';
import { describeTarget, temporalTarget } from '../../shared/temporal-connection';
import type { Server } from 'node:http';
import { createGateway } from './app';
import { Housekeeper } from './housekeeping';
import { Reconciler } from './outbox';
import { Draining } from './probes';
import { TemporalClient } from './temporal';

export async function runGateway(): Promise<() => Promise<void>> {
  const { env, logger, config, metrics } = await boot('gateway');
  const target = temporalTarget();
  const temporal = new TemporalClient({
    ...target.connection,
    namespace: target.namespace,
    taskQueue: env.TEMPORAL_TASK_QUEUE,
  });
  const draining = new Draining();
  const app = createGateway({
    draining,
    config: () => config,
    temporal,
    logger,
    metrics,
    adminKey: env.ADMIN_API_KEY,
    trustProxy: env.TRUST_PROXY,
    metricsToken: env.METRICS_TOKEN,
  });
  // Any number of gateways may run: background jobs go to one of them per term (decision 0012).
  const lease = { holder: `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}` };
  const reconciler = new Reconciler({ temporal, logger, metrics, lease });
  reconciler.start();
  const housekeeper = new Housekeeper({
    logger,
    lease,
    duplicatesWindowMs: () => config.config.settings.duplicates?.window,
  });
  housekeeper.start();
  const server = app.listen(env.PORT, env.HOST);
  // Node's 5 s default is below every load balancer's idle timeout: the balancer would reuse a socket the
  // gateway is closing and answer the partner 502. A client that is slow to send its request is cut sooner
  // than Node's defaults (60 s for the headers, 300 s for all of it), so slow sockets cannot pile up.
  server.keepAliveTimeout = env.KEEP_ALIVE_TIMEOUT_MS;
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  server.requestTimeout = REQUEST_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    server.once('listening', resolve);
    server.once('error', reject);
  });
  logger.info(
    {
      port: env.PORT,
      config: env.ROUTING_CONFIG,
      temporal: describeTarget(target),
      partners: config.config.partners.length,
      sources: config.config.sources.length,
    },
    'gateway listening',
  );
  /** The drain a SIGTERM starts: not ready, then no new connections, then what is in flight is answered. */
  return async () => {
    draining.start();
    logger.info({ delayMs: env.DRAIN_DELAY_MS }, 'draining');
    // A load balancer polling /readyz stops sending here; until then, requests are still answered.
    if (env.DRAIN_DELAY_MS) await new Promise((r) => setTimeout(r, env.DRAIN_DELAY_MS));
    await closeServer(server, DRAIN_TIMEOUT_MS);
    // Only now: an answer still in flight needed MongoDB and Temporal.
    await reconciler.stop();
    await housekeeper.stop();
    await temporal.close();
    await disconnectMongo();
    logger.info('gateway stopped');
  };
}

/** A request's headers, then all of it (a body is at most 64 kB), must arrive within these. */
const HEADERS_TIMEOUT_MS = 20_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** Below the usual 30 s an orchestrator waits between SIGTERM and SIGKILL. */
const DRAIN_TIMEOUT_MS = 25_000;

/** Stops accepting connections and waits for open requests to end; past `timeoutMs` it cuts the rest. */
function closeServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const cut = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearTimeout(cut);
      resolve();
    });
    server.closeIdleConnections(); // busy keep-alive sockets close after their answer (Connection: close)
  });
}

if (require.main === module) {
  runGateway()
    .then((drain) => {
      let draining = false;
      const shutdown = () => {
        if (draining) process.exit(1); // a second signal: stop waiting
        draining = true;
        void drain().then(
          () => process.exit(0),
          (err: unknown) => {
            console.error(err instanceof Error ? err.message : err);
            process.exit(1);
          },
        );
      };
      process.on('SIGINT', shutdown);
      process.on('SIGTERM', shutdown);
    })
    .catch((err: unknown) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    });
}
