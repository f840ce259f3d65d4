// `npm run bench:ingest`: postback ingest throughput and latency at one concurrency, measured in one run, for
// (a) the gateway (validate, log, dedupe claim, signal), (b) a raw SDK signal loop (the limit of this design),
// (c) a naive Koa route that only updates MongoDB (what a user would write instead), and (d) the gateway's
// MongoDB steps alone (to tell the cost of the writes from the cost of the signal). Prints the ratio of (a) to (b)
// and each gateway's CPU per postback (issue 17: >= 60% and <= 1.5 ms).
// Options: --leads N (measured postbacks per variant, default 1000) --warmup N (default 100) --concurrency N (default 32)
//          --cpu-prof (profile the gateway with node --cpu-prof and print where its CPU went)
//          --other-gateway DIR (also measure the gateway of another checkout, e.g. with a proposed change).
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import mongoose, { Types } from 'mongoose';
import { Pool } from 'undici';
import { Lead, PostbackClaim, PostbackLog } from '../shared/models';
import { leadWorkflowId, postbackSignal, type PostbackSignal } from '../shared/temporal';
import * as bench from './lib/ingest-stack';
import { findPids } from './lib/processes';

const MEASURED = bench.arg('leads', 1000);
const WARMUP = bench.arg('warmup', 100);
const CONCURRENCY = bench.arg('concurrency', 32);
const TASK_QUEUE = 'bench-ingest';
const PROFILE = process.argv.includes('--cpu-prof');
const OTHER_GATEWAY = (() => {
  const i = process.argv.indexOf('--other-gateway');
  return i >= 0 ? process.argv[i + 1] : undefined;
})();

interface Row {
  name: string;
  result: bench.LoadResult;
  cpu: Record<string, number>;
}

async function get(pool: Pool, path: string): Promise<{ status: number; text: string }> {
  const res = await pool.request({ path, method: 'GET' });
  return { status: res.statusCode, text: await res.body.text() };
}

async function main(): Promise<void> {
  const perVariant = MEASURED + WARMUP;
  // The gateway, the raw loop and the other checkout's gateway each signal leads of their own: a signal to a
  // lead already signalled finds its workflow task scheduled and costs the server less.
  const signalling = OTHER_GATEWAY ? 3 : 2;
  const total = perVariant * signalling;
  bench.say(
    `ingest benchmark: ${MEASURED} measured postbacks per variant after ${WARMUP} warm-up, concurrency ${CONCURRENCY}`,
  );
  const run = await bench.startBenchRun('ingest'); // its partner answers deliveries, never posts back
  const { servers, apps, partner, source } = run;
  try {
    const env = bench.appEnv(servers, TASK_QUEUE, bench.benchConfig(partner.url, source.url, '24h'));
    const worker = await bench.startApp('worker', 'apps/worker/main.ts', servers.dir, env);
    apps.push(worker);
    const intakeGateway = await bench.startApp('gateway-intake', 'apps/gateway/main.ts', servers.dir, env, {
      http: true,
    });
    apps.push(intakeGateway);
    await mongoose.connect(servers.mongoUri, { autoIndex: false });
    const intakePool = new Pool(intakeGateway.url!, { connections: CONCURRENCY });

    // Pending leads: created through the gateway, delivered by the worker to a partner that never posts back.
    const intake = await bench.runLoad(total, 16, async () => {
      const res = await intakePool.request({
        path: '/leads',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': bench.SOURCE_KEY },
        body: JSON.stringify({ vertical: 'auto', geo: { country: 'US' } }),
      });
      await res.body.text();
      if (res.statusCode !== 202) throw new Error(`POST /leads answered ${res.statusCode}`);
    });
    bench.say(
      `created ${intake.latencies.length} leads in ${bench.fmt(intake.wallMs / 1000)} s (${bench.fmt(bench.throughput(intake))}/s, ${intake.errors} errors)`,
    );
    // Waits for all, or until 20 s pass without progress (a straggler must not sink the run: it is reported).
    const deadline = Date.now() + 120_000 + total * 300;
    for (let last = -1, since = Date.now(); ;) {
      const pending = await Lead.countDocuments({ status: 'pending' });
      if (pending >= total - intake.errors) break;
      if (pending !== last) [last, since] = [pending, Date.now()];
      if (Date.now() - since > 20_000 && pending > WARMUP) break;
      if (Date.now() > deadline) throw new Error(`only ${pending} of ${total} leads became pending`);
      await new Promise((r) => setTimeout(r, 500));
    }
    const leads = (await Lead.find({ status: 'pending' }, { _id: 1 }).lean()).map((l) => l._id);
    bench.say(`${leads.length} leads pending; stopping the worker so the runs measure ingest alone`);
    await worker.stop();
    apps.splice(apps.indexOf(worker), 1);
    // A fresh gateway for the postbacks, so its profile (--cpu-prof) holds ingest alone, not the lead intake.
    await intakePool.close();
    await intakeGateway.stop();
    apps.splice(apps.indexOf(intakeGateway), 1);
    const profileDir = path.join(servers.dir, 'profile');
    const gateway = await bench.startApp('gateway', 'apps/gateway/main.ts', servers.dir, env, {
      http: true,
      nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
    });
    apps.push(gateway);
    const gatewayPool = new Pool(gateway.url!, { connections: CONCURRENCY });

    const temporalPids = findPids(servers.temporal.dbFile);
    const mongoPids = findPids(`${servers.dir}/mongo`);
    const groups = (extra: Record<string, number[]>) => ({
      ...extra,
      temporal: temporalPids,
      mongo: mongoPids,
      bench: [process.pid],
    });
    const rows: Row[] = [];
    const leadSets = Array.from({ length: signalling }, (_, k) =>
      leads.slice(k * perVariant, (k + 1) * perVariant),
    );
    const [gatewayLeads = [], rawLeads = [], otherLeads = []] = leadSets;
    const measure = async (
      name: string,
      pids: Record<string, number[]>,
      op: (leadId: string) => Promise<void>,
      set: string[] = gatewayLeads,
    ) => {
      await bench.runLoad(WARMUP, CONCURRENCY, (i) => op(set[i]!));
      const meter = bench.cpuMeter(groups(pids));
      const result = await bench.runLoad(Math.min(MEASURED, set.length - WARMUP), CONCURRENCY, (i) =>
        op(set[WARMUP + i]!),
      );
      rows.push({ name, result, cpu: meter.stop() });
      bench.say(
        `  ${name}: ${bench.fmt(bench.throughput(result))}/s, p50 ${bench.fmt(bench.percentile(result.latencies, 50))} ms, p99 ${bench.fmt(bench.percentile(result.latencies, 99))} ms, ${result.errors} errors${result.firstError ? ` (${result.firstError})` : ''}`,
      );
    };

    // (a) The gateway: every postback is one HTTP request through validation, log, dedupe claim and signal.
    await measure('gateway', { gateway: [gateway.process.pid] }, async (leadId) => {
      const r = await get(
        gatewayPool,
        `/postback?subid=${leadId}&status=approved&payout=12.50&txid=tx-${leadId}&token=${bench.PARTNER_TOKEN}`,
      );
      if (r.status !== 200 || !r.text.includes('"duplicate":false'))
        throw new Error(`postback answered ${r.status} ${r.text.slice(0, 200)}`);
    });
    const handled = await PostbackLog.find({ outcome: 'applied' }, { latencyMs: 1 }).lean();
    const serverSide = handled.map((l) => l.latencyMs ?? 0).sort((a, b) => a - b);

    // (a') The same gateway from another checkout (a proposed change), on the same servers, leads of its own.
    if (OTHER_GATEWAY) {
      const other = await bench.startApp('gateway-other', 'apps/gateway/main.ts', servers.dir, env, {
        http: true,
        root: path.resolve(OTHER_GATEWAY),
      });
      apps.push(other);
      const otherPool = new Pool(other.url!, { connections: CONCURRENCY });
      await measure(
        `gateway from ${OTHER_GATEWAY}`,
        { gateway: [other.process.pid] },
        async (leadId) => {
          const r = await get(
            otherPool,
            `/postback?subid=${leadId}&status=approved&payout=12.50&txid=tx-${leadId}&token=${bench.PARTNER_TOKEN}`,
          );
          if (r.status !== 200 || !r.text.includes('"duplicate":false'))
            throw new Error(`postback answered ${r.status} ${r.text.slice(0, 200)}`);
        },
        otherLeads,
      );
      await otherPool.close();
      await other.stop();
      apps.splice(apps.indexOf(other), 1);
    }

    // (b) The raw SDK loop: the same signal, sent straight from a client at the same concurrency.
    const client = new Client({
      connection: await Connection.connect({ address: servers.temporal.address }),
      namespace: servers.temporal.namespace,
    });
    await measure(
      'raw signal',
      {},
      async (leadId) => {
        const signal: PostbackSignal = {
          postbackId: randomUUID(),
          partnerId: 'acme',
          status: 'accepted',
          rawStatus: 'approved',
          payoutCents: 1250,
          currency: 'USD',
          receivedAt: new Date().toISOString(),
        };
        await client.workflow.getHandle(leadWorkflowId(leadId)).signal(postbackSignal, signal);
      },
      rawLeads,
    );

    // (d) The gateway's MongoDB steps alone, in its order, from this process: read lead, claim check, (signal,)
    // claim, log.
    const stepMs = new Map<string, number>();
    const step = async <T>(name: string, work: () => Promise<T>): Promise<T> => {
      const t = performance.now();
      try {
        return await work();
      } finally {
        stepMs.set(name, (stepMs.get(name) ?? 0) + performance.now() - t);
      }
    };
    await measure('gateway Mongo steps only', {}, async (leadId) => {
      const logId = new Types.ObjectId();
      const claimId = `${leadId}:acme:bench-${randomUUID()}`;
      await step('Lead.findById', () =>
        Lead.findById(leadId, { sourceId: 1, partnerId: 1, offeredTo: 1, status: 1, seq: 1 }).lean(),
      );
      await step('PostbackClaim.exists', () => PostbackClaim.exists({ _id: claimId }));
      await step('PostbackClaim.create (claim, after the signal)', () =>
        PostbackClaim.create({
          _id: claimId,
          leadId,
          postbackId: logId.toHexString(),
          signal: { status: 'accepted' },
          claimedAt: new Date(),
          sentAt: new Date(),
        }),
      );
      await step('PostbackLog.create (with outcome)', () =>
        PostbackLog.create({
          _id: logId,
          receivedAt: new Date(),
          method: 'GET',
          path: '/postback',
          query: { subid: leadId },
          headers: {},
          ip: '127.0.0.1',
          requestId: randomUUID(),
          outcome: 'applied',
          httpStatus: 200,
          latencyMs: 1,
        }),
      );
    });
    const stepTotal = [...stepMs.values()].reduce((a, b) => a + b, 0);

    // (c) The naive handler: one Koa route, one updateOne.
    const naive = await bench.startApp('naive', 'bench/lib/ingest-naive.ts', servers.dir, env, {
      http: true,
    });
    apps.push(naive);
    const naivePool = new Pool(naive.url!, { connections: CONCURRENCY });
    await measure('naive Koa + Mongo', { naive: [naive.process.pid] }, async (leadId) => {
      const r = await get(naivePool, `/postback?subid=${leadId}&status=approved&payout=12.50`);
      if (r.status !== 200) throw new Error(`naive handler answered ${r.status}`);
    });
    await Promise.all([gatewayPool.close(), naivePool.close(), client.connection.close()]);

    const by = Object.fromEntries(rows.map((r) => [r.name, bench.throughput(r.result)]));
    bench.say('');
    bench.say(
      `| variant (concurrency ${CONCURRENCY}) | postbacks/s | p50 ms | p99 ms | errors | CPU s during the run |`,
    );
    bench.say('|---|---:|---:|---:|---:|---|');
    for (const r of rows) {
      const cpu = Object.entries(r.cpu)
        .filter(([, s]) => s > 0.05)
        .map(([k, s]) => `${k} ${bench.fmt(s)}`)
        .join(', ');
      bench.say(
        `| ${r.name} | ${bench.fmt(bench.throughput(r.result))} | ${bench.fmt(bench.percentile(r.result.latencies, 50))} | ${bench.fmt(bench.percentile(r.result.latencies, 99))} | ${r.result.errors} | ${cpu} (wall ${bench.fmt(r.result.wallMs / 1000)}) |`,
      );
    }
    bench.say('');
    bench.say(
      `gateway handling time as it logged it (PostbackLog.latencyMs): p50 ${bench.fmt(bench.percentile(serverSide, 50))} ms, p99 ${bench.fmt(bench.percentile(serverSide, 99))} ms`,
    );
    bench.say(
      `ratio gateway / raw signal: ${bench.fmt((by['gateway']! / by['raw signal']!) * 100)}% (target >= 60%, issue 17; issue 7 asked 70%)`,
    );
    for (const r of rows.filter((row) => row.cpu.gateway !== undefined)) {
      const perPostback = (r.cpu.gateway! * 1000) / r.result.count;
      bench.say(`${r.name}: ${bench.fmt(perPostback)} ms of gateway CPU per postback (target <= 1.5)`);
    }
    bench.say(
      `ratio gateway / naive Koa + Mongo: ${bench.fmt((by['gateway']! / by['naive Koa + Mongo']!) * 100)}%`,
    );
    bench.say(
      `ratio gateway Mongo steps only / raw signal: ${bench.fmt((by['gateway Mongo steps only']! / by['raw signal']!) * 100)}%`,
    );
    bench.say('');
    bench.say('time per step in "gateway Mongo steps only" (warm-up included), share of the total:');
    for (const [name, ms] of [...stepMs].sort((a, b) => b[1] - a[1]))
      bench.say(`  ${bench.fmt((ms / stepTotal) * 100)}% ${name}`);
    if (PROFILE) {
      await gateway.stop(); // the profile is written when the process exits
      bench.say('');
      bench.say(`gateway CPU profile (self time while handling the postbacks; files in ${profileDir}):`);
      for (const line of bench.summarizeCpuProfiles(profileDir, gateway.startupMs + 500))
        bench.say(`  ${line}`);
    }
  } finally {
    await run.stop();
  }
}

bench.runBench(main);
