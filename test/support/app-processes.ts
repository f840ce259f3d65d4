// The real entry points (apps/gateway/main.ts, apps/worker/main.ts) as child processes with production defaults, as an operator runs them.
import fs from 'node:fs';
import path from 'node:path';
import { startApp, waitForHealthz, waitUntilReady, type ManagedProcess } from '../../scripts/processes';
import { freePort } from '../../scripts/util';

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
