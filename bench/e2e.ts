// `npm run bench:e2e`: leads per second completed end to end (source -> gateway -> workflow -> partner ->
// approved postback -> status stored -> source notified), and the latency from postback received
// (PostbackLog.receivedAt) to the accepted status (StatusEvent.at, and when a poller first saw it stored).
// Options: --leads N (default 1000) --concurrency N (leads in flight from the source, default 32)
//          --postback-delay MS (partner's delay before posting back, default 20).
import mongoose from 'mongoose';
import { Pool } from 'undici';
import { startPartnerSimulator, startSourceSimulator } from '../apps/dev/simulators';
import { freePort } from '../scripts/lib/provision';
import { Lead, PostbackLog, StatusEvent } from '../shared/models';
import {
  ADMIN_KEY,
  arg,
  benchConfig,
  cpuMeter,
  fmt,
  PARTNER_TOKEN,
  percentile,
  pidsMatching,
  runLoad,
  say,
  SOURCE_KEY,
  startApp,
  startBenchServers,
  throughput,
  writeConfig,
  type App,
} from './lib/ingest-stack';

const LEADS = arg('leads', 1000);
const CONCURRENCY = arg('concurrency', 32);
const POSTBACK_DELAY = arg('postback-delay', 20);
const POLL_MS = 100;

async function main(): Promise<void> {
  say(
    `end-to-end benchmark: ${LEADS} leads, ${CONCURRENCY} in flight from the source, partner posts back "approved" after ${POSTBACK_DELAY} ms`,
  );
  const servers = await startBenchServers('e2e');
  const apps: App[] = [];
  const gatewayPort = await freePort();
  const partner = await startPartnerSimulator({
    postbackUrl: `http://127.0.0.1:${gatewayPort}/postback/acme`,
    token: PARTNER_TOKEN,
    behavior: (lead) => ({
      postback: [{ status: 'approved', payout: '12.50', txid: `tx-${lead.subid}`, delayMs: POSTBACK_DELAY }],
    }),
  });
  const source = await startSourceSimulator();
  const stopAll = async () => {
    for (const app of apps.reverse()) await app.stop().catch(() => undefined);
    await partner.stop();
    await source.stop();
    await mongoose.disconnect().catch(() => undefined);
    await servers.stop();
  };
  process.once('SIGINT', () => void stopAll().then(() => process.exit(130)));
  try {
    const env = {
      MONGODB_URI: servers.mongoUri,
      TEMPORAL_ADDRESS: servers.temporal.address,
      TEMPORAL_NAMESPACE: servers.temporal.namespace,
      TEMPORAL_TASK_QUEUE: 'bench-e2e',
      ROUTING_CONFIG: writeConfig(servers.dir, benchConfig(partner.url, source.url, '1h')),
      ADMIN_API_KEY: ADMIN_KEY,
      LOG_LEVEL: 'info',
    };
    const worker = await startApp('worker', 'apps/worker/main.ts', servers.dir, env);
    apps.push(worker);
    const gateway = await startApp('gateway', 'apps/gateway/main.ts', servers.dir, env, {
      http: true,
      port: gatewayPort,
    });
    apps.push(gateway);
    await mongoose.connect(servers.mongoUri, { autoIndex: false });
    // The worker bundles its workflows at start; one lead through first, so the clock starts on a warm system.
    const pool = new Pool(gateway.url!, { connections: CONCURRENCY });
    const submit = async () => {
      const res = await pool.request({
        path: '/leads',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': SOURCE_KEY },
        body: JSON.stringify({
          clickId: `clk-${Math.random().toString(36).slice(2)}`,
          vertical: 'auto',
          geo: { country: 'US' },
        }),
      });
      const body = (await res.body.json()) as { leadId?: string };
      if (res.statusCode !== 202 || !body.leadId) throw new Error(`POST /leads answered ${res.statusCode}`);
      return body.leadId;
    };
    const warm = await submit();
    for (let t = Date.now(); !(await StatusEvent.exists({ leadId: warm, status: 'accepted' }));) {
      if (Date.now() - t > 60_000) throw new Error('the warm-up lead was not accepted within 60 s');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }

    // The poller: when each accepted status was first seen stored (an upper bound on "stored", within POLL_MS).
    // It asks only about submitted leads not seen yet (StatusEvent.at is workflow time, and events are stored out of order).
    const seen = new Map<string, number>();
    const leadIds: string[] = [];
    let polling = true;
    const poller = (async () => {
      while (polling) {
        const open = leadIds.filter((id) => !seen.has(id));
        if (open.length) {
          const rows = await StatusEvent.find(
            { status: 'accepted', leadId: { $in: open } },
            { leadId: 1 },
          ).lean();
          const now = Date.now();
          for (const r of rows) if (!seen.has(r.leadId)) seen.set(r.leadId, now);
        }
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
    })();

    const meter = cpuMeter({
      gateway: [gateway.child.pid!],
      worker: [worker.child.pid!],
      temporal: pidsMatching(servers.temporal.dbFile),
      mongo: pidsMatching(`${servers.dir}/mongo`),
      'bench+simulators': [process.pid],
    });
    const started = performance.now();
    const startedAt = Date.now();
    const intake = await runLoad(LEADS, CONCURRENCY, async () => void leadIds.push(await submit()));
    const intakeSeconds = intake.wallMs / 1000;
    say(
      `submitted ${leadIds.length} leads in ${fmt(intakeSeconds)} s (${fmt(throughput(intake))}/s; POST /leads p50 ${fmt(percentile(intake.latencies, 50))} ms, p99 ${fmt(percentile(intake.latencies, 99))} ms; ${intake.errors} errors${intake.firstError ? `: ${intake.firstError}` : ''})`,
    );
    const deadline = Date.now() + 120_000 + LEADS * 200;
    let last = -1;
    while (leadIds.some((id) => !seen.has(id))) {
      if (Date.now() > deadline) break;
      const done = leadIds.filter((id) => seen.has(id)).length;
      if (done !== last && done % 100 < 10)
        say(`  ${done}/${leadIds.length} accepted after ${fmt((performance.now() - started) / 1000)} s`);
      last = done;
      await new Promise((r) => setTimeout(r, 500));
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpu = meter.stop();
    polling = false;
    await poller;

    const done = leadIds.filter((id) => seen.has(id));
    const lastSeen = Math.max(...done.map((id) => seen.get(id)!));
    const completionSeconds = (lastSeen - startedAt) / 1000;
    const logs = await PostbackLog.find(
      { leadId: { $in: leadIds }, outcome: 'applied' },
      { leadId: 1, receivedAt: 1 },
    ).lean();
    const events = await StatusEvent.find(
      { leadId: { $in: leadIds }, status: 'accepted' },
      { leadId: 1, at: 1 },
    ).lean();
    const received = new Map(logs.map((l) => [l.leadId!, l.receivedAt.getTime()]));
    const decided: number[] = [];
    const observed: number[] = [];
    for (const e of events) {
      const r = received.get(e.leadId);
      if (r === undefined) continue;
      decided.push(e.at.getTime() - r);
      if (seen.has(e.leadId)) observed.push(seen.get(e.leadId)! - r);
    }
    decided.sort((a, b) => a - b);
    observed.sort((a, b) => a - b);
    const notified = new Set(
      source.hits.filter((h) => h.query.status === 'accepted').map((h) => h.query.event),
    ).size;
    const accepted = await Lead.countDocuments({ _id: { $in: leadIds }, status: 'accepted' });
    await pool.close();

    const rate = done.length / completionSeconds;
    say('');
    say(`| measure | value |`);
    say('|---|---:|');
    say(
      `| leads submitted / accepted (Lead.status) / source notified | ${leadIds.length} / ${accepted} / ${notified} |`,
    );
    say(`| leads/s completed end to end (first submit to last accepted seen stored) | ${fmt(rate)} |`);
    say(
      `| postback received -> accepted status (StatusEvent.at), p50 / p99 ms | ${fmt(percentile(decided, 50))} / ${fmt(percentile(decided, 99))} |`,
    );
    say(
      `| postback received -> accepted seen stored by a ${POLL_MS} ms poller, p50 / p99 ms | ${fmt(percentile(observed, 50))} / ${fmt(percentile(observed, 99))} |`,
    );
    say(
      `| CPU s over ${fmt(wallSeconds)} s wall | ${Object.entries(cpu)
        .map(([k, s]) => `${k} ${fmt(s)}`)
        .join(', ')} |`,
    );
    say('');
    say(
      `target >= 100 leads/s: ${rate >= 100 ? 'met' : 'missed'} (${fmt(rate)}); target p99 postback-to-status < 1000 ms: ${percentile(decided, 99) < 1000 ? 'met' : 'missed'} (${fmt(percentile(decided, 99))} ms)`,
    );
    if (done.length < leadIds.length)
      say(`${leadIds.length - done.length} leads were not accepted before the deadline`);
  } finally {
    await stopAll();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
