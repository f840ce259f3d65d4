// `npm run dev`: the whole service on one machine. Starts (or uses) a Temporal dev server with its Web UI
// and a MongoDB-wire server, then one worker and the gateway, plus partner and source simulators for the
// example config (or with `--simulators`). `--demo` also pushes a few leads through. Ctrl-C stops everything.
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { loadRoutingConfig } from '../../shared/config';
import { readEnv } from '../../shared/env';
import { repoRoot, startApp, type ManagedProcess } from '../processes';
import { resolveMongo, resolveTemporal } from '../provision/servers';
import { freePort } from '../util';
import { runDemo, simulatorsWanted, startDemoSimulators, type DemoSimulators } from './demo';

const dataDir = path.join(repoRoot, '.data');
const say = (line: string) => process.stdout.write(`[dev] ${line}\n`);

/** The conventional port when it is free, else any free one (a second checkout, a local mongod). */
function portOr(preferred: number): Promise<number> {
  return new Promise((resolve) => {
    const probe = net.createServer();
    probe.once('error', () => void freePort().then(resolve));
    probe.listen(preferred, '127.0.0.1', () => probe.close(() => resolve(preferred)));
  });
}

/** An app whose exit (other than ours) takes the whole dev stack down with it. */
function startSupervised(name: string, entry: string, env: NodeJS.ProcessEnv): ManagedProcess {
  const app = startApp(name, entry, { env });
  app.child.once('exit', (code, signal) => {
    if (!stopping) {
      say(`${name} exited (${signal ?? code}); stopping`);
      void shutdown(1);
    }
  });
  return app;
}

let stopping = false;
const cleanups: (() => Promise<void>)[] = [];

async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  say('stopping...');
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  process.exit(code);
}

async function main(): Promise<void> {
  const { values: flags } = parseArgs({
    options: { demo: { type: 'boolean' }, simulators: { type: 'boolean' } },
  });
  const demo = flags.demo ?? false;
  const env = readEnv();
  const config = loadRoutingConfig(env.ROUTING_CONFIG);
  // `on`, not `once`: the provisioner re-raises a signal nobody else listens to, which would cut our cleanup short.
  process.on('SIGINT', () => void shutdown(0));
  process.on('SIGTERM', () => void shutdown(0));

  say('starting Temporal and MongoDB (first run fetches or builds them; later runs reuse the cache)...');
  const [temporal, mongo] = await Promise.all([
    resolveTemporal({ dbFile: path.join(dataDir, 'temporal.db'), port: 7233, uiPort: 8233 }),
    portOr(27017).then((port) => resolveMongo({ dataDir: path.join(dataDir, 'mongo'), port })),
  ]);
  cleanups.push(
    () => temporal.stop(),
    () => mongo.stop(),
  );
  const mongoUri = process.env.MONGODB_URI ?? `${mongo.uri}/leadrouter`;
  const childEnv = {
    ...process.env,
    // Our own dev server is named to the apps; an external one they find as we did (env, profile, temporal.toml).
    ...(temporal.external
      ? {}
      : { TEMPORAL_ADDRESS: temporal.address, TEMPORAL_NAMESPACE: temporal.namespace }),
    MONGODB_URI: mongoUri,
    ROUTING_CONFIG: env.ROUTING_CONFIG,
    PORT: String(env.PORT),
    LOG_PRETTY: process.env.LOG_PRETTY ?? '1',
    LOG_LEVEL: env.LOG_LEVEL,
  };
  const gatewayUrl = `http://127.0.0.1:${env.PORT}`;
  const simulate = simulatorsWanted(env.ROUTING_CONFIG, flags);
  const sims: DemoSimulators | undefined = simulate
    ? await startDemoSimulators(config, gatewayUrl, say)
    : undefined;
  if (sims) cleanups.push(() => sims.stop());

  const worker = startSupervised('worker', 'apps/worker/main.ts', childEnv);
  const gateway = startSupervised('gateway', 'apps/gateway/main.ts', childEnv);
  // A worker drains its in-flight tasks on SIGTERM; if the servers are already gone it cannot, so cap the wait.
  cleanups.push(
    () => worker.stop({ graceMs: 5000 }),
    () => gateway.stop({ graceMs: 5000 }),
  );

  for (let i = 0; i < 300; i++) {
    const ok = await fetch(`${gatewayUrl}/healthz`)
      .then((r) => r.ok)
      .catch(() => false);
    if (ok) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  say('');
  say(`gateway      ${gatewayUrl}   (try ${gatewayUrl}/healthz, ${gatewayUrl}/metrics)`);
  say(`Temporal UI  ${temporal.uiUrl ?? '(external server)'}`);
  say(`Temporal     ${temporal.address}  namespace ${temporal.namespace}`);
  say(`MongoDB      ${mongoUri}  (${mongo.kind})`);
  say(
    sims
      ? `simulators   ${[...sims.partners].map(([id, sim]) => `partner ${id} ${sim.url}`).join(', ')}${sims.source ? `, source ${sims.source.url}` : ''}`
      : `simulators   none (your own config; --simulators starts them on its loopback URLs)`,
  );
  const source = config.sources[0];
  if (source) {
    say('');
    say('send a lead:');
    say(
      `  curl -s -XPOST ${gatewayUrl}/leads -H 'x-api-key: ${source.apiKey}' -H 'content-type: application/json' -d '{"clickId":"c1","vertical":"auto","geo":{"country":"US"}}'`,
    );
  }
  say('Ctrl-C stops everything.');
  if (demo && source) {
    say('');
    say('demo: pushing leads through...');
    const ok = await runDemo(gatewayUrl, source.apiKey, temporal.uiUrl, say);
    say(
      ok
        ? 'demo: every lead reached its expected status'
        : 'demo: some leads did not reach their expected status (see above)',
    );
  }
}

main().catch((err: unknown) => {
  say(err instanceof Error ? err.message : String(err));
  void shutdown(1);
});
