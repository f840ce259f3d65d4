// Shared by the ingest and end-to-end benchmarks: their own Temporal and Mongo-wire servers, the gateway and
// worker as child processes (as in production), a closed-loop load generator, percentiles and CPU accounting.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import {
  repoRoot,
  startApp as startProcess,
  waitForHealthz,
  type ManagedProcess,
} from '../../scripts/processes';
import {
  startMongoServer,
  startTemporalDevServer,
  type MongoServer,
  type TemporalDevServer,
} from '../../scripts/provision/servers';
import type * as simulators from '../../scripts/simulators';
import { startPartnerSimulator, startSourceSimulator } from '../../scripts/simulators';
import { freePort } from '../../scripts/util';
import { cpuSeconds } from './processes';

export const ROOT = repoRoot;
export const SOURCE_KEY = 'bench-source-key-0123456789';
export const PARTNER_TOKEN = 'bench-partner-token-123';
export const ADMIN_KEY = 'bench-admin-key-0123456789abcdef';

export const say = (line: string): void => void process.stdout.write(`${line}\n`);

/** `--name value` or `--name=value` from argv, else the fallback. */
export function arg(name: string, fallback: number): number {
  const argv = process.argv;
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return fallback;
  const raw = argv[i]!.includes('=') ? argv[i]!.split('=')[1] : argv[i + 1];
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} needs a positive number, got ${raw}`);
  return n;
}

export interface BenchServers {
  dir: string;
  temporal: TemporalDevServer;
  mongo: MongoServer;
  mongoUri: string;
  stop(): Promise<void>;
}

/** A fresh Temporal dev server and Mongo-wire server in a temp dir, removed by stop(). */
export async function startBenchServers(name: string): Promise<BenchServers> {
  // BENCH_TMPDIR=/dev/shm puts both servers' SQLite files in memory: no fsync waits, CPU is the limit.
  const dir = fs.mkdtempSync(path.join(process.env.BENCH_TMPDIR || os.tmpdir(), `leadrouter-bench-${name}-`));
  const [temporal, mongo] = await Promise.all([
    startTemporalDevServer({ dbFile: path.join(dir, 'temporal', 'temporal.db') }),
    startMongoServer({ dataDir: path.join(dir, 'mongo') }),
  ]);
  return {
    dir,
    temporal,
    mongo,
    mongoUri: `${mongo.uri}/bench`,
    async stop() {
      await Promise.all([temporal.stop(), mongo.stop()]);
      // BENCH_KEEP=1 keeps the logs and data for a look after the run.
      if (process.env.BENCH_KEEP === '1') say(`kept ${dir}`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface BenchRun {
  servers: BenchServers;
  /** Answers deliveries (and posts back as its options say). */
  partner: simulators.PartnerSimulator;
  source: simulators.SourceSimulator;
  /** Apps started for the run: stopped last started first. */
  apps: App[];
  /** Something to stop before the apps (it uses them). */
  stopFirst(stop: () => Promise<unknown>): void;
  stop(): Promise<void>;
}

/**
 * A benchmark's servers, partner and source simulators, and the apps it starts: stopped together by stop(), or
 * on Ctrl-C, so no server outlives an interrupted run.
 */
export async function startBenchRun(
  name: string,
  partnerOptions?: simulators.PartnerSimulatorOptions,
): Promise<BenchRun> {
  const servers = await startBenchServers(name);
  const partner = await startPartnerSimulator(partnerOptions);
  const source = await startSourceSimulator();
  const apps: App[] = [];
  const first: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const f of first) await f().catch(() => undefined);
    for (const app of apps.reverse()) await app.stop().catch(() => undefined);
    await partner.stop();
    await source.stop();
    await mongoose.disconnect().catch(() => undefined);
    await servers.stop();
  };
  process.once('SIGINT', () => void stop().then(() => process.exit(130)));
  return { servers, partner, source, apps, stopFirst: (f) => void first.push(f), stop };
}

/** Runs a benchmark's main: an error is printed and the process exits 1. */
export function runBench(main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
}

export interface App {
  name: string;
  process: ManagedProcess;
  /** Milliseconds from spawn until it answered /healthz (HTTP apps). */
  startupMs: number;
  url?: string;
  stop(): Promise<void>;
}

/** Runs one of the project's processes (or a bench helper) with tsx, its output in a log file in `dir`. */
export async function startApp(
  name: string,
  entry: string,
  dir: string,
  env: Record<string, string>,
  opts: { http?: boolean; port?: number; nodeArgs?: string[]; root?: string } = {},
): Promise<App> {
  const port = opts.http ? (opts.port ?? (await freePort())) : undefined;
  const proc = startProcess(name, entry, {
    env: { ...process.env, HOST: '127.0.0.1', ...(port ? { PORT: String(port) } : {}), ...env },
    logFile: path.join(dir, `${name}.log`),
    nodeArgs: opts.nodeArgs,
    root: opts.root,
  });
  const spawnedAt = performance.now();
  const app: App = {
    name,
    process: proc,
    startupMs: 0,
    url: port ? `http://127.0.0.1:${port}` : undefined,
    stop: () => proc.stop({ graceMs: 10_000 }),
  };
  if (app.url) {
    await waitForHealthz(proc, app.url);
    app.startupMs = performance.now() - spawnedAt;
  }
  return app;
}

/** The routing config the benchmarks run with: one partner, one source, as in config/routing.yaml. */
export function benchConfig(partnerUrl: string, sourceUrl: string, timeout: string): unknown {
  return {
    partners: [
      {
        id: 'acme',
        delivery: { url: `${partnerUrl}/leads`, timeoutMs: 5000, maxAttempts: 3 },
        postback: { token: PARTNER_TOKEN, statusMap: { lead: 'pending' }, timeout },
        payout: 12.5,
      },
    ],
    sources: [
      {
        id: 'src-1',
        apiKey: SOURCE_KEY,
        postbackUrl: `${sourceUrl}/pb?clickid={clickid}&status={status}&payout={payout}&event={event_id}`,
        notifyOn: ['accepted', 'rejected', 'returned'],
      },
    ],
    settings: { adminApiKey: ADMIN_KEY },
  };
}

export function writeConfig(dir: string, config: unknown): string {
  const file = path.join(dir, 'routing.json');
  fs.writeFileSync(file, JSON.stringify(config, null, 2));
  return file;
}

/** The environment of the worker and gateway processes on these servers, with `config` as their routing file. */
export function appEnv(
  servers: BenchServers,
  taskQueue: string,
  config: unknown,
  logLevel: 'info' | 'warn' = 'info',
): Record<string, string> {
  return {
    MONGODB_URI: servers.mongoUri,
    TEMPORAL_ADDRESS: servers.temporal.address,
    TEMPORAL_NAMESPACE: servers.temporal.namespace,
    TEMPORAL_TASK_QUEUE: taskQueue,
    ROUTING_CONFIG: writeConfig(servers.dir, config),
    ADMIN_API_KEY: ADMIN_KEY,
    LOG_LEVEL: logLevel,
  };
}

export interface LoadResult {
  count: number;
  errors: number;
  firstError?: string;
  wallMs: number;
  /** Per-operation latencies in ms, sorted. */
  latencies: number[];
}

/** Closed loop: `concurrency` workers each run the next operation as soon as their previous one ends. */
export async function runLoad(
  count: number,
  concurrency: number,
  op: (i: number) => Promise<void>,
): Promise<LoadResult> {
  const latencies: number[] = [];
  let next = 0;
  let errors = 0;
  let firstError: string | undefined;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (let i = next++; i < count; i = next++) {
        const t = performance.now();
        try {
          await op(i);
          latencies.push(performance.now() - t);
        } catch (err) {
          errors += 1;
          firstError ??= err instanceof Error ? err.message : String(err);
        }
      }
    }),
  );
  const wallMs = performance.now() - started;
  latencies.sort((a, b) => a - b);
  return { count, errors, firstError, wallMs, latencies };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

export const throughput = (r: LoadResult): number => (r.latencies.length / r.wallMs) * 1000;

// ---- CPU accounting from /proc: which process spent the machine's two cores during a phase ----

/** CPU seconds each named process group uses between start() and stop(). */
export function cpuMeter(groups: Record<string, number[]>): { stop(): Record<string, number> } {
  const before = Object.fromEntries(
    Object.entries(groups).map(([k, pids]) => [k, pids.map((p) => cpuSeconds(p) ?? 0)]),
  );
  return {
    stop() {
      const out: Record<string, number> = {};
      for (const [k, pids] of Object.entries(groups)) {
        out[k] = pids.reduce((sum, p, i) => sum + ((cpuSeconds(p) ?? 0) - before[k]![i]!), 0);
      }
      return out;
    },
  };
}

export function fmt(n: number, digits = 1): string {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

// ---- CPU profile summary (node --cpu-prof): where a process spent its samples, by package or project file ----

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string }; hitCount?: number }[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

function bucketOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (m) return m[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const rel = url.replace(/^file:\/\//, '').replace(`${ROOT}/`, '');
  return rel.startsWith('/') ? '(other)' : rel;
}

/**
 * Self-time shares of the busiest buckets in the .cpuprofile files in `dir` (idle excluded), counting only
 * samples taken `skipMs` or more after the profile started (start-up compiles and loads modules).
 */
export function summarizeCpuProfiles(dir: string, skipMs = 0, top = 14): string[] {
  const totals = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const file of fs.readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'))) {
    const profile = JSON.parse(fs.readFileSync(path.join(dir, file), 'utf8')) as CpuProfile;
    const hitCount = new Map<number, number>();
    let t = 0;
    profile.samples.forEach((id, i) => {
      t += profile.timeDeltas[i] ?? 0;
      if (t >= skipMs * 1000) hitCount.set(id, (hitCount.get(id) ?? 0) + 1);
    });
    for (const node of profile.nodes) {
      const hits = hitCount.get(node.id) ?? 0;
      if (!hits || node.callFrame.functionName === '(idle)') continue;
      const bucket = bucketOf(node.callFrame.url, node.callFrame.functionName);
      totals.set(bucket, (totals.get(bucket) ?? 0) + hits);
      const fn = `${node.callFrame.functionName || '(anonymous)'} ${bucket}`;
      fns.set(fn, (fns.get(fn) ?? 0) + hits);
    }
  }
  const all = [...totals.values()].reduce((a, b) => a + b, 0);
  const rank = (m: Map<string, number>) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([k, v]) => `${fmt((v / all) * 100)}% ${k}`);
  return ['by package or file:', ...rank(totals), 'by function:', ...rank(fns)];
}
