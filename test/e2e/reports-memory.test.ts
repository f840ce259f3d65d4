// The first report bucket build over a large status_events collection runs in bounded memory: a child process
// with its heap capped builds every hour of a month of events. The build used to load them all at once: with
// these sizes it died of a full heap (measured: 20,000 events, 32 MB: out of memory before, 24 MB used after).
// Sized so the test stays well under a minute on a loaded machine; HEAP_TEST_EVENTS and HEAP_TEST_MB scale it.
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import mongoose from 'mongoose';
import { StatusEvent } from '../../shared/models';
import { buildReportBuckets, ReportBucket, summaryReport } from '../../shared/reports';
import { testEnv, uniqueDbName } from '../support/servers';

const run = promisify(execFile);
const HOUR = 3_600_000;
const EVENTS = Number(process.env.HEAP_TEST_EVENTS ?? 20_000);
const HEAP_MB = Number(process.env.HEAP_TEST_MB ?? 32);
const START = Date.UTC(2026, 0, 1);
const SPAN = 30 * 24 * HOUR;

let dbName: string;
let accepted = 0;

beforeAll(async () => {
  dbName = uniqueDbName('reports-heap');
  await mongoose.connect(testEnv().mongoUri, { dbName, serverSelectionTimeoutMS: 5000 });
  await StatusEvent.createIndexes();
  await ReportBucket.createIndexes();
  const statuses = ['received', 'pending', 'accepted', 'rejected'] as const;
  for (let i = 0; i < EVENTS; i += 5000) {
    const docs = [];
    for (let j = i; j < Math.min(EVENTS, i + 5000); j++) {
      const status = statuses[j % statuses.length] as string;
      const t = new Date(START + Math.floor((j / EVENTS) * SPAN));
      if (status === 'accepted') accepted += 1;
      docs.push({
        _id: `heap-lead-${j}:${j % 4}`,
        leadId: `heap-lead-${j}`,
        sourceId: `src-${j % 7}`,
        partnerId: status === 'received' ? undefined : `partner-${j % 5}`,
        status,
        at: t,
        recordedAt: t,
        revenueDeltaCents: status === 'accepted' ? 1000 + (j % 300) : 0,
        currency: status === 'accepted' ? (j % 3 ? 'USD' : 'EUR') : undefined,
      });
    }
    await StatusEvent.collection.insertMany(docs as never[], { ordered: false });
  }
}, 300_000);

afterAll(async () => {
  await mongoose.connection.dropDatabase().catch(() => undefined);
  await mongoose.disconnect();
});

test(`the first bucket build over ${EVENTS} events fits in a ${HEAP_MB} MB heap`, async () => {
  const now = new Date(START + SPAN + 2 * HOUR).toISOString();
  const child = await run(
    process.execPath,
    [
      `--max-old-space-size=${HEAP_MB}`,
      '--import',
      'tsx',
      path.join(__dirname, '..', 'support', 'build-report-buckets.ts'),
      testEnv().mongoUri,
      dbName,
      now,
    ],
    { cwd: path.join(__dirname, '..', '..'), maxBuffer: 1 << 20 },
  ).catch((err: { code?: number; stderr?: string }) => ({
    stdout: '',
    stderr: `exit ${err.code}: ${String(err.stderr).slice(-2000)}`,
  }));
  expect(child.stderr).toBe('');
  const result = JSON.parse(child.stdout) as { hoursBuilt: number };
  expect(result.hoursBuilt).toBe(30 * 24 + 1);
  // Every event is in the buckets: the whole month, read from them alone, counts each accepted lead once.
  const report = await summaryReport(
    { from: new Date(START).toISOString(), to: new Date(START + SPAN).toISOString(), groupBy: 'source' },
    new Date(now),
  );
  expect(report.rows.reduce((n, r) => n + r.counts.accepted, 0)).toBe(accepted);
}, 120_000);

test('one builder at a time in a process: a build asked for while one runs waits for it, then has nothing to do', async () => {
  // Five more closed hours than the child built: both calls see them missing when they start.
  const later = new Date(START + SPAN + 7 * HOUR);
  const results = await Promise.all([buildReportBuckets(later), buildReportBuckets(later)]);
  expect(results.map((r) => r.hoursBuilt)).toEqual([5, 0]);
});
