// `npm run bench:e2e`: leads per second completed end to end (source -> gateway -> workflow -> partner ->
// approved postback -> status stored -> source notified), and the latency from postback received
// (PostbackLog.receivedAt) to the accepted status: decided (StatusEvent.at, the workflow's clock as it
// handled the signal) and surely stored (Notification.at: the source is notified only after the write).
// In the same run, on the same Temporal dev server, the "server limit": journeys of a minimal workflow with the
// same workflow tasks, regular activities, timer and signal as a lead's, no MongoDB and no HTTP
// (bench/lib/server-limit-workflow.ts), bare and with the lead's search attribute and memo upserts; the
// table gives leads/s as a ratio of both, and each one's history (events per lead).
// Options: --leads N (default 500) --concurrency N (leads in flight from the source, default 32)
//          --postback-delay MS (partner's delay before posting back, default 20)
//          --rate N (submit at most N leads/s: below saturation the latency is the path's, not a queue's)
//          --no-server-limit (skip the server limit runs)
//          --cpu-prof (profile the worker and the gateway with node --cpu-prof and print where their CPU went).
import path from 'node:path';
import mongoose from 'mongoose';
import { Pool } from 'undici';
import { freePort } from '../scripts/util';
import { Lead, Notification, PostbackLog, StatusEvent } from '../shared/models';
import { leadWorkflowId } from '../shared/temporal';
import * as bench from './lib/ingest-stack';
import { findPids } from './lib/processes';
import {
  describeShape,
  fetchHistories,
  historyShape,
  pacer,
  startServerLimit,
  type HistoryShape,
  type ServerLimitRunner,
} from './lib/server-limit';

const LEADS = bench.arg('leads', 500);
const CONCURRENCY = bench.arg('concurrency', 32);
const RATE = process.argv.some((a) => a.startsWith('--rate')) ? bench.arg('rate', 1) : undefined;
const POSTBACK_DELAY = bench.arg('postback-delay', 20);
const POLL_MS = 500;
const PROFILE = process.argv.includes('--cpu-prof');
const SERVER_LIMIT = !process.argv.includes('--no-server-limit');

/** One row of the summary: a lead end to end, or a server limit journey. */
interface Row {
  variant: string;
  rate: number;
  decided: number[];
  notified: number[];
  shape?: HistoryShape;
  cpuMsPerLead: Record<string, number>;
}

const p50p99 = (sorted: number[]) =>
  `${bench.fmt(bench.percentile(sorted, 50), 0)} / ${bench.fmt(bench.percentile(sorted, 99), 0)}`;
const cpuPerLead = (cpu: Record<string, number>, done: number) =>
  Object.fromEntries(Object.entries(cpu).map(([k, s]) => [k, (s * 1000) / Math.max(1, done)]));

async function main(): Promise<void> {
  bench.say(
    `end-to-end benchmark: ${LEADS} leads, ${CONCURRENCY} in flight from the source${RATE ? ` at most ${RATE}/s` : ''}, partner posts back "approved" after ${POSTBACK_DELAY} ms`,
  );
  const gatewayPort = await freePort();
  const run = await bench.startBenchRun('e2e', {
    postbackUrl: `http://127.0.0.1:${gatewayPort}/postback/acme`,
    token: bench.PARTNER_TOKEN,
    behavior: (lead) => ({
      postback: [{ status: 'approved', payout: '12.50', txid: `tx-${lead.subid}`, delayMs: POSTBACK_DELAY }],
    }),
  });
  const { servers, apps, partner, source } = run;
  let serverLimit: ServerLimitRunner | undefined;
  run.stopFirst(async () => serverLimit?.stop());
  try {
    const env = bench.appEnv(servers, 'bench-e2e', bench.benchConfig(partner.url, source.url, '1h'));
    const workerProfile = path.join(servers.dir, 'profile-worker');
    const worker = await bench.startApp('worker', 'apps/worker/main.ts', servers.dir, env, {
      nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', workerProfile] : [],
    });
    const workerStarted = performance.now();
    apps.push(worker);
    const gatewayProfile = path.join(servers.dir, 'profile-gateway');
    const gateway = await bench.startApp('gateway', 'apps/gateway/main.ts', servers.dir, env, {
      http: true,
      port: gatewayPort,
      nodeArgs: PROFILE ? ['--cpu-prof', '--cpu-prof-dir', gatewayProfile] : [],
    });
    const gatewayStarted = performance.now();
    apps.push(gateway);
    await mongoose.connect(servers.mongoUri, { autoIndex: false });
    // Its worker bundles its workflow now, before anything is measured; it idles until the lead run is over.
    serverLimit = await startServerLimit(servers.temporal.address, servers.temporal.namespace);
    // The worker bundles its workflows at start; one lead through first, so the clock starts on a warm system.
    const pool = new Pool(gateway.url!, { connections: CONCURRENCY });
    const postLatencies: number[] = [];
    const submit = async () => {
      const t = performance.now();
      const res = await pool.request({
        path: '/leads',
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': bench.SOURCE_KEY },
        body: JSON.stringify({
          clickId: `clk-${Math.random().toString(36).slice(2)}`,
          vertical: 'auto',
          geo: { country: 'US' },
        }),
      });
      const body = (await res.body.json()) as { leadId?: string };
      if (res.statusCode !== 202 || !body.leadId) throw new Error(`POST /leads answered ${res.statusCode}`);
      postLatencies.push(performance.now() - t);
      return body.leadId;
    };
    const warm = await submit();
    for (let t = Date.now(); !(await StatusEvent.exists({ leadId: warm, status: 'accepted' }));) {
      if (Date.now() - t > 60_000) throw new Error('the warm-up lead was not accepted within 60 s');
      await new Promise((r) => setTimeout(r, POLL_MS));
    }

    // Completion is the source's notification of the acceptance: the last step of a lead's journey, written
    // (Notification.at) only after the accepted status was stored. A light poller counts them; the numbers
    // come from the stored timestamps afterwards, so the poll interval does not enter them.
    const leadIds: string[] = [];
    const acceptedNotifications = () =>
      Notification.countDocuments({ status: 'accepted', ok: true, leadId: { $ne: warm } });
    const meter = bench.cpuMeter({
      gateway: [gateway.process.pid],
      worker: [worker.process.pid],
      temporal: findPids(servers.temporal.dbFile),
      mongo: findPids(`${servers.dir}/mongo`),
      'bench+simulators': [process.pid],
    });
    const started = performance.now();
    const startedAt = Date.now();
    const pace = pacer(RATE);
    const intake = await bench.runLoad(LEADS, CONCURRENCY, async (i) => {
      await pace(i);
      leadIds.push(await submit());
    });
    const sortedPosts = [...postLatencies].sort((a, b) => a - b);
    bench.say(
      `submitted ${leadIds.length} leads in ${bench.fmt(intake.wallMs / 1000)} s (${bench.fmt(bench.throughput(intake))}/s; POST /leads p50 ${bench.fmt(bench.percentile(sortedPosts, 50))} ms, p99 ${bench.fmt(bench.percentile(sortedPosts, 99))} ms; ${intake.errors} errors${intake.firstError ? `: ${intake.firstError}` : ''})`,
    );
    const deadline = Date.now() + 120_000 + LEADS * 200;
    let completed = 0;
    // A postback the gateway refused (4xx) is not retried by the partner: that lead cannot complete.
    const refused = () =>
      partner.postbackResults.filter((r) => r.httpStatus >= 400 || r.httpStatus === 0).length;
    for (let lastReport = 0; completed + refused() < leadIds.length && Date.now() < deadline;) {
      await new Promise((r) => setTimeout(r, POLL_MS));
      completed = await acceptedNotifications();
      if (Date.now() - lastReport > 5000) {
        lastReport = Date.now();
        bench.say(
          `  ${completed}/${leadIds.length} completed after ${bench.fmt((performance.now() - started) / 1000)} s`,
        );
      }
    }
    const wallSeconds = (performance.now() - started) / 1000;
    const cpu = meter.stop();

    const [logs, events, notes] = await Promise.all([
      PostbackLog.find({ leadId: { $in: leadIds }, outcome: 'applied' }, { leadId: 1, receivedAt: 1 }).lean(),
      StatusEvent.find({ leadId: { $in: leadIds }, status: 'accepted' }, { leadId: 1, at: 1 }).lean(),
      Notification.find(
        { leadId: { $in: leadIds }, status: 'accepted', ok: true },
        { leadId: 1, at: 1 },
      ).lean(),
    ]);
    const received = new Map(logs.map((l) => [l.leadId!, l.receivedAt.getTime()]));
    const notifiedAt = new Map<string, number>();
    for (const n of notes)
      notifiedAt.set(n.leadId, Math.min(notifiedAt.get(n.leadId) ?? Infinity, n.at!.getTime()));
    const decided: number[] = [];
    const notifiedAfter: number[] = [];
    for (const e of events) {
      const r = received.get(e.leadId);
      if (r === undefined) continue;
      decided.push(e.at.getTime() - r);
      const n = notifiedAt.get(e.leadId);
      if (n !== undefined) notifiedAfter.push(n - r);
    }
    decided.sort((a, b) => a - b);
    notifiedAfter.sort((a, b) => a - b);
    const accepted = await Lead.countDocuments({ _id: { $in: leadIds }, status: 'accepted' });
    await pool.close();

    const done = notifiedAt.size;
    const lastDone = Math.max(...notifiedAt.values());
    const rate = done / ((lastDone - startedAt) / 1000);
    bench.say('');
    bench.say(`| measure (${LEADS} leads, ${CONCURRENCY} in flight) | value |`);
    bench.say('|---|---:|');
    bench.say(
      `| leads submitted / accepted (Lead.status) / source notified of the acceptance | ${leadIds.length} / ${accepted} / ${done} |`,
    );
    bench.say(
      `| leads/s completed end to end (first submit to last source notification) | ${bench.fmt(rate)} |`,
    );
    bench.say(`| leads/s taken in by POST /leads | ${bench.fmt(bench.throughput(intake))} |`);
    bench.say(
      `| postback received -> accepted status decided (StatusEvent.at), p50 / p99 ms | ${bench.fmt(bench.percentile(decided, 50))} / ${bench.fmt(bench.percentile(decided, 99))} |`,
    );
    bench.say(
      `| postback received -> source notified, after the status was stored (Notification.at), p50 / p99 ms | ${bench.fmt(bench.percentile(notifiedAfter, 50))} / ${bench.fmt(bench.percentile(notifiedAfter, 99))} |`,
    );
    bench.say(
      `| CPU s over ${bench.fmt(wallSeconds)} s wall | ${Object.entries(cpu)
        .map(([k, s]) => `${k} ${bench.fmt(s)}`)
        .join(', ')} |`,
    );
    bench.say(
      `| CPU ms per lead | ${Object.entries(cpu)
        .map(([k, s]) => `${k} ${bench.fmt((s * 1000) / Math.max(1, done), 0)}`)
        .join(', ')} |`,
    );
    bench.say('');
    bench.say(
      `target >= 100 leads/s: ${rate >= 100 ? 'met' : 'missed'} (${bench.fmt(rate)}); target p99 postback-to-status < 1000 ms: ${bench.percentile(notifiedAfter, 99) < 1000 ? 'met' : bench.percentile(decided, 99) < 1000 ? 'met for the decision, missed once stored' : 'missed'} (decided ${bench.fmt(bench.percentile(decided, 99))} ms, stored before ${bench.fmt(bench.percentile(notifiedAfter, 99))} ms)`,
    );
    const answers: Record<string, number> = {};
    for (const r of partner.postbackResults) {
      const code = /"code":"([a-z_]+)"/.exec(r.body)?.[1];
      const key = r.httpStatus < 400 ? String(r.httpStatus) : `${r.httpStatus} ${code ?? ''}`;
      answers[key] = (answers[key] ?? 0) + 1;
    }
    bench.say(`partner's postbacks answered: ${JSON.stringify(answers)}`);
    if (done < leadIds.length) bench.say(`${leadIds.length - done} leads did not complete`);

    const leadHistories = await fetchHistories(
      serverLimit.client,
      leadIds.filter((id) => notifiedAt.has(id)).map(leadWorkflowId),
    );
    const rows: Row[] = [
      {
        variant: 'lead end to end',
        rate,
        decided,
        notified: notifiedAfter,
        shape: historyShape(leadHistories),
        cpuMsPerLead: cpuPerLead(cpu, done),
      },
    ];
    bench.say(`history of a lead (mean of ${leadHistories.length}): ${describeShape(rows[0]!.shape!)}`);
    if (SERVER_LIMIT) {
      // The last leads' workflows finish after their notification: the server limit starts on an idle server.
      for (let t = Date.now(); Date.now() - t < 60_000;) {
        const open = await serverLimit.client.workflow.count(
          'WorkflowType="leadWorkflow" AND ExecutionStatus="Running"',
        );
        if (open.count === 0) break;
        await new Promise((r) => setTimeout(r, POLL_MS));
      }
      for (const publish of [false, true]) {
        const variant = `server limit${publish ? ', with the lead upserts (search attributes, memo)' : ', bare'}`;
        const limitMeter = bench.cpuMeter({
          temporal: findPids(servers.temporal.dbFile),
          'bench (its worker, client)': [process.pid],
        });
        const r = await serverLimit.run({
          journeys: LEADS,
          concurrency: CONCURRENCY,
          postbackDelayMs: POSTBACK_DELAY,
          rate: RATE,
          publish,
        });
        const limitCpu = limitMeter.stop();
        bench.say(
          `${variant}: ${r.completed}/${LEADS} journeys, ${bench.fmt(r.rate)}/s (started at ${bench.fmt(bench.throughput(r.intake))}/s, ${r.intake.errors} errors); history (mean of ${r.histories.length}) ${describeShape(historyShape(r.histories))}`,
        );
        rows.push({
          variant,
          rate: r.rate,
          decided: r.decided,
          notified: r.notified,
          shape: historyShape(r.histories),
          cpuMsPerLead: cpuPerLead(limitCpu, r.completed),
        });
      }
    }
    const [bare, published] = [rows[1]?.rate, rows[2]?.rate];
    bench.say('');
    bench.say(
      `| variant (${LEADS} each, ${CONCURRENCY} in flight${RATE ? `, at most ${RATE}/s` : ''}) | completed/s | ratio to server limit, bare / with upserts | postback -> decided p50 / p99 ms | postback -> source notified p50 / p99 ms | history events (workflow tasks, activities, markers) | CPU ms per lead |`,
    );
    bench.say('|---|---:|---|---|---|---|---|');
    for (const row of rows) {
      const ratio = (limit: number | undefined) =>
        limit ? `${bench.fmt((row.rate / limit) * 100, 0)}%` : 'n/a';
      const shape = row.shape
        ? `${bench.fmt(row.shape.events)} (${bench.fmt(row.shape.workflowTasks)}, ${bench.fmt(row.shape.activities)}, ${bench.fmt(row.shape.markers)})`
        : 'n/a';
      const cpuText = Object.entries(row.cpuMsPerLead)
        .map(([k, ms]) => `${k} ${bench.fmt(ms, 0)}`)
        .join(', ');
      bench.say(
        `| ${row.variant} | ${bench.fmt(row.rate)} | ${ratio(bare)} / ${ratio(published)} | ${p50p99(row.decided)} | ${p50p99(row.notified)} | ${shape} | ${cpuText} |`,
      );
    }
    if (PROFILE) {
      // The worker's start (bundling the workflows) is left out: only samples from the measured run count.
      const skipMs = started - workerStarted;
      await worker.stop();
      bench.say('');
      bench.say(`worker CPU profile during the run (files in ${workerProfile}):`);
      for (const line of bench.summarizeCpuProfiles(workerProfile, skipMs)) bench.say(`  ${line}`);
      await gateway.stop();
      bench.say('');
      bench.say(`gateway CPU profile during the run (files in ${gatewayProfile}):`);
      for (const line of bench.summarizeCpuProfiles(gatewayProfile, started - gatewayStarted))
        bench.say(`  ${line}`);
    }
  } finally {
    await run.stop();
  }
}

bench.runBench(main);
