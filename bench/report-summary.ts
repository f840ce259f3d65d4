// `npm run bench:reports`: GET /reports/summary over 100k leads. Seeds their status events (30 days, several
// sources and partners) into a fresh database on a Mongo-wire server it starts (FerretDB unless MONGODB_URI or
// a mongod is available), builds the hourly buckets once, then times summaryReport calls with varied windows
// and both groupings, and prints p50/p95. A few reports are also computed by live aggregation alone, to check
// that the buckets give the same answer and to show what they save.
// Options: --leads N (default 100000) --queries N (default 50) --verify N (live comparisons, default 2).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import { buildReportBuckets, closedUntil, summaryReport, type GroupBy } from '../apps/gateway/reports';
import { resolveMongo } from '../scripts/lib/provision';
import { connectMongo, disconnectMongo } from '../shared/db';
import { ReportBucket, StatusEvent } from '../shared/models';
import { percentile } from './lib/stats';

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? Number(process.argv[i + 1]) : fallback;
}

const LEADS = arg('leads', 100_000);
const QUERIES = arg('queries', 50);
const VERIFY = arg('verify', 2);
const DAYS = 30;
const HOUR_MS = 3_600_000;
const DAY_MS = 86_400_000;
const SOURCES = ['src-1', 'src-2', 'src-3', 'src-4', 'src-5'];
const PARTNERS = ['acme', 'bolt', 'cobalt', 'delta', 'ember', 'fallback'];

/** Deterministic, so two runs measure the same data. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const say = (line: string) => process.stdout.write(`${line}\n`);
const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;

interface SeedEvent {
  _id: string;
  leadId: string;
  sourceId: string;
  partnerId?: string;
  status: string;
  at: Date;
  reason: string;
  revenueDeltaCents: number;
  currency?: string;
}

/** One lead's life as the workflow records it: received, pending at a partner, then its verdict (and maybe a return). */
function leadEvents(i: number, start: number, end: number, random: () => number): SeedEvent[] {
  const leadId = `bench${i.toString(36).padStart(6, '0')}`;
  const sourceId = SOURCES[Math.floor(random() * SOURCES.length)] as string;
  const partnerId = PARTNERS[Math.floor(random() * PARTNERS.length)] as string;
  const t0 = start + Math.floor(random() * (end - start - 2 * HOUR_MS));
  const ev = (seq: number, status: string, at: number, extra: Partial<SeedEvent> = {}): SeedEvent => ({
    _id: `${leadId}:${seq}`,
    leadId,
    sourceId,
    status,
    at: new Date(at),
    reason: 'seeded by bench:reports',
    revenueDeltaCents: 0,
    ...extra,
  });
  const events = [ev(0, 'received', t0)];
  const roll = random();
  if (roll < 0.08) return [...events, ev(1, 'failed', t0 + 2000)];
  events.push(ev(1, 'pending', t0 + 500, { partnerId }));
  const decided = t0 + 60_000 + Math.floor(random() * HOUR_MS);
  if (roll < 0.5) {
    const cents = 500 + Math.floor(random() * 4500);
    events.push(ev(2, 'accepted', decided, { partnerId, revenueDeltaCents: cents, currency: 'USD' }));
    if (random() < 0.04)
      events.push(
        ev(3, 'returned', decided + 30 * 60_000, { partnerId, revenueDeltaCents: -cents, currency: 'USD' }),
      );
  } else if (roll < 0.8) {
    events.push(ev(2, 'rejected', decided, { partnerId }));
  } else {
    events.push(ev(2, 'expired', decided, { partnerId }));
  }
  return events;
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-reports-'));
  const mongo = await resolveMongo({ dataDir });
  const dbName = `bench_reports_${Date.now().toString(36)}`;
  say(
    `report benchmark: ${LEADS} leads over ${DAYS} days, ${SOURCES.length} sources, ${PARTNERS.length} partners, on ${mongo.kind} (database ${dbName})`,
  );
  await connectMongo(`${mongo.uri.replace(/\/$/, '')}/${dbName}`);
  try {
    const now = new Date();
    const end = closedUntil(now) - HOUR_MS; // every seeded event is in a closed hour
    const start = end - DAYS * DAY_MS;
    const random = prng(20261126);

    let seeded = 0;
    let t = performance.now();
    for (let i = 0; i < LEADS; i += 2000) {
      const batch: SeedEvent[] = [];
      for (let j = i; j < Math.min(i + 2000, LEADS); j++) batch.push(...leadEvents(j, start, end, random));
      await StatusEvent.collection.insertMany(
        batch as unknown as Parameters<typeof StatusEvent.collection.insertMany>[0],
        { ordered: false },
      );
      seeded += batch.length;
    }
    say(`seeded ${seeded} status events in ${ms(performance.now() - t)}`);

    t = performance.now();
    const built = await buildReportBuckets(now);
    say(`built ${built.hoursBuilt} hourly buckets (one read of every event) in ${ms(performance.now() - t)}`);

    // Windows of 1 hour to 30 days, at minute-odd edges so most start and end inside an hour.
    const qrandom = prng(42);
    const windows = Array.from({ length: QUERIES }, (_, i) => {
      const length = Math.max(HOUR_MS, Math.floor(qrandom() * DAYS * DAY_MS));
      const from = start + Math.floor(qrandom() * (end - start - length)) + 17_123;
      return {
        from: new Date(from).toISOString(),
        to: new Date(from + length).toISOString(),
        groupBy: (i % 2 ? 'partner' : 'source') as GroupBy,
      };
    });
    windows[0] = { from: new Date(start).toISOString(), to: new Date(end).toISOString(), groupBy: 'source' };
    await summaryReport(windows[1] ?? windows[0], now); // connection warm-up, not counted
    const samples: number[] = [];
    for (const w of windows) {
      const q0 = performance.now();
      await summaryReport(w, now);
      samples.push(performance.now() - q0);
    }
    const p50 = percentile(samples, 50);
    const p95 = percentile(samples, 95);
    say(
      `summaryReport, ${samples.length} windows (1 h to 30 d, both groupBy): p50 ${ms(p50)}, p95 ${ms(p95)}, max ${ms(Math.max(...samples))}`,
    );

    // The floor under a report, which reads two buckets: one bucket lookup by _id.
    const lookups: number[] = [];
    for (let i = 0; i < 30; i++) {
      const hour = new Date(start + ((i * 97) % (DAYS * 24)) * HOUR_MS).toISOString().slice(0, 13);
      const l0 = performance.now();
      await ReportBucket.findById(`h:${i % 2 ? 'partner' : 'source'}:${hour}`, { rows: 1 }).lean();
      lookups.push(performance.now() - l0);
    }
    say(`one bucket lookup by _id: p50 ${ms(percentile(lookups, 50))}, p95 ${ms(percentile(lookups, 95))}`);

    for (const w of windows.slice(0, VERIFY)) {
      const l0 = performance.now();
      const live = await summaryReport(w, now, { useBuckets: false });
      const liveMs = performance.now() - l0;
      const bucketed = await summaryReport(w, now);
      const same = JSON.stringify(live) === JSON.stringify(bucketed);
      say(
        `check ${w.from} .. ${w.to} by ${w.groupBy}: live aggregation ${ms(liveMs)}, buckets give ${same ? 'the same report' : 'A DIFFERENT REPORT'}`,
      );
      if (!same) process.exitCode = 1;
    }
    const load = os.loadavg().map((l) => l.toFixed(1));
    say(
      `target p95 < 200 ms: ${p95 < 200 ? 'met' : 'NOT met'} (load average ${load.join(' ')} on ${os.cpus().length} cores)`,
    );
  } finally {
    await mongoose.connection.dropDatabase().catch(() => undefined);
    await disconnectMongo();
    await mongo.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});
