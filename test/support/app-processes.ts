// The real entry points (apps/gateway/main.ts, apps/worker/main.ts) as child processes with production defaults, as an operator runs them.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startApp, waitForHealthz, waitUntilReady, type ManagedProcess } from '../../scripts/processes';
import { freePort } from '../../scripts/util';
import { testEnv, uniqueDbName, uniqueTaskQueue, testDbUri } from './servers';

/**
 * The parent's environment without anything that says where Temporal or MongoDB is (jest's global setup
 * puts the shared servers' addresses there): each process gets exactly what the test gives it.
 */
export function appEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('TEMPORAL_') && k !== 'MONGODB_URI'),
  );
  return { ...inherited, NODE_ENV: 'production', LOG_LEVEL: 'info', LOG_PRETTY: '0', ...vars };
}

export interface GatewayProcess {
  process: ManagedProcess;
  url: string;
}

export async function startGatewayProcess(
  name: string,
  env: NodeJS.ProcessEnv,
  logDir: string,
  port?: number,
): Promise<GatewayProcess> {
  const listen = port ?? (await freePort());
  const proc = startApp(name, 'apps/gateway/main.ts', {
    env: { ...env, HOST: '127.0.0.1', PORT: String(listen) },
    logFile: path.join(logDir, `${name}.log`),
  });
  const url = `http://127.0.0.1:${listen}`;
  await waitForHealthz(proc, url, 60_000);
  return { process: proc, url };
}

/** Resolves once the worker logged that it polls its task queue. */
export async function startWorkerProcess(
  name: string,
  env: NodeJS.ProcessEnv,
  logDir: string,
): Promise<ManagedProcess> {
  const logFile = path.join(logDir, `${name}.log`);
  const proc = startApp(name, 'apps/worker/main.ts', { env, logFile });
  await waitUntilReady(proc, name, 90_000, async () => {
    if (!fs.readFileSync(logFile, 'utf8').includes('"worker running"')) throw new Error('not polling yet');
  });
  return proc;
}

/** The process's whole output so far, for assertions on what it said before it exited. */
export function output(proc: ManagedProcess): string {
  return proc.logFile ? fs.readFileSync(proc.logFile, 'utf8') : '';
}

/** A folder of a suite's own for its processes' logs and files, under the run's temp dir. */
export function processDir(prefix: string): string {
  return fs.mkdtempSync(path.join(process.env.LEADROUTER_TEST_TMP || os.tmpdir(), `${prefix}-`));
}

/**
 * Writes a routing config with one partner, acme (at `partnerUrl`, `lead` mapped to pending), and one source,
 * src-1, into `dir`; returns the variables that point a gateway or worker process at it, at the shared
 * Temporal server (a queue of its own) and at a database of its own.
 */
export function appConfig(
  dir: string,
  options: { partnerUrl: string; token: string; sourceKey: string; acme?: Record<string, unknown> },
): Record<string, string> {
  const config = path.join(dir, 'routing.json');
  fs.writeFileSync(
    config,
    JSON.stringify({
      partners: [
        {
          id: 'acme',
          delivery: { url: `${options.partnerUrl}/leads`, timeoutMs: 2000 },
          postback: { token: options.token, statusMap: { lead: 'pending' }, timeout: '1h' },
          ...options.acme,
        },
      ],
      sources: [{ id: 'src-1', apiKey: options.sourceKey }],
    }),
  );
  const name = path.basename(dir).replace(/-.*$/, '');
  return {
    TEMPORAL_ADDRESS: testEnv().temporalAddress,
    TEMPORAL_NAMESPACE: testEnv().temporalNamespace,
    TEMPORAL_TASK_QUEUE: uniqueTaskQueue(name),
    MONGODB_URI: testDbUri(uniqueDbName(name)),
    ROUTING_CONFIG: config,
  };
}
