// Child process for the heap-capped bucket build test: connects to the database it is given, builds the report
// buckets once at the given clock, prints the result as JSON. Run with a capped --max-old-space-size.
import mongoose from 'mongoose';
import { buildReportBuckets } from '../../shared/reports';

async function main(): Promise<void> {
  const [uri, dbName, now] = process.argv.slice(2);
  if (!uri || !dbName || !now) throw new Error('usage: build-report-buckets <uri> <dbName> <now>');
  await mongoose.connect(uri, { dbName, serverSelectionTimeoutMS: 5000, bufferCommands: false });
  const started = Date.now();
  const result = await buildReportBuckets(new Date(now));
  const heapUsedMB = Math.round(process.memoryUsage().heapUsed / 1e6);
  process.stdout.write(`${JSON.stringify({ ...result, ms: Date.now() - started, heapUsedMB })}\n`);
  await mongoose.disconnect();
}

main().catch((err: unknown) => {
  process.stderr.write(`${String((err as Error).stack ?? err)}\n`);
  process.exit(1);
});
