// The heavy generated-request run (scripts/schemathesis.sh): schemathesis against a real stack started here
// (own Temporal and Mongo-wire servers, gateway and worker processes), once with a source key and once with
// the admin key. Passes when schemathesis finds no 5xx, the gateway's own counters show none either, at least
// --min-requests were answered, and refused requests changed no data.
// Options: --st PATH (schemathesis CLI, required) --max-examples N (per operation, default 150) --seed N --min-requests N.
import { spawn } from 'node:child_process';
import path from 'node:path';
import mongoose from 'mongoose';
import { startPartnerSimulator, startSourceSimulator } from '../../scripts/simulators';
import { Lead, PostbackClaim, PostbackLog, StatusEvent } from '../../shared/models';
import {
  ADMIN_KEY,
  appEnv,
  arg,
  benchConfig,
  say,
  SOURCE_KEY,
  startApp,
  startBenchServers,
  type App,
} from './ingest-stack';

const MAX_EXAMPLES = arg('max-examples', 150);
const SEED = arg('seed', Date.now() % 1_000_000);
const MIN_REQUESTS = arg('min-requests', 1000);

function stPath(): string {
  const i = process.argv.indexOf('--st');
  if (i < 0 || !process.argv[i + 1]) throw new Error('--st PATH (the schemathesis CLI) is required');
  return process.argv[i + 1]!;
}

/** `leadrouter_http_requests_total{route,code}` from the gateway's /metrics. */
async function requestCounts(url: string): Promise<Map<string, number>> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const out = new Map<string, number>();
  for (const m of text.matchAll(/^leadrouter_http_requests_total\{([^}]*)\} (\d+)/gm)) {
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1], l[2]]));
    out.set(`${labels.route} ${labels.code}`, Number(m[2]));
  }
  return out;
}

function runSchemathesis(st: string, schemaUrl: string, key: string, dir: string): Promise<number> {
  const args = [
    'run',
    schemaUrl,
    '--checks',
    'not_a_server_error',
    '--max-examples',
    String(MAX_EXAMPLES),
    '--seed',
    String(SEED),
  ];
  // One worker: hypothesis's lambda-source cache is not thread-safe (runtime errors seen with --workers 2).
  args.push(
    '--workers',
    '1',
    '--header',
    `x-api-key: ${key}`,
    '--report',
    'junit',
    '--report-dir',
    path.join(dir, 'report'),
  );
  args.push('--request-timeout', '30');
  say(`$ st ${args.join(' ').replace(key, '<key>')}`);
  // Run in the temp dir: schemathesis keeps its example database (.schemathesis/) in the working directory.
  const child = spawn(st, args, { stdio: 'inherit', cwd: dir });
  return new Promise((resolve) => child.once('exit', (code) => resolve(code ?? 1)));
}

async function main(): Promise<void> {
  const st = stPath();
  const servers = await startBenchServers('schemathesis');
  const apps: App[] = [];
  const partner = await startPartnerSimulator(); // takes leads, never posts back: they stay pending
  const source = await startSourceSimulator();
  const failures: string[] = [];
  try {
    const env = appEnv(servers, 'schemathesis', benchConfig(partner.url, source.url, '24h'), 'warn');
    apps.push(await startApp('worker', 'apps/worker/main.ts', servers.dir, env));
    const gateway = await startApp('gateway', 'apps/gateway/main.ts', servers.dir, env, { http: true });
    apps.push(gateway);
    const url = gateway.url!;
    await mongoose.connect(servers.mongoUri, { autoIndex: false });

    const seeded: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await fetch(`${url}/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': SOURCE_KEY },
        body: JSON.stringify({ clickId: `seed-${i}`, vertical: 'auto' }),
      });
      seeded.push(((await res.json()) as { leadId: string }).leadId);
    }
    for (
      const t = Date.now();
      (await Lead.countDocuments({ _id: { $in: seeded }, status: 'pending' })) < seeded.length;
    ) {
      if (Date.now() - t > 60_000) throw new Error('seeded leads did not become pending');
      await new Promise((r) => setTimeout(r, 200));
    }
    const startedAt = new Date();
    const before = await requestCounts(url);
    const leadsBefore = await Lead.countDocuments();
    const effectsBefore = await PostbackClaim.countDocuments();
    const seededBefore = new Map(
      (await Lead.find({ _id: { $in: seeded } }).lean()).map((l) => [l._id, JSON.stringify(l)]),
    );
    const eventsBefore = await StatusEvent.countDocuments({ leadId: { $in: seeded } });

    const reportDir = path.join(servers.dir, 'report');
    const codes = [];
    for (const key of [SOURCE_KEY, ADMIN_KEY])
      codes.push(await runSchemathesis(st, `${url}/openapi.json`, key, servers.dir));

    const after = await requestCounts(url);
    const diff = new Map(
      [...after].map(([k, v]) => [k, v - (before.get(k) ?? 0)]).filter(([, v]) => (v as number) > 0) as [
        string,
        number,
      ][],
    );
    const total = [...diff.values()].reduce((a, b) => a + b, 0);
    const serverErrors = [...diff].filter(([k]) => Number(k.split(' ').pop()) >= 500);
    const created = [...diff].filter(([k]) => k === '/leads 202').reduce((a, [, v]) => a + v, 0);
    const applied = await PostbackLog.countDocuments({
      receivedAt: { $gte: startedAt },
      outcome: { $in: ['applied', 'queued'] },
    });
    const appliedTo = new Set(
      (
        await PostbackLog.find(
          { receivedAt: { $gte: startedAt }, outcome: { $in: ['applied', 'queued'] } },
          { leadId: 1 },
        ).lean()
      ).map((l) => l.leadId),
    );

    say('');
    say(`answers by route and status (gateway's own counters): ${JSON.stringify(Object.fromEntries(diff))}`);
    say(
      `requests answered: ${total}; 5xx: ${serverErrors.reduce((a, [, v]) => a + v, 0)}; leads created (202): ${created}; postbacks applied: ${applied}`,
    );
    if (codes.some((c) => c !== 0))
      failures.push(
        `schemathesis exited ${codes.join(', ')} (see its output above; JUnit report in ${reportDir})`,
      );
    if (serverErrors.length) failures.push(`5xx answers: ${JSON.stringify(serverErrors)}`);
    if (total < MIN_REQUESTS)
      failures.push(`only ${total} requests, wanted at least ${MIN_REQUESTS} (raise --max-examples)`);
    const leadsDiff = (await Lead.countDocuments()) - leadsBefore;
    if (leadsDiff !== created)
      failures.push(`leads grew by ${leadsDiff} but only ${created} POST /leads were accepted`);
    const effectsDiff = (await PostbackClaim.countDocuments()) - effectsBefore;
    if (effectsDiff !== applied)
      failures.push(`postback effects grew by ${effectsDiff} but ${applied} postbacks were applied`);
    for (const lead of await Lead.find({ _id: { $in: seeded } }).lean()) {
      if (!appliedTo.has(lead._id) && JSON.stringify(lead) !== seededBefore.get(lead._id))
        failures.push(`seeded lead ${lead._id} changed`);
    }
    if (
      appliedTo.size === 0 &&
      (await StatusEvent.countDocuments({ leadId: { $in: seeded } })) !== eventsBefore
    )
      failures.push('seeded leads got status events');
  } finally {
    for (const app of apps.reverse()) await app.stop().catch(() => undefined);
    await partner.stop();
    await source.stop();
    await mongoose.disconnect().catch(() => undefined);
    if (failures.length) process.env.BENCH_KEEP = '1';
    await servers.stop();
  }
  if (failures.length) {
    say(`FAILED:\n  - ${failures.join('\n  - ')}`);
    process.exit(1);
  }
  say('passed: no 5xx, refused requests changed no data');
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
