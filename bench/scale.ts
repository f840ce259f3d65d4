// `npm run bench:scale`: many leads waiting for a postback at once (the partner never answers), and what
// that costs in memory: worker and Temporal server RSS at 25/50/75/100% of the leads waiting and after
// an idle pause, as ratios measured in this one run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import mongoose from 'mongoose';
import { startPartnerSimulator } from '../scripts/simulators';
import { cpuSeconds, rssMiB, runBounded } from './lib/processes';
import { startBenchStack, type BenchStack } from './lib/stack';
import { formatTable, mapPool, round, sleep } from './lib/stats';

const { values: args } = parseArgs({
  options: {
    leads: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '32' },
    idle: { type: 'string', default: '60' }, // seconds to wait after the last lead is waiting
    timeout: { type: 'string', default: '2400' },
    keep: { type: 'boolean', default: false },
    'disk-db': { type: 'boolean', default: false },
  },
});
const LEADS = Number(args.leads);
const CONCURRENCY = Number(args.concurrency);
const DEADLINE = Date.now() + Number(args.timeout) * 1000;
const started = Date.now();
const elapsed = () => round((Date.now() - started) / 1000);
const say = (line: string) => process.stdout.write(`[scale ${elapsed().toFixed(1).padStart(6)}s] ${line}\n`);

interface Sample {
  point: string;
  waiting: number;
  atS: number;
  worker?: number;
  temporal?: number;
  mongo?: number;
}

async function main(): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadrouter-scale-'));
  // The Temporal db on tmpfs when there is one: SQLite's fsyncs would otherwise pace the whole run, and
  // tmpfs pages read through the page cache are not in the server's RSS, so the memory numbers stay honest.
  const shmDir =
    fs.existsSync('/dev/shm') && !args['disk-db'] ? fs.mkdtempSync('/dev/shm/leadrouter-scale-') : undefined;
  say(`${LEADS} leads, concurrency ${CONCURRENCY}, work dir ${dir}`);
  // The partner takes every lead and never posts back: each lead waits on its (long) deadline.
  const partner = await startPartnerSimulator();
  const config = {
    partners: [
      {
        id: 'silent',
        delivery: { url: `${partner.url}/leads`, timeoutMs: 10_000 },
        postback: { token: 'silent-token-123', timeout: '6h' },
        payout: 10,
      },
    ],
    sources: [{ id: 'src-scale', apiKey: 'key-src-scale-0123' }],
  };
  let stack: BenchStack | undefined;
  const db = mongoose.createConnection();
  let passed = false;
  try {
    stack = await startBenchStack({ dir, config, say, env: { LOG_LEVEL: 'info' }, temporalDbDir: shmDir });
    await db.openUri(stack.mongoUri, { serverSelectionTimeoutMS: 30_000 });
    const s = stack;
    const maxCached = readMaxCachedWorkflows(s.worker().logFile);
    say(`worker maxCachedWorkflows = ${maxCached ?? 'unknown'}`);

    const sample = (point: string, waiting: number): Sample => ({
      point,
      waiting,
      atS: elapsed(),
      worker: rssMiB(s.worker().pid),
      temporal: pidRss(s.temporalPid()),
      mongo: pidRss(s.mongoPid()),
    });
    const samples: Sample[] = [sample('idle, before any lead', 0)];
    const checkpoints = [0.25, 0.5, 0.75, 1].map((f) => Math.round(LEADS * f));
    let peakWorker = 0;
    let peakTemporal = 0;

    const intakeStart = Date.now();
    let refused = 0;
    let stopIntake = false;
    const intake = mapPool(
      Array.from({ length: LEADS }, (_, i) => i),
      CONCURRENCY,
      async (i) => {
        if (stopIntake) return;
        const status = await submitLead(s.gatewayUrl, `scale-${i}`);
        if (status !== 202 && status !== 200) refused++;
      },
    ).then(() => say(`intake done in ${round((Date.now() - intakeStart) / 1000)} s (${refused} refused)`));

    let waiting = 0;
    let lastWaitingAt = Date.now();
    while (checkpoints.length) {
      if (Date.now() > DEADLINE) {
        // Bounded: report what was reached rather than nothing.
        stopIntake = true;
        samples.push(sample(`deadline: ${waiting} waiting`, waiting));
        say(`deadline reached with ${waiting} of ${LEADS} leads waiting`);
        break;
      }
      await sleep(1000);
      // Counted at the partner, in this process: polling MongoDB for it would scan every lead each second
      // (FerretDB filters non-_id queries itself), and that scan alone grew into the biggest CPU user.
      waiting = new Set(partner.received.map((r) => r.subid)).size;
      lastWaitingAt = Date.now();
      peakWorker = Math.max(peakWorker, rssMiB(s.worker().pid) ?? 0);
      peakTemporal = Math.max(peakTemporal, pidRss(s.temporalPid()) ?? 0);
      while (checkpoints.length && waiting >= (checkpoints[0] as number)) {
        const at = checkpoints.shift() as number;
        samples.push(sample(`${at} waiting`, waiting));
        say(
          `${waiting} leads waiting: worker ${fmt(samples.at(-1)?.worker)} MiB, Temporal ${fmt(samples.at(-1)?.temporal)} MiB`,
        );
      }
    }
    const reachedAll = checkpoints.length === 0;
    await intake;
    const idleS = Number(args.idle);
    say(`${waiting} waiting after ${round((lastWaitingAt - intakeStart) / 1000)} s; idle ${idleS} s`);
    await sleep(idleS * 1000);
    const stored = await db.collection('leads').countDocuments({ status: 'pending' });
    samples.push(sample(`after ${idleS} s idle`, stored));
    const running = await countRunning(s.temporalAddress);
    // Where the CPU went getting the leads to wait: names the bottleneck when the intake is slow.
    const cpu = {
      worker: cpuSeconds(s.worker().pid),
      gateway: cpuSeconds(s.gateway().pid),
      temporal: pidCpu(s.temporalPid()),
      mongo: pidCpu(s.mongoPid()),
    };

    const table = formatTable(
      ['point', 'waiting', 'at s', 'worker RSS MiB', 'Temporal RSS MiB', 'Mongo-wire RSS MiB'],
      samples.map((x) => [x.point, x.waiting, x.atS, fmt(x.worker), fmt(x.temporal), fmt(x.mongo)]),
    );
    // Half against full (or the furthest point reached): past the workflow cache size, more waiting leads should cost nothing.
    const half = samples.find((x) => x.point === `${Math.round(LEADS / 2)} waiting`);
    const loaded = samples.filter((x) => !x.point.startsWith('after'));
    const full = loaded.at(-1) as Sample;
    const after = samples.at(-1) as Sample;
    const span = half ? full.waiting - half.waiting : 0;
    const perThousand = (a?: number, b?: number) =>
      a !== undefined && b !== undefined && span > 0 ? round(((b - a) / span) * 1000, 2) : Number.NaN;
    const ratio = (a?: number, b?: number) => (a && b ? round(b / a, 3) : Number.NaN);
    const row = (name: string, key: 'worker' | 'temporal' | 'mongo', peak?: number) => [
      name,
      fmt(half?.[key]),
      fmt(full[key]),
      fmt(after[key]),
      perThousand(half?.[key], full[key]),
      ratio(half?.[key], full[key]),
      ratio(half?.[key], after[key]),
      peak === undefined ? '-' : fmt(peak),
    ];
    const ratios = formatTable(
      [
        'process',
        `RSS at ${half?.waiting ?? '-'} waiting`,
        `RSS at ${full.waiting} waiting`,
        'RSS after idle',
        'MiB per 1000 more waiting',
        'growth half->full',
        'growth half->after idle',
        'peak RSS',
      ],
      [
        row('worker', 'worker', peakWorker),
        row('Temporal server', 'temporal', peakTemporal),
        row('Mongo-wire server', 'mongo'),
      ],
    );
    const workerGrowth = ratio(half?.worker, full.worker);
    // Flat: doubling the waiting leads grows the worker by less than 10% once its workflow cache is full.
    const flat = workerGrowth < 1.1;
    process.stdout.write(`\n${table}\n\n${ratios}\n\n`);
    process.stdout.write(
      `running lead workflows in Temporal: ${running ?? 'unknown'}; worker maxCachedWorkflows: ${maxCached ?? 'unknown'}; leads refused at intake: ${refused}\n`,
    );
    process.stdout.write(
      `intake to waiting: ${round(full.waiting / ((lastWaitingAt - intakeStart) / 1000), 1)} leads/s\n`,
    );
    process.stdout.write(
      `CPU seconds used: ${Object.entries(cpu)
        .map(([k, v]) => `${k} ${v === undefined ? '-' : round(v, 1)}`)
        .join(', ')}\n`,
    );
    say(
      `${flat ? 'worker memory flat' : 'worker memory NOT flat'}: x${workerGrowth} from ${half?.waiting ?? '-'} to ${full.waiting} waiting${reachedAll ? '' : ` (target ${LEADS} not reached)`}`,
    );
    passed = flat && refused === 0 && reachedAll;
    return passed ? 0 : 1;
  } finally {
    await db.close().catch(() => undefined);
    await stack?.stop().catch((err: unknown) => say(`stopping the stack: ${String(err)}`));
    await partner.stop();
    if (shmDir) fs.rmSync(shmDir, { recursive: true, force: true });
    if (passed && !args.keep) fs.rmSync(dir, { recursive: true, force: true });
    else say(`work dir kept: ${dir}`);
  }
}

const fmt = (v?: number) => (v === undefined ? '-' : round(v, 1).toFixed(1));
const pidRss = (pid?: number) => (pid === undefined ? undefined : rssMiB(pid));
const pidCpu = (pid?: number) => (pid === undefined ? undefined : cpuSeconds(pid));

function readMaxCachedWorkflows(logFile: string | undefined): number | undefined {
  if (!logFile) return undefined;
  const line = fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .find((l) => l.includes('"worker running"'));
  try {
    return line ? (JSON.parse(line) as { maxCachedWorkflows?: number }).maxCachedWorkflows : undefined;
  } catch {
    return undefined;
  }
}

async function countRunning(address: string): Promise<number | undefined> {
  const connection = await Connection.connect({ address });
  try {
    const client = new Client({ connection });
    return (await client.workflow.count('WorkflowType="leadWorkflow" AND ExecutionStatus="Running"')).count;
  } catch {
    return undefined;
  } finally {
    await connection.close();
  }
}

async function submitLead(gatewayUrl: string, leadId: string): Promise<number> {
  for (let attempt = 1; ; attempt++) {
    try {
      const res = await fetch(`${gatewayUrl}/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'key-src-scale-0123' },
        body: JSON.stringify({ leadId, clickId: `c-${leadId}`, vertical: 'auto', geo: { country: 'US' } }),
        signal: AbortSignal.timeout(60_000),
      });
      await res.arrayBuffer();
      if (res.status < 500 || attempt >= 5) return res.status;
    } catch {
      if (attempt >= 5) return 0;
    }
    await sleep(1000 * attempt);
  }
}

runBounded(main, Number(args.timeout) * 1000 + 180_000, say);
