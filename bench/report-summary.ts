// `npm run bench:reports`: GET /reports/summary over 100k leads. Seeds their status events and the delivery and bid log lines of their offers and auctions (30 days up to now,
// several sources and partners) into a fresh database on a Mongo-wire server it starts (FerretDB unless MONGODB_URI
// or a mongod is available), runs the reports' housekeeping once (hourly buckets, the recent events copied), then
// times summaryReport calls and prints p50/p95: windows of closed hours only, windows reaching into the open hour,
// and the default window (the last 24 h), both groupings. A few reports are also computed by one aggregation of
// status_events, to check that buckets and recent events give the same answer and to show what they save.
// Options: --leads N (default 100000) --queries N (default 50) --verify N (such comparisons, default 2).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import mongoose from 'mongoose';
import {
  buildReportBuckets,
  closedUntil,
  keepRecentStatusEvents,
  performanceReport,
  summaryReport,
  type GroupBy,
  RecentStatusEvent,
  ReportBucket,
} from '../shared/reports';
import { resolveMongo } from '../scripts/provision/servers';
import { connectMongo, disconnectMongo } from '../shared/db';
import { Bid } from '../shared/bids';
import { Delivery, StatusEvent } from '../shared/models';
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
  recordedAt: Date;
}

/**
 * One lead's life as the workflow records it: received, pending at a partner, then its verdict (and maybe a
 * return), each recorded when it happened; what would happen after `end` (now) has not happened yet.
 */
function leadEvents(i: number, start: number, end: number, random: () => number): SeedLead {
  const leadId = `bench${i.toString(36).padStart(6, '0')}`;
  const sourceId = SOURCES[Math.floor(random() * SOURCES.length)] as string;
  const partnerId = PARTNERS[Math.floor(random() * PARTNERS.length)] as string;
  const t0 = start + Math.floor(random() * (end - start));
  const ev = (seq: number, status: string, at: number, extra: Partial<SeedEvent> = {}): SeedEvent => ({
    _id: `${leadId}:${seq}`,
    leadId,
    sourceId,
    status,
    at: new Date(at),
    recordedAt: new Date(at),
    reason: 'seeded by bench:reports',
    revenueDeltaCents: 0,
    ...extra,
  });
  const events = [ev(0, 'received', t0)];
  const logs: SeedLead['logs'] = { deliveries: [], bids: [] };
  // A third of the leads are auctioned among three partners first (the report's marks: pings, bids, wins).
  const auctioned = random() < 0.33;
  if (auctioned)
    for (const p of [partnerId, ...PARTNERS.filter((x) => x !== partnerId).slice(0, 2)])
      logs.bids.push({
        _id: `${leadId}:${p}`,
        leadId,
        partnerId: p,
        sourceId,
        at: new Date(t0 + 100),
        outcome: 'bid',
        bidCents: 100 + Math.floor(random() * 900),
        currency: 'USD',
      });
  const roll = random();
  if (roll < 0.08) {
    events.push(ev(1, 'failed', t0 + 2000));
  } else {
    // The delivery log line of the offer (a report mark: leads offered).
    logs.deliveries.push({
      _id: `${leadId}:${partnerId}:1`,
      leadId,
      partnerId,
      sourceId,
      attempt: 1,
      at: new Date(t0 + 400),
      outcome: 'pending',
      ...(auctioned ? { pingId: `ping-${leadId}` } : {}),
    });
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
  }
  const before = <T extends { at: Date }>(docs: T[]) => docs.filter((e) => e.at.getTime() < end);
  return {
    events: before(events),
    logs: { deliveries: before(logs.deliveries), bids: before(logs.bids) },
  };
}

interface SeedLead {
  events: SeedEvent[];
  logs: {
    deliveries: (Record<string, unknown> & { at: Date })[];
    bids: (Record<string, unknown> & { at: Date })[];
  };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-reports-'));
  const mongo = await resolveMongo({ dataDir });
  const dbName = `bench_reports_${Date.now().toString(36)}`;
  say(
    `report benchmark: ${LEADS} leads over ${DAYS} days, ${SOURCES.length} sources, ${PARTNERS.length} partners, on ${mongo.kind} (database ${dbName})`,
  );
  // The reference path (--verify) aggregates every event and log line in one command, over a minute at 100k
  // leads on FerretDB: longer than the product's per-operation socket timeout (shared/db.ts), so it is raised here.
  await connectMongo(`${mongo.uri.replace(/\/$/, '')}/${dbName}?socketTimeoutMS=900000`);
  try {
    const now = new Date();
    const end = now.getTime(); // events up to now: the open hour has its share
    const closed = closedUntil(now);
    const start = end - DAYS * DAY_MS;
    const random = prng(20261126);

    let seeded = 0;
    let marked = 0;
    let t = performance.now();
    for (let i = 0; i < LEADS; i += 2000) {
      const batch: SeedEvent[] = [];
      const deliveries: SeedLead['logs']['deliveries'] = [];
      const bids: SeedLead['logs']['bids'] = [];
      for (let j = i; j < Math.min(i + 2000, LEADS); j++) {
        const lead = leadEvents(j, start, end, random);
        batch.push(...lead.events);
        deliveries.push(...lead.logs.deliveries);
        bids.push(...lead.logs.bids);
      }
      await StatusEvent.collection.insertMany(
        batch as unknown as Parameters<typeof StatusEvent.collection.insertMany>[0],
        { ordered: false },
      );
      if (deliveries.length) await Delivery.collection.insertMany(deliveries, { ordered: false });
      if (bids.length) await Bid.collection.insertMany(bids, { ordered: false });
      seeded += batch.length;
      marked += deliveries.length + bids.length;
    }
    say(
      `seeded ${seeded} status events and ${marked} delivery and bid log lines (report marks) in ${ms(performance.now() - t)}`,
    );

    // What the gateway's housekeeping does (keepReportHouse), in two steps to time each.
    t = performance.now();
    const built = await buildReportBuckets(now);
    say(`built ${built.hoursBuilt} hourly buckets (one read of every event) in ${ms(performance.now() - t)}`);
    t = performance.now();
    const kept = await keepRecentStatusEvents(built.builtUntil);
    const recentDocs = await RecentStatusEvent.countDocuments();
    say(
      `recent_status_events seeded with the ${kept.copied} events since ${new Date(kept.coversFrom).toISOString()} (one read of every event) in ${ms(performance.now() - t)}; it holds ${recentDocs} documents`,
    );

    // Three kinds of windows, both groupings, at minute-odd edges so most start and end inside an hour:
    // closed hours only (1 h to 30 d), reaching into the open hour (to = now, 1 h to 30 d long), and the default.
    type Kind = 'closed' | 'open' | 'default';
    const kinds: Kind[] = ['closed', 'open', 'default'];
    const qrandom = prng(42);
    const windows = Array.from({ length: QUERIES }, (_, i) => {
      const kind = kinds[i % 3] as Kind;
      const groupBy = (Math.floor(i / 3) % 2 ? 'partner' : 'source') as GroupBy;
      const length = Math.max(HOUR_MS, Math.floor(qrandom() * DAYS * DAY_MS));
      if (kind === 'default') return { kind, query: { groupBy } };
      if (kind === 'open')
        return {
          kind,
          query: { from: new Date(end - length + 17_123).toISOString(), groupBy, to: now.toISOString() },
        };
      const from = start + Math.floor(qrandom() * (closed - start - length)) + 17_123;
      return {
        kind,
        query: { from: new Date(from).toISOString(), to: new Date(from + length).toISOString(), groupBy },
      };
    });
    windows[0] = {
      kind: 'open',
      query: { from: new Date(start).toISOString(), to: now.toISOString(), groupBy: 'source' },
    };
    await summaryReport((windows[1] ?? windows[0]).query, now); // connection warm-up, not counted
    const samples: number[] = [];
    const byKind: Record<Kind, number[]> = { closed: [], open: [], default: [] };
    for (const w of windows) {
      const q0 = performance.now();
      await summaryReport(w.query, now);
      const took = performance.now() - q0;
      samples.push(took);
      byKind[w.kind].push(took);
    }
    const p50 = percentile(samples, 50);
    const p95 = percentile(samples, 95);
    say(
      `summaryReport, ${samples.length} windows (both groupBy): p50 ${ms(p50)}, p95 ${ms(p95)}, max ${ms(Math.max(...samples))}`,
    );
    for (const kind of kinds)
      if (byKind[kind].length)
        say(
          `  ${kind.padEnd(7)} (${byKind[kind].length}): p50 ${ms(percentile(byKind[kind], 50))}, p95 ${ms(percentile(byKind[kind], 95))}`,
        );

    // Partner and source performance (GET /reports/partners, /reports/sources): the same read model.
    const perf: number[] = [];
    for (const w of windows) {
      const q0 = performance.now();
      const { groupBy, ...window } = w.query;
      await performanceReport(groupBy, window, now);
      perf.push(performance.now() - q0);
    }
    say(
      `performanceReport, ${perf.length} windows (partners and sources): p50 ${ms(percentile(perf, 50))}, p95 ${ms(percentile(perf, 95))}`,
    );

    // The floor under a report, which reads two buckets: one bucket lookup by _id.
    const lookups: number[] = [];
    for (let i = 0; i < 30; i++) {
      const hour = new Date(start + ((i * 97) % (DAYS * 24)) * HOUR_MS).toISOString().slice(0, 13);
      const l0 = performance.now();
      await ReportBucket.findById(`h2:${i % 2 ? 'partner' : 'source'}:${hour}`, { rows: 1 }).lean();
      lookups.push(performance.now() - l0);
    }
    say(`one bucket lookup by _id: p50 ${ms(percentile(lookups, 50))}, p95 ${ms(percentile(lookups, 95))}`);
    // The floor under the open part: one read of all of recent_status_events.
    const recentReads: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r0 = performance.now();
      await RecentStatusEvent.find({}).lean();
      recentReads.push(performance.now() - r0);
    }
    say(
      `one read of recent_status_events (${recentDocs} documents): p50 ${ms(percentile(recentReads, 50))}, p95 ${ms(percentile(recentReads, 95))}`,
    );

    for (const { query } of windows.slice(0, VERIFY)) {
      const l0 = performance.now();
      const reference = await summaryReport(query, now, { useBuckets: false });
      const referenceMs = performance.now() - l0;
      const fast = await summaryReport(query, now);
      const same = JSON.stringify(reference) === JSON.stringify(fast);
      say(
        `check ${reference.from} .. ${reference.to} by ${query.groupBy}: one aggregation of status_events ${ms(referenceMs)}, buckets and recent events give ${same ? 'the same report' : 'A DIFFERENT REPORT'}`,
      );
      if (!same) {
        say(`  status_events: ${JSON.stringify(reference.rows)}`);
        say(`  fast:          ${JSON.stringify(fast.rows)}`);
        process.exitCode = 1;
      }
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
