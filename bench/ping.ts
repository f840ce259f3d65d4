// `npm run bench:ping`: inbound ping-post. A source sends `POST /ping` at a fixed rate (open loop: a slow answer
// does not slow the next ping); each runs a real auction in its lead's workflow among 5 buyers that each answer
// their ping in `--buyer-latency` ms. Prints p50/p99 of the /ping answer next to the floor under it (per
// auction the slowest buyer's latency as the ping activity measured it, from the `bids` collection: no answer
// can come before the last bid in time) and the ratio of p99 to the auction's deadline. Target (issue 15):
// p99 under 1.5 x the deadline at 20 auctions/s over every ping sent, a ping turned away (503 overloaded, when a
// gateway is behind on its auctions) or failed counting as late. The pinged leads are not posted (their bids
// outlive the run).
// Options: --rate N (auctions/s, default 20) --seconds N (default 30) --buyer-latency MS (default 50)
//          --deadline MS (routing.auction.timeoutMs, default 1000: the config's default)
//          --cpu-prof (profile the worker and the gateway with node --cpu-prof and print where their CPU went)
import path from 'node:path';
import mongoose from 'mongoose';
import { Pool } from 'undici';
import { startPartnerSimulator, type PartnerSimulator } from '../scripts/simulators';
import { Bid } from '../shared/bids';
import {
  appEnv,
  arg,
  cpuMeter,
  fmt,
  PARTNER_TOKEN,
  say,
  SOURCE_KEY,
  startApp,
  startBenchServers,
  summarizeCpuProfiles,
  type App,
} from './lib/ingest-stack';
import { findPids, machineCpuMeter } from './lib/processes';
import { pacer } from './lib/server-limit';
import { formatTable, percentile } from './lib/stats';

const RATE = arg('rate', 20);
const SECONDS = arg('seconds', 30);
const BUYER_LATENCY = arg('buyer-latency', 50);
const DEADLINE = arg('deadline', 1000);
const BUYERS = 5;
const TARGET = 1.5;
const PROFILE = process.argv.includes('--cpu-prof');

/** Five buyers, each pinged with two fields; buyer i bids (5 + i).00, so every auction is won at 10.00. */
function pingConfig(buyers: PartnerSimulator[]): unknown {
  return {
    routing: { auction: { timeoutMs: DEADLINE, floor: '1.00' } },
    partners: buyers.map((b, i) => ({
      id: `buyer-${i + 1}`,
      ping: {
        url: `${b.url}/ping`,
        fields: ['vertical', 'geo.state'],
        timeoutMs: DEADLINE,
        response: { bidPath: 'bid', pingIdPath: 'pingId', currencyPath: 'currency', reasonPath: 'reason' },
      },
      delivery: { url: `${b.url}/leads`, pingIdField: 'ping_id' },
      postback: { token: PARTNER_TOKEN, timeout: '1h' },
    })),
    sources: [{ id: 'src-1', apiKey: SOURCE_KEY }],
  };
}

interface Answer {
  leadId?: string;
  bid?: string | null;
  reason?: string;
  error?: { code?: string };
}

async function ping(pool: Pool): Promise<{ ms: number; answer: Answer; status: number }> {
  const t = performance.now();
  const res = await pool.request({
    path: '/ping',
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-api-key': SOURCE_KEY },
    body: JSON.stringify({ vertical: 'auto', geo: { country: 'US', state: 'TX', zip: '73301' } }),
  });
  const answer = (await res.body.json()) as Answer;
  return { ms: performance.now() - t, answer, status: res.statusCode };
}

const pair = (xs: number[]) => [fmt(percentile(xs, 50), 0), fmt(percentile(xs, 99), 0)];

async function main(): Promise<void> {
  const count = Math.round(RATE * SECONDS);
  say(
    `ping benchmark: ${count} auctions at ${RATE}/s, ${BUYERS} buyers answering in ${BUYER_LATENCY} ms, deadline ${DEADLINE} ms`,
  );
  const servers = await startBenchServers('ping');
  const buyers = await Promise.all(Array.from({ length: BUYERS }, () => startPartnerSimulator()));
  buyers.forEach((b, i) => b.setPingBehavior(() => ({ bid: `${5 + i + 1}.00`, latencyMs: BUYER_LATENCY })));
  const apps: App[] = [];
  const pool = { current: undefined as Pool | undefined };
  const stopAll = async () => {
    await pool.current?.close().catch(() => undefined);
    for (const app of apps.reverse()) await app.stop().catch(() => undefined);
    await Promise.all(buyers.map((b) => b.stop()));
    await mongoose.disconnect().catch(() => undefined);
    await servers.stop();
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    const env = appEnv(servers, 'bench-ping', pingConfig(buyers), 'warn');
    const workerProfile = path.join(servers.dir, 'profile-worker');
    const worker = await startApp('worker', 'apps/worker/main.ts', servers.dir, env, {
      nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', workerProfile] : [],
    });
    const workerStarted = performance.now();
    apps.push(worker);
    const gatewayProfile = path.join(servers.dir, 'profile-gateway');
    const gatewayStarted = performance.now();
    const gateway = await startApp('gateway', 'apps/gateway/main.ts', servers.dir, env, {
      http: true,
      nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', gatewayProfile] : [],
    });
    apps.push(gateway);
    await mongoose.connect(servers.mongoUri, { autoIndex: false });
    pool.current = new Pool(gateway.url!, { connections: 64 });

    // The worker's first workflow tasks are cold (its first ping may outlive the gateway's wait and answer 503):
    // auctions until ten in a row answer the bid, unmeasured.
    for (let ok = 0, t = Date.now(); ok < 10;) {
      const warm = await ping(pool.current);
      ok = warm.status === 200 && warm.answer.bid ? ok + 1 : 0;
      if (Date.now() - t > 120_000)
        throw new Error(`warm-up ping answered ${warm.status} ${JSON.stringify(warm.answer)}`);
    }

    const meter = cpuMeter({
      gateway: [gateway.process.pid],
      worker: [worker.process.pid],
      temporal: findPids(servers.temporal.dbFile),
      mongo: findPids(`${servers.dir}/mongo`),
      // This process: the source sending the pings and the buyers answering them, on the same cores.
      bench: [process.pid],
    });
    const machine = machineCpuMeter();
    const pace = pacer(RATE);
    const started = performance.now();
    const runs: Promise<{ ms: number; answer: Answer; status: number } | { error: string }>[] = [];
    for (let i = 0; i < count; i++) {
      await pace(i);
      runs.push(ping(pool.current).catch((err: unknown) => ({ error: String(err) })));
    }
    const results = await Promise.all(runs);
    const wallS = (performance.now() - started) / 1000;
    const cpu = meter.stop();
    const { idlePct, stealPct } = machine.stop();

    const answers: number[] = [];
    const leadIds: string[] = [];
    let errors = 0;
    let noBid = 0;
    const shedMs: number[] = [];
    let firstProblem: string | undefined;
    for (const r of results) {
      // Turned away at once by a gateway behind on its auctions (apps/gateway/ping-admission.ts).
      if (!('error' in r) && r.status === 503 && r.answer.error?.code === 'overloaded') {
        shedMs.push(r.ms);
        continue;
      }
      if ('error' in r || r.status !== 200) {
        errors++;
        firstProblem ??= 'error' in r ? r.error : `HTTP ${r.status} ${JSON.stringify(r.answer)}`;
        continue;
      }
      answers.push(r.ms);
      if (r.answer.bid !== `${5 + BUYERS}.00`) {
        noBid++;
        firstProblem ??= `answer ${JSON.stringify(r.answer)}`;
      }
      if (r.answer.leadId) leadIds.push(r.answer.leadId);
    }

    // The floor of each auction: its slowest buyer, as the ping activity timed the call.
    const bids = await Bid.find({ leadId: { $in: leadIds } }, { leadId: 1, latencyMs: 1 }).lean();
    const slowest = new Map<string, number>();
    for (const b of bids) slowest.set(b.leadId, Math.max(slowest.get(b.leadId) ?? 0, b.latencyMs ?? 0));
    const floors = [...slowest.values()];
    const overheads = results.flatMap((r) =>
      'error' in r || !r.answer.leadId || !slowest.has(r.answer.leadId)
        ? []
        : [r.ms - (slowest.get(r.answer.leadId) as number)],
    );

    const p99 = percentile(answers, 99);
    const ratio = p99 / DEADLINE;
    // The target is over every ping the source sent: one turned away or failed counts as later than any answer
    // (a lost auction for the source), so the p99 holds only while they stay within the 1% it leaves out.
    const unanswered = shedMs.length + errors;
    const p99Sent = percentile([...answers, ...Array<number>(unanswered).fill(Number.POSITIVE_INFINITY)], 99);
    const ratioSent = p99Sent / DEADLINE;
    const met = ratioSent < TARGET && noBid === 0;
    say('');
    say(`${answers.length} auctions answered, ${fmt(answers.length / wallS, 1)}/s achieved`);
    say(
      formatTable(
        ['measured', 'p50 ms', 'p99 ms'],
        [
          ['POST /ping answer (client side)', ...pair(answers)],
          ['floor: the slowest buyer of each auction (bids.latencyMs)', ...pair(floors)],
          ["answer minus its floor (leadrouter's own time)", ...pair(overheads)],
        ],
      ),
    );
    say('');
    say(
      `CPU ms per auction: ${Object.entries(cpu)
        .map(([k, sec]) => `${k} ${fmt((sec * 1000) / Math.max(1, answers.length), 1)}`)
        .join(', ')}`,
    );
    // This VM's cores are shared with other guests: time stolen by the hypervisor is time the run did not have.
    say(
      `machine CPU during the run: ${fmt(idlePct, 1)}% idle, ${fmt(stealPct, 1)}% stolen by the hypervisor`,
    );
    const problem = firstProblem ? ` (first: ${firstProblem})` : '';
    say(`errors: ${errors}; answers without the expected ${5 + BUYERS}.00 bid: ${noBid}${problem}`);
    say(
      `turned away at once (503 overloaded): ${shedMs.length}${shedMs.length ? `, answered in p50 ${fmt(percentile(shedMs, 50), 0)} / p99 ${fmt(percentile(shedMs, 99), 0)} ms` : ''}`,
    );
    say(
      `answer / floor: p50 ${fmt(percentile(answers, 50) / percentile(floors, 50), 2)}, p99 ${fmt(p99 / percentile(floors, 99), 2)}`,
    );
    say(`p99 / deadline of the answered auctions: ${fmt(ratio, 3)}`);
    say(
      `p99 / deadline over every ping sent (${unanswered} turned away or failed, counted as late): ${fmt(ratioSent, 3)} (target < ${TARGET}): ${met ? 'met' : 'MISSED'}`,
    );
    process.exitCode = met ? 0 : 1;
    if (PROFILE) {
      // The profile is written when the worker exits; the samples before the measured run are left out.
      const skipMs = started - workerStarted;
      await worker.stop();
      say('');
      say(`worker CPU profile during the run (files in ${workerProfile}):`);
      for (const line of summarizeCpuProfiles(workerProfile, skipMs)) say(`  ${line}`);
      await gateway.stop();
      say('');
      say(`gateway CPU profile during the run (files in ${gatewayProfile}):`);
      for (const line of summarizeCpuProfiles(gatewayProfile, started - gatewayStarted)) say(`  ${line}`);
    }
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
