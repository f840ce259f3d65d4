// `npm run bench:worker-start`: how long a worker process takes from spawn to polling ("worker running"), and the
// CPU it spends to get there, when it must bundle its workflows (the first start after a change of the code:
// the kept bundle removed) and when it loads the bundle kept for this code (every later start, a second
// replica, a restart; apps/worker/bundle.ts). The two kinds alternate on the same servers, so one run compares
// them. Options: --runs N (starts of each kind, default 5); --compiled (run dist/apps/worker/main.js with node, as
// the image does: `npm run build` first).
import fs from 'node:fs';
import path from 'node:path';
import { defaultBundleLocation } from '../apps/worker/bundle';
import { repoRoot, spawnLogged } from '../scripts/processes';
import * as bench from './lib/ingest-stack';
import { cpuSeconds, logContains } from './lib/processes';

const RUNS = bench.arg('runs', 5);
const READY = 'worker running';
const COMPILED = process.argv.includes('--compiled');
const DIST_ENTRY = path.join(repoRoot, 'dist', 'apps', 'worker', 'main.js');

/** One start: ms from spawn to the worker's "worker running" line, and its CPU seconds by then. */
async function startOnce(
  servers: bench.BenchServers,
  env: Record<string, string>,
  i: number,
): Promise<{ ms: number; cpuS: number; from: string }> {
  const spawned = performance.now();
  const log = path.join(servers.dir, `worker-${i}.log`);
  const proc = COMPILED
    ? spawnLogged(process.execPath, [DIST_ENTRY], {
        name: `worker-${i}`,
        cwd: repoRoot,
        env: { ...process.env, ...env },
        logFile: log,
      })
    : (await bench.startApp(`worker-${i}`, 'apps/worker/main.ts', servers.dir, env)).process;
  try {
    for (;;) {
      if (logContains(log, READY)) break;
      if (!proc.running()) throw new Error(`worker ${i} exited; see ${log}`);
      if (performance.now() - spawned > 120_000) throw new Error(`worker ${i} not running after 120 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - spawned;
    const cpuS = cpuSeconds(proc.pid) ?? Number.NaN;
    const from = /"from":"(\w+)"/.exec(fs.readFileSync(log, 'utf8'))?.[1] ?? '?';
    return { ms, cpuS, from };
  } finally {
    await proc.stop({ graceMs: 10_000 });
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

async function main(): Promise<void> {
  bench.say(
    `worker start${COMPILED ? ' (compiled, node dist/apps/worker/main.js)' : ' (tsx)'}: ${RUNS} starts that bundle and ${RUNS} that load the kept bundle, alternating`,
  );
  if (COMPILED && !fs.existsSync(DIST_ENTRY))
    throw new Error('no dist/apps/worker/main.js: npm run build first');
  const servers = await bench.startBenchServers('worker-start');
  const cacheDir = COMPILED
    ? path.join(repoRoot, 'dist', '.cache', 'workflow-bundle')
    : defaultBundleLocation().cacheDir;
  try {
    const env = bench.appEnv(
      servers,
      'bench-worker-start',
      bench.benchConfig('http://127.0.0.1:9', 'http://127.0.0.1:9', '1h'),
    );
    const rows: Record<'bundling' | 'kept bundle', { ms: number[]; cpuS: number[] }> = {
      bundling: { ms: [], cpuS: [] },
      'kept bundle': { ms: [], cpuS: [] },
    };
    for (let i = 0; i < RUNS * 2; i++) {
      const kind = i % 2 === 0 ? 'bundling' : 'kept bundle';
      // A start that bundles: as after a change of the code, nothing kept for it.
      if (kind === 'bundling') fs.rmSync(cacheDir, { recursive: true, force: true });
      const r = await startOnce(servers, env, i);
      const expected = kind === 'bundling' ? 'built' : 'cache';
      if (r.from !== expected)
        throw new Error(`start ${i} loaded its bundle from ${r.from}, not ${expected}`);
      rows[kind].ms.push(r.ms);
      rows[kind].cpuS.push(r.cpuS);
      bench.say(
        `  ${kind.padEnd(11)} ${bench.fmt(r.ms, 0).padStart(6)} ms to running, ${bench.fmt(r.cpuS, 2)} s CPU`,
      );
    }
    const cold = rows.bundling;
    const warm = rows['kept bundle'];
    bench.say('');
    bench.say('| start       | to running, median ms | CPU s, median |');
    bench.say('| ----------- | --------------------: | ------------: |');
    for (const [kind, r] of Object.entries(rows))
      bench.say(
        `| ${kind.padEnd(11)} | ${bench.fmt(median(r.ms), 0).padStart(21)} | ${bench.fmt(median(r.cpuS), 2).padStart(13)} |`,
      );
    bench.say('');
    bench.say(
      `kept bundle / bundling: ${bench.fmt((100 * median(warm.ms)) / median(cold.ms), 0)}% of the time to running, ${bench.fmt((100 * median(warm.cpuS)) / median(cold.cpuS), 0)}% of the CPU`,
    );
  } finally {
    await servers.stop();
  }
}

bench.runBench(main);
