// Test-side view of the servers jest's global setup started, plus helpers for isolated names, the time-skipping environment and a private Temporal dev server for outage tests.
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { StopOptions } from '../../scripts/processes';
import { findBinary } from '../../scripts/provision/binaries';
import { startTemporalDevServer, type TemporalDevServer } from '../../scripts/provision/servers';
import { freePort } from '../../scripts/util';

export interface TestEnv {
  /** Base URI without a database: connect with `{ dbName: uniqueDbName(...) }`. */
  mongoUri: string;
  mongoKind: 'mongod' | 'ferretdb' | 'external';
  temporalAddress: string;
  temporalNamespace: string;
  testServerPath: string;
}

/**
 * Where global setup also writes the addresses. Jest workers normally inherit them through
 * process.env, the file is the fallback (and a way to find the servers while debugging a run).
 * Keyed by this checkout's path, so two checkouts on one machine don't read each other's file.
 */
export function stateFilePath(): string {
  const repoRoot = path.resolve(__dirname, '..', '..');
  const key = createHash('sha256').update(repoRoot).digest('hex').slice(0, 12);
  return path.join(os.tmpdir(), `leadrouter-jest-${key}.json`);
}

let cached: TestEnv | undefined;

export function testEnv(): TestEnv {
  if (cached) return cached;
  const env = process.env;
  if (env.MONGODB_URI && env.TEMPORAL_ADDRESS && env.TEMPORAL_TEST_SERVER_PATH) {
    cached = {
      mongoUri: env.MONGODB_URI,
      mongoKind: (env.LEADROUTER_MONGO_KIND as TestEnv['mongoKind'] | undefined) ?? 'external',
      temporalAddress: env.TEMPORAL_ADDRESS,
      temporalNamespace: env.TEMPORAL_NAMESPACE || 'default',
      testServerPath: env.TEMPORAL_TEST_SERVER_PATH,
    };
    return cached;
  }
  try {
    cached = JSON.parse(fs.readFileSync(stateFilePath(), 'utf8')) as TestEnv;
    return cached;
  } catch {
    throw new Error(
      `no test servers: run tests through jest (its global setup starts them), not directly; ${stateFilePath()} not found`,
    );
  }
}

/** A database name no other test (or earlier run) uses; Mongo caps names at 63 bytes. */
export function uniqueDbName(prefix = 'test'): string {
  const clean = prefix
    .toLowerCase()
    .replace(/[^a-z0-9_]/g, '_')
    .slice(0, 40);
  return `${clean}_${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`;
}

/** Tests share one dev server and run in parallel: a task queue each keeps workers from stealing tasks. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${randomBytes(6).toString('hex')}`;
}

/** Time-skipping test server from the provisioned binary (the SDK would otherwise download one). */
export async function createTimeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  const executable = process.env.TEMPORAL_TEST_SERVER_PATH || (await findBinary('temporal-test-server'));
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: executable } },
  });
}

/**
 * A port kept across a restart must stay free while the server is down. The OS hands ports of its ephemeral
 * range to every outgoing connection (each test makes thousands), so a port taken from there (`freePort()`)
 * can be someone's client socket by the time the server comes back: EADDRINUSE. Take one below that range,
 * where only listeners that chose it go, and check it is free now.
 */
export async function restartablePort(): Promise<number> {
  let low = 32768;
  try {
    low = Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  } catch {
    // not Linux: the usual lower bound
  }
  const floor = Math.min(10_000, low - 1000);
  for (let tries = 0; tries < 50; tries++) {
    const port = floor + Math.floor(Math.random() * (low - floor));
    if (await isFree(port)) return port;
  }
  return freePort();
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => resolve(false));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve(true)));
  });
}

/** A dev server a test owns: it can take it down and bring it back without touching the shared one. */
export interface OwnTemporalServer {
  /** Stable across restarts (same port), so clients and workers reconnect on their own. */
  readonly address: string;
  readonly namespace: string;
  readonly dbFile: string;
  /** Take the server down; `{ graceMs: 0 }` simulates a crash (SIGKILL). */
  stop(opts?: StopOptions): Promise<void>;
  /** Bring it back on the same port and database file: workflows started before are still there. */
  start(): Promise<void>;
  restart(opts?: StopOptions): Promise<void>;
}

export async function startOwnTemporal(
  opts: { dbFile?: string; port?: number } = {},
): Promise<OwnTemporalServer> {
  // Under the run's temp dir (removed by global teardown) unless the test picks its own file.
  const parent = process.env.LEADROUTER_TEST_TMP || os.tmpdir();
  const dbFile = opts.dbFile ?? path.join(fs.mkdtempSync(path.join(parent, 'own-temporal-')), 'temporal.db');
  const port = opts.port ?? (await restartablePort());
  let server: TemporalDevServer | undefined = await startTemporalDevServer({ dbFile, port });
  const own: OwnTemporalServer = {
    address: server.address,
    namespace: server.namespace,
    dbFile,
    async stop(stopOpts) {
      await server?.stop(stopOpts);
      server = undefined;
    },
    async start() {
      if (!server) server = await startTemporalDevServer({ dbFile, port });
    },
    async restart(stopOpts) {
      await own.stop(stopOpts);
      await own.start();
    },
  };
  return own;
}

/** The URI of database `dbName` on the test Mongo-wire server. */
export function testDbUri(dbName: string): string {
  return `${testEnv().mongoUri.replace(/\/$/, '')}/${dbName}`;
}
