// Starts the Temporal dev server and a MongoDB-wire server (mongod, else FerretDB) as supervised children, or uses the ones the environment names.
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import mongoose from 'mongoose';
import { spawnLogged, waitUntilReady, type ManagedProcess, type StopOptions } from '../processes';
import { SEARCH_ATTRIBUTES } from '../../shared/temporal';
import { temporalTarget } from '../../shared/temporal-connection';
import { freePort, tcpProbe } from '../util';
import { findBinary, locateBinary } from './binaries';

/** The search attributes the workflow upserts, as the dev server's `--search-attribute Name=Type` spells them. */
export const DEFAULT_SEARCH_ATTRIBUTES: Record<string, string> = Object.fromEntries(
  Object.values(SEARCH_ATTRIBUTES).map((k) => [k.name, k.type.charAt(0) + k.type.slice(1).toLowerCase()]),
);

export interface TemporalDevServerOptions {
  /** SQLite file; reuse it across restarts to keep workflows (what outage tests rely on). */
  dbFile: string;
  /** gRPC port (default: a free one). Pass the same port to a restart so clients reconnect. */
  port?: number;
  /** Web UI port; omit for a headless server. */
  uiPort?: number;
  namespace?: string;
  /** Log file for the server's stdout/stderr (default `<dbFile>.log`, appended). */
  log?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  searchAttributes?: Record<string, string>;
  readyTimeoutMs?: number;
}

export interface TemporalDevServer {
  address: string;
  uiUrl: string | undefined;
  namespace: string;
  port: number;
  dbFile: string;
  logFile: string;
  stop(opts?: StopOptions): Promise<void>;
}

export async function startTemporalDevServer(opts: TemporalDevServerOptions): Promise<TemporalDevServer> {
  const bin = await findBinary('temporal');
  const dbFile = path.resolve(opts.dbFile);
  const port = opts.port ?? (await freePort());
  const namespace = opts.namespace ?? 'default';
  const host = '127.0.0.1';
  fs.mkdirSync(path.dirname(dbFile), { recursive: true });
  const args = ['server', 'start-dev', '--db-filename', dbFile, '--ip', host, '--port', String(port)];
  // WAL with synchronous=NORMAL: a commit survives the server being killed, and waits for no fsync (the
  // default rollback journal fsyncs several times per write). docs/decisions/0007-sqlite-durability.md
  args.push('--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=1');
  args.push(...(opts.uiPort ? ['--ui-port', String(opts.uiPort)] : ['--headless']));
  args.push('--namespace', namespace, '--log-level', opts.logLevel ?? 'warn');
  for (const [name, type] of Object.entries(opts.searchAttributes ?? DEFAULT_SEARCH_ATTRIBUTES)) {
    args.push('--search-attribute', `${name}=${type}`);
  }
  // The HTTP API and metrics ports default to random free ones, so parallel instances don't clash.
  const logFile = opts.log ?? `${dbFile}.log`;
  const proc = spawnLogged(bin, args, { name: 'temporal', logFile, cwd: path.dirname(dbFile) });
  const address = `${host}:${port}`;
  await waitUntilReady(proc, `Temporal dev server on ${address}`, opts.readyTimeoutMs ?? 60_000, async () => {
    await tcpProbe(host, port);
    const connection = await Connection.connect({ address, connectTimeout: 2000 });
    try {
      // Describing the namespace (not just getSystemInfo) proves it is registered and usable.
      await connection.workflowService.describeNamespace({ namespace });
    } finally {
      await connection.close();
    }
  });
  return {
    address,
    uiUrl: opts.uiPort ? `http://${host}:${opts.uiPort}` : undefined,
    namespace,
    port,
    dbFile,
    logFile,
    stop: proc.stop,
  };
}

/** What the dev launcher needs from "a Temporal server", wherever it comes from. */
export type TemporalServer = Pick<TemporalDevServer, 'address' | 'uiUrl' | 'namespace' | 'stop'> & {
  external: boolean;
};

/**
 * The server the Temporal client configuration names (TEMPORAL_ADDRESS, or a TEMPORAL_PROFILE/temporal.toml
 * profile with an address), starting nothing; else a dev server of our own.
 */
export async function resolveTemporal(opts: TemporalDevServerOptions): Promise<TemporalServer> {
  const target = temporalTarget();
  if (target.configured) {
    const { address } = target.connection;
    return { address, uiUrl: undefined, namespace: target.namespace, external: true, stop: async () => {} };
  }
  return { ...(await startTemporalDevServer(opts)), external: false };
}

// ---------------------------------------------------------------------------------------------
// MongoDB-wire server
// ---------------------------------------------------------------------------------------------

export interface MongoServer {
  /** Base URI without a database: pick one per test/app with mongoose's `dbName` option. */
  uri: string;
  kind: 'mongod' | 'ferretdb' | 'external';
  logFile?: string;
  stop(opts?: StopOptions): Promise<void>;
}

export interface MongoServerOptions {
  /** Holds the data files and the server log. */
  dataDir: string;
  port?: number;
  readyTimeoutMs?: number;
}

/** Uses MONGODB_URI when set (starting nothing), else starts a local server. */
export async function resolveMongo(opts: MongoServerOptions): Promise<MongoServer> {
  const uri = process.env.MONGODB_URI;
  if (uri) return { uri, kind: 'external', stop: async () => {} };
  return startMongoServer(opts);
}

/** A real mongod when MONGOD_PATH is set or mongod is on PATH, else FerretDB (SQLite backend). */
export async function startMongoServer(opts: MongoServerOptions): Promise<MongoServer> {
  const dataDir = path.resolve(opts.dataDir);
  const port = opts.port ?? (await freePort());
  const host = '127.0.0.1';
  fs.mkdirSync(dataDir, { recursive: true });
  const mongod = await locateBinary('mongod').catch(() => undefined);
  let proc: ManagedProcess;
  let kind: 'mongod' | 'ferretdb';
  if (mongod) {
    kind = 'mongod';
    // No unix socket: its fixed /tmp/mongodb-<port>.sock name would clash across instances.
    const args = [
      '--dbpath',
      dataDir,
      '--port',
      String(port),
      '--bind_ip',
      host,
      '--nounixsocket',
      '--quiet',
    ];
    proc = spawnLogged(mongod.path, args, { logFile: path.join(dataDir, 'mongod.log'), cwd: dataDir });
  } else {
    kind = 'ferretdb';
    const args = [
      '--handler=sqlite',
      // FerretDB already uses WAL; synchronous=NORMAL as for Temporal above (decision 0007).
      `--sqlite-url=file:${dataDir}/?_pragma=synchronous(normal)`,
      `--state-dir=${dataDir}`, // default "." would drop state.json in whatever cwd we have
      `--listen-addr=${host}:${port}`,
      '--debug-addr=-', // default 127.0.0.1:8088 would clash between two instances
      '--telemetry=disable',
      '--log-level=warn',
    ];
    const logFile = path.join(dataDir, 'ferretdb.log');
    proc = spawnLogged(await findBinary('ferretdb'), args, { logFile, cwd: dataDir });
  }
  const uri = `mongodb://${host}:${port}`;
  await waitUntilReady(proc, `${kind} on ${host}:${port}`, opts.readyTimeoutMs ?? 60_000, async () => {
    await tcpProbe(host, port);
    const client = new mongoose.mongo.MongoClient(uri, { serverSelectionTimeoutMS: 1000 });
    try {
      await client.db('admin').command({ ping: 1 });
    } finally {
      await client.close();
    }
  });
  return { uri, kind, logFile: proc.logFile, stop: proc.stop };
}
