// A whole leadrouter for a benchmark, as an operator would run it: its own Temporal dev server (persistent
// db file) and Mongo-wire server, and workers and gateways (one of each by default) as separate processes,
// each restartable.
import fs from 'node:fs';
import path from 'node:path';
import { startApp, type ManagedProcess } from '../../scripts/processes';
import {
  startMongoServer,
  startTemporalDevServer,
  type MongoServer,
  type TemporalDevServer,
} from '../../scripts/provision/servers';
import { freePort } from '../../scripts/util';
import { fileSize, findPids, logContains } from './processes';
import { sleep, waitFor } from './stats';

export interface BenchStackOptions {
  /** Holds the servers' data, the routing config and every log; the caller creates and removes it. */
  dir: string;
  /** The routing config (written to `<dir>/routing.json` and passed as ROUTING_CONFIG). */
  config: unknown;
  database?: string;
  /** The gateway's port, when the caller must know it before the stack starts (simulators post back to it). */
  gatewayPort?: number;
  /** With several gateways: their ports (the first is `gatewayPort`'s); default one gateway. */
  gatewayPorts?: number[];
  /** How many workers (default 1). */
  workers?: number;
  /** Where the Temporal db file lives (default `<dir>/temporal`); a tmpfs dir takes fsync cost out of a run. */
  temporalDbDir?: string;
  /** Extra environment for the worker and gateway processes (LOG_LEVEL, ...). */
  env?: Record<string, string>;
  say?: (line: string) => void;
}

export interface BenchStack {
  dir: string;
  /** The first gateway's URL. */
  gatewayUrl: string;
  gatewayUrls: string[];
  temporalAddress: string;
  /** Includes the database name. */
  mongoUri: string;
  /** The first worker and gateway (the one of each, by default). */
  worker(index?: number): ManagedProcess;
  gateway(index?: number): ManagedProcess;
  /** The Temporal dev server's pid (found by its db file), for /proc readings. */
  temporalPid(): number | undefined;
  mongoPid(): number | undefined;
  /**
   * SIGKILL a worker (no drain, like a crashed machine; the first by default, the others keep running), then
   * start a new one in its place and wait until it polls.
   */
  crashAndRestartWorker(downMs?: number, index?: number): Promise<void>;
  /** SIGKILL a gateway (requests in flight get no answer); `restartGateway` starts it again on its port. */
  crashGateway(index: number): Promise<void>;
  restartGateway(index: number): Promise<void>;
  /** Stop the Temporal dev server and start it again on the same db file and port. */
  restartTemporal(downMs?: number): Promise<void>;
  /** Stop the Mongo-wire server and start it again on the same data dir and port. */
  restartMongo(downMs?: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startBenchStack(options: BenchStackOptions): Promise<BenchStack> {
  const say = options.say ?? (() => undefined);
  const dir = path.resolve(options.dir);
  const logs = path.join(dir, 'logs');
  fs.mkdirSync(logs, { recursive: true });
  const configFile = path.join(dir, 'routing.json');
  fs.writeFileSync(configFile, JSON.stringify(options.config, null, 2));
  const dbFile = path.join(options.temporalDbDir ?? path.join(dir, 'temporal'), 'temporal.db');
  const mongoDir = path.join(dir, 'mongo');

  const [temporalPort, mongoPort, gatewayPort] = await Promise.all([
    freePort(),
    freePort(),
    options.gatewayPort ?? freePort(),
  ]);
  const gatewayPorts = options.gatewayPorts ?? [gatewayPort];
  const gatewayUrls = gatewayPorts.map((port) => `http://127.0.0.1:${port}`);
  const startTemporal = () =>
    startTemporalDevServer({ dbFile, port: temporalPort, log: path.join(logs, 'temporal.log') });
  const startMongo = () => startMongoServer({ dataDir: mongoDir, port: mongoPort });
  let [temporal, mongo]: [TemporalDevServer, MongoServer] = await Promise.all([
    startTemporal(),
    startMongo(),
  ]);
  say(`Temporal dev server ${temporal.address} (db ${dbFile}), ${mongo.kind} ${mongo.uri}`);

  const mongoUri = `${mongo.uri}/${options.database ?? 'leadrouter'}`;
  const gatewayUrl = gatewayUrls[0] as string;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    TEMPORAL_ADDRESS: temporal.address,
    TEMPORAL_NAMESPACE: 'default',
    MONGODB_URI: mongoUri,
    ROUTING_CONFIG: configFile,
    PORT: String(gatewayPorts[0]),
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    LOG_PRETTY: '0',
    ...options.env,
  };

  let workerRuns = 0;
  async function launchWorker(): Promise<ManagedProcess> {
    // A worker started while a server is still coming back may exit at once: start it again.
    for (let attempt = 1; ; attempt++) {
      const logFile = path.join(logs, `worker-${++workerRuns}.log`);
      const from = fileSize(logFile);
      const proc = startApp('worker', 'apps/worker/main.ts', { env, logFile });
      try {
        await waitFor(
          () =>
            logContains(logFile, '"worker running"', from)
              ? true
              : proc.running()
                ? undefined
                : Promise.reject(new Error('exited')),
          120_000,
          'the worker to poll',
          250,
        );
        return proc;
      } catch (err) {
        await proc.crash();
        if (attempt >= 5) throw new Error(`worker did not start (${String(err)}); see ${logFile}`);
        await sleep(1000);
      }
    }
  }

  async function launchGateway(index = 0): Promise<ManagedProcess> {
    const logFile = path.join(logs, index ? `gateway-${index + 1}.log` : 'gateway.log');
    const proc = startApp('gateway', 'apps/gateway/main.ts', {
      env: { ...env, PORT: String(gatewayPorts[index]) },
      logFile,
    });
    await waitFor(
      async () => {
        if (!proc.running()) throw new Error(`gateway exited; see ${proc.logFile}`);
        const ok = await fetch(`${gatewayUrls[index]}/healthz`).then(
          (r) => r.ok,
          () => false,
        );
        return ok ? true : undefined;
      },
      120_000,
      'the gateway to answer /healthz',
      250,
    ).catch(async (err: unknown) => {
      await proc.crash();
      throw err;
    });
    return proc;
  }

  const workers = await Promise.all(Array.from({ length: options.workers ?? 1 }, () => launchWorker()));
  const gateways = await Promise.all(gatewayPorts.map((_, i) => launchGateway(i)));
  say(
    `workers ${workers.map((w) => w.pid).join(', ')}; gateways ${gateways.map((g, i) => `${g.pid} on ${gatewayUrls[i]}`).join(', ')}`,
  );

  return {
    dir,
    gatewayUrl,
    gatewayUrls,
    temporalAddress: temporal.address,
    mongoUri,
    worker: (index = 0) => workers[index] as ManagedProcess,
    gateway: (index = 0) => gateways[index] as ManagedProcess,
    temporalPid: () => findPids(dbFile)[0],
    mongoPid: () => findPids(mongoDir)[0],
    async crashAndRestartWorker(downMs = 1000, index = 0) {
      const old = workers[index] as ManagedProcess;
      await old.crash();
      await sleep(downMs);
      workers[index] = await launchWorker();
      say(`worker ${old.pid} killed with SIGKILL; new worker ${workers[index]?.pid} polling`);
    },
    async crashGateway(index) {
      await gateways[index]?.crash();
      say(`gateway ${gateways[index]?.pid} on ${gatewayUrls[index]} killed with SIGKILL`);
    },
    async restartGateway(index) {
      gateways[index] = await launchGateway(index);
      say(`gateway ${index + 1} restarted: pid ${gateways[index]?.pid} on ${gatewayUrls[index]}`);
    },
    async restartTemporal(downMs = 2000) {
      const started = Date.now();
      await temporal.stop();
      await sleep(downMs);
      temporal = await startTemporal();
      say(`Temporal dev server restarted on ${temporal.address} (down ${Date.now() - started} ms)`);
    },
    async restartMongo(downMs = 2000) {
      const started = Date.now();
      await mongo.stop();
      await sleep(downMs);
      mongo = await startMongo();
      say(`${mongo.kind} restarted on ${mongo.uri} (down ${Date.now() - started} ms)`);
    },
    async stop() {
      await Promise.all([...workers, ...gateways].map((p) => p.stop({ graceMs: 5000 })));
      await Promise.all([temporal.stop(), mongo.stop()]);
    },
  };
}
