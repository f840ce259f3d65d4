// `npm run bench:replay`: the workflow side of a lead alone. Replays committed histories
// (test/workflow/histories) in one replay worker, with no servers, and prints the CPU and wall time per replayed
// run: the SDK's activation pipeline, its sandbox and the lead workflow's own code, as a live worker runs them for
// every lead, without the activities, the network or the servers whose noise hides a millisecond in bench:e2e.
// Options: --runs N (replays measured, default 400, after 50 to warm up); --histories a,b (file names without
// .json, default release-2026-12-2-accepted, the plain accepted lead). Run it twice, alternating, to compare two
// versions of the workflow code or of the worker (decision 0026 was measured so).
import fs from 'node:fs';
import path from 'node:path';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { workflowBundle } from '../apps/worker/worker';
import { historyFromJson } from '../test/workflow/history-json';
import { arg } from './lib/ingest-stack';

const RUNS = arg('runs', 400);
const WARMUP = 50;
const flag = process.argv.indexOf('--histories');
const NAMES = (flag > 0 ? (process.argv[flag + 1] ?? '') : 'release-2026-12-2-accepted').split(',');
const HISTORIES_DIR = path.join(__dirname, '..', 'test', 'workflow', 'histories');

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const histories = NAMES.map((name) =>
    historyFromJson(fs.readFileSync(path.join(HISTORIES_DIR, `${name}.json`), 'utf8')),
  );
  const { bundle } = await workflowBundle();
  const replay = async (count: number, from: number): Promise<void> => {
    const runs = Array.from({ length: count }, (_, i) => ({
      workflowId: `replay-${from + i}`,
      history: histories[i % histories.length] as (typeof histories)[number],
    }));
    for await (const r of Worker.runReplayHistories(
      { workflowBundle: bundle, replayName: 'bench-replay' },
      runs,
    ))
      if (r.error) throw r.error;
  };
  await replay(WARMUP, 0);
  const cpu = process.cpuUsage();
  const started = performance.now();
  await replay(RUNS, WARMUP);
  const used = process.cpuUsage(cpu);
  const wallMs = performance.now() - started;
  const perRun = (ms: number) => (ms / RUNS).toFixed(2);
  console.log(`histories: ${NAMES.join(', ')}; ${RUNS} replays after ${WARMUP} to warm up`);
  console.log(`| CPU ms per replayed run | wall ms per replayed run |`);
  console.log(`|---:|---:|`);
  console.log(`| ${perRun((used.user + used.system) / 1000)} | ${perRun(wallMs)} |`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
