// `npm run chaos`: leads through simulated partners while the worker is killed and the servers restart (and,
// with --gateways/--workers above 1, one gateway and one worker of several are killed), then a table proving
// that every lead reached its expected status, every postback was applied exactly once, every source
// notification arrived and /reports/summary agrees with what the script sent. Exits non-zero when any is missed.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import mongoose from 'mongoose';
import {
  startPartnerSimulator,
  startSourceSimulator,
  type PartnerBehavior,
  type ReceivedLead,
} from '../scripts/simulators';
import { freePort } from '../scripts/util';
import type { CanonicalStatus, PostbackStatus } from '../shared/statuses';
import { runBounded } from './lib/processes';
import { startBenchStack, type BenchStack } from './lib/stack';
import { formatTable, mapPool, round, sleep } from './lib/stats';

const { values: args } = parseArgs({
  options: {
    leads: { type: 'string', default: '500' },
    rate: { type: 'string', default: '10' }, // leads per second offered to POST /leads
    concurrency: { type: 'string', default: '16' },
    timeout: { type: 'string', default: '900' }, // seconds for the whole run, servers included
    keep: { type: 'boolean', default: false },
    gateways: { type: 'string', default: '1' },
    workers: { type: 'string', default: '1' },
  },
});
const GATEWAYS = Number(args.gateways);
const WORKERS = Number(args.workers);
const ADMIN_KEY = 'chaos-admin-key-0123456789';
const LEADS = Number(args.leads);
const RATE = Number(args.rate);
const CONCURRENCY = Number(args.concurrency);
const DEADLINE = Date.now() + Number(args.timeout) * 1000;
const STALL_MS = 120_000;
const started = Date.now();
const say = (line: string) =>
  process.stdout.write(`[chaos ${((Date.now() - started) / 1000).toFixed(1).padStart(6)}s] ${line}\n`);

// ---------------------------------------------------------------------------------------------
// The scenario each lead is given, and what it must end as
// ---------------------------------------------------------------------------------------------

type Scenario = 'accept' | 'reject' | 'pending' | 'duplicate' | 'chargeback' | 'late';
const MIX: Scenario[] = [
  ...Array<Scenario>(6).fill('accept'),
  ...Array<Scenario>(4).fill('reject'),
  ...Array<Scenario>(3).fill('duplicate'),
  ...Array<Scenario>(3).fill('chargeback'),
  ...Array<Scenario>(2).fill('late'),
  ...Array<Scenario>(2).fill('pending'),
];
const scenarioOf = (i: number): Scenario => MIX[(i * 7) % MIX.length] as Scenario; // 7 is coprime with 20: mixed order

const PAYOUT = '20.00';
const PAYOUT_CENTS = 2000;
const LATE_TIMEOUT_MS = 3000;

interface Expectation {
  final: CanonicalStatus;
  /** Distinct (lead, canonical status) effects the partner's postbacks must have, once each. */
  effects: PostbackStatus[];
  /** Source notifications that must arrive; `expired` may arrive too for a late lead that expired first. */
  events: CanonicalStatus[];
  optionalEvents: CanonicalStatus[];
  revenueCents: number;
}

const EXPECT: Record<Scenario, Expectation> = {
  accept: {
    final: 'accepted',
    effects: ['accepted'],
    events: ['accepted'],
    optionalEvents: [],
    revenueCents: PAYOUT_CENTS,
  },
  reject: {
    final: 'rejected',
    effects: ['rejected'],
    events: ['rejected'],
    optionalEvents: [],
    revenueCents: 0,
  },
  pending: {
    final: 'accepted',
    effects: ['pending', 'accepted'],
    events: ['accepted'],
    optionalEvents: [],
    revenueCents: PAYOUT_CENTS,
  },
  duplicate: {
    final: 'accepted',
    effects: ['accepted'],
    events: ['accepted'],
    optionalEvents: [],
    revenueCents: PAYOUT_CENTS,
  },
  chargeback: {
    final: 'returned',
    effects: ['accepted', 'returned'],
    events: ['accepted', 'returned'],
    optionalEvents: [],
    revenueCents: 0,
  },
  late: {
    final: 'accepted',
    effects: ['accepted'],
    events: ['accepted'],
    optionalEvents: ['expired'],
    revenueCents: PAYOUT_CENTS,
  },
};

/** What the simulated partner does with a delivered lead: its postbacks, delays cumulative. */
function partnerPlan(lead: ReceivedLead): PartnerBehavior {
  const scenario = (lead.body.data as { scenario?: Scenario } | undefined)?.scenario;
  const tx = `tx-${lead.subid}`;
  const approved = { status: 'approved', payout: PAYOUT, txid: `${tx}-a` };
  switch (scenario) {
    case 'accept':
      return { postback: [{ ...approved, delayMs: 1000 }] };
    case 'reject':
      return { postback: [{ status: 'declined', txid: `${tx}-r`, delayMs: 1000 }] };
    case 'pending':
      return {
        postback: [
          { status: 'hold', txid: `${tx}-h`, delayMs: 1000 },
          { ...approved, delayMs: 2000 },
        ],
      };
    case 'duplicate':
      // The same postback twice (a partner's retry), then the same verdict under a new txid.
      return {
        postback: [
          { ...approved, delayMs: 1000 },
          { ...approved, delayMs: 200 },
          { ...approved, txid: `${tx}-b`, delayMs: 300 },
        ],
      };
    case 'chargeback':
      return {
        postback: [
          { ...approved, delayMs: 1000 },
          { status: 'chargeback', txid: `${tx}-c`, delayMs: 10_000 },
        ],
      };
    case 'late':
      return { postback: [{ ...approved, delayMs: LATE_TIMEOUT_MS + 12_000 }] };
    default:
      return {};
  }
}

// ---------------------------------------------------------------------------------------------
// The run
// ---------------------------------------------------------------------------------------------

interface Fault {
  name: string;
  /** Fraction of the intake window after which it starts. */
  at: number;
  run: (stack: BenchStack) => Promise<void>;
}

/** A fault only a run with several gateways can take: the last one is killed and restarted, the others serve. */
const withSeveralGateways = (fault: Fault): Fault[] => (GATEWAYS > 1 ? [fault] : []);

/** With several workers the second kill hits another one; with several gateways the last is killed and restarted. */
const FAULTS: Fault[] = [
  { name: 'worker SIGKILL + restart', at: 0.15, run: (s) => s.crashAndRestartWorker(1000, 0) },
  { name: 'Temporal dev server restart', at: 0.35, run: (s) => s.restartTemporal() },
  ...withSeveralGateways({
    name: `gateway ${GATEWAYS} SIGKILL`,
    at: 0.45,
    run: (s) => s.crashGateway(GATEWAYS - 1),
  }),
  { name: 'Mongo-wire server restart', at: 0.55, run: (s) => s.restartMongo() },
  ...withSeveralGateways({
    name: `gateway ${GATEWAYS} restart`,
    at: 0.65,
    run: (s) => s.restartGateway(GATEWAYS - 1),
  }),
  { name: 'worker SIGKILL + restart', at: 0.75, run: (s) => s.crashAndRestartWorker(1000, 1 % WORKERS) },
];

interface FaultRecord {
  name: string;
  atS: number;
  tookMs: number;
  error?: string;
}

async function main(): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'leadrouter-chaos-'));
  const runId = Date.now().toString(36);
  const leadIds = Array.from({ length: LEADS }, (_, i) => `chaos-${runId}-${i}`);
  const scenarios = new Map(leadIds.map((id, i) => [id, scenarioOf(i)]));
  say(
    `${LEADS} leads at ${RATE}/s (concurrency ${CONCURRENCY}), ${GATEWAYS} gateway(s), ${WORKERS} worker(s), work dir ${dir}`,
  );

  const gatewayPorts = await Promise.all(Array.from({ length: GATEWAYS }, () => freePort()));
  const gatewayUrls = gatewayPorts.map((port) => `http://127.0.0.1:${port}`);
  const retry = { attempts: 30, initialDelayMs: 500, maxDelayMs: 5000, timeoutMs: 20_000 };
  const postbackUrls = (partner: string) => gatewayUrls.map((u) => `${u}/postback/${partner}`);
  const steady = await startPartnerSimulator({
    postbackUrls: postbackUrls('steady'),
    token: 'steady-token-123',
    behavior: partnerPlan,
    postbackRetry: retry,
  });
  const slow = await startPartnerSimulator({
    postbackUrls: postbackUrls('slow'),
    token: 'slow-token-1234',
    behavior: partnerPlan,
    postbackRetry: retry,
  });
  const source = await startSourceSimulator();
  // The source's endpoint fails about one request in five, so notifications are retried too (counted in
  // requests, not time: a lone retrier at a quiet moment must not be failed forever).
  let failedAt = 0;
  const flaky = setInterval(() => {
    if (source.hits.length - failedAt >= 5) {
      source.failNext(1);
      failedAt = source.hits.length;
    }
  }, 50);

  const config = {
    settings: { adminApiKey: ADMIN_KEY },
    partners: [
      {
        id: 'steady',
        delivery: { url: `${steady.url}/leads`, timeoutMs: 5000, maxAttempts: 20 },
        postback: { token: 'steady-token-123', timeout: '30m' },
        routing: { filters: { vertical: ['steady'] } },
        payout: 12.5,
      },
      {
        id: 'slow',
        delivery: { url: `${slow.url}/leads`, timeoutMs: 5000, maxAttempts: 20 },
        postback: { token: 'slow-token-1234', timeout: LATE_TIMEOUT_MS },
        routing: { filters: { vertical: ['late'] } },
        payout: 12.5,
      },
    ],
    sources: [
      {
        id: 'src-chaos',
        apiKey: 'key-src-chaos-0123',
        postbackUrl: `${source.url}/pb?clickid={clickid}&status={status}&payout={payout}&event={event_id}`,
        notifyOn: ['accepted', 'rejected', 'returned', 'expired'],
        notify: { initialInterval: 200, maxInterval: 2000, maxDuration: '30m' },
      },
    ],
  };

  let stack: BenchStack | undefined;
  let passed = false;
  const db = mongoose.createConnection();
  try {
    stack = await startBenchStack({
      dir,
      config,
      gatewayPort: gatewayPorts[0],
      gatewayPorts,
      workers: WORKERS,
      say,
      env: { LOG_LEVEL: 'info' },
    });
    await db.openUri(stack.mongoUri, { serverSelectionTimeoutMS: 30_000 });

    // Intake, paced, with faults injected at fixed points of the intake window.
    const windowMs = (LEADS / RATE) * 1000;
    const intakeStart = Date.now();
    const faults: FaultRecord[] = [];
    const monkey = (async () => {
      for (const fault of FAULTS) {
        const wait = intakeStart + fault.at * windowMs - Date.now();
        if (wait > 0) await sleep(wait);
        const t0 = Date.now();
        say(`FAULT: ${fault.name}`);
        try {
          await fault.run(stack as BenchStack);
          faults.push({ name: fault.name, atS: round((t0 - started) / 1000), tookMs: Date.now() - t0 });
        } catch (err) {
          faults.push({
            name: fault.name,
            atS: round((t0 - started) / 1000),
            tookMs: Date.now() - t0,
            error: String(err),
          });
          say(`fault ${fault.name} failed: ${String(err)}`);
        }
      }
    })();

    const intakeRetries = { count: 0 };
    const intake = await mapPool(leadIds, CONCURRENCY, async (leadId, i) => {
      const due = intakeStart + (i / RATE) * 1000;
      if (due > Date.now()) await sleep(due - Date.now());
      const scenario = scenarios.get(leadId) as Scenario;
      const status = await submitLead(gatewayUrls, i, leadId, scenario, intakeRetries);
      return status;
    });
    const intakeOk = intake.filter((s) => s === 200 || s === 202).length;
    say(`intake done: ${intakeOk}/${LEADS} leads taken (${intakeRetries.count} retries by the source)`);
    await monkey;

    // Wait until every lead is where its scenario says, every notification arrived and the partners are done.
    const expectedEvents = new Map<string, Scenario>();
    for (const [leadId, scenario] of scenarios)
      for (const status of EXPECT[scenario].events) expectedEvents.set(`${leadId}.${status}`, scenario);
    let lastLine = 0;
    let lastState = '';
    let lastChange = Date.now();
    for (;;) {
      const leads = await db
        .collection('leads')
        .find({}, { projection: { status: 1 } })
        .toArray();
      const atFinal = leads.filter(
        (l) => l.status === EXPECT[scenarios.get(String(l._id)) as Scenario]?.final,
      ).length;
      const seen = new Set(source.hits.filter((h) => h.answered === 200).map((h) => h.query.event));
      const eventsMissing = [...expectedEvents.keys()].filter((e) => !seen.has(e)).length;
      const partnerBusy = steady.pendingPostbacks() + slow.pendingPostbacks();
      const unsent = await db.collection('postback_effects').countDocuments({ sentAt: { $exists: false } });
      if (Date.now() - lastLine > 5000) {
        lastLine = Date.now();
        say(
          `settling: ${atFinal}/${LEADS} leads at expected status, ${eventsMissing} notifications missing, ${partnerBusy} partner postbacks in flight, ${unsent} unsent signals`,
        );
      }
      if (atFinal === LEADS && eventsMissing === 0 && partnerBusy === 0 && unsent === 0) break;
      if (Date.now() > DEADLINE) {
        say('deadline reached before everything settled');
        break;
      }
      // Retries run every few seconds at most, so two minutes without any change means stuck, not slow.
      const state = `${atFinal}/${eventsMissing}/${partnerBusy}/${unsent}`;
      if (state !== lastState) [lastState, lastChange] = [state, Date.now()];
      if (partnerBusy === 0 && Date.now() - lastChange > STALL_MS) {
        say(`nothing changed for ${STALL_MS / 1000} s; counting what there is`);
        break;
      }
      await sleep(3000); // each poll reads every lead: FerretDB filters non-_id queries itself
    }
    // Anything still on its way (a duplicate notification, a retry) gets a moment to land before we count.
    await sleep(3000);
    const summary = await checkSummary(gatewayUrls, scenarios, started);
    const report = await buildReport({
      db,
      scenarios,
      summary,
      steady: [steady, slow],
      sourceHits: source.hits,
      faults,
      intakeOk,
      intakeRetries: intakeRetries.count,
    });
    process.stdout.write(`\n${report.text}\n`);
    passed = report.pass;
    say(report.pass ? 'PASS: 100% expected, 0 lost, 0 applied twice' : `FAIL: ${report.failures.join('; ')}`);
    if (!report.pass || args.keep) say(`logs kept in ${dir}/logs`);
    return report.pass ? 0 : 1;
  } finally {
    clearInterval(flaky);
    await db.close().catch(() => undefined);
    await stack?.stop().catch((err: unknown) => say(`stopping the stack: ${String(err)}`));
    await Promise.all([steady.stop(), slow.stop(), source.stop()]);
    // Logs stay for a failed run; a passed one leaves nothing behind.
    if (passed && !args.keep) fs.rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * POST /leads as a source with a retry queue would: same leadId again until a 2xx (it is the idempotency key).
 * Leads are spread over the gateways, and a retry goes to the next one (a load balancer's way).
 */
async function submitLead(
  gatewayUrls: string[],
  i: number,
  leadId: string,
  scenario: Scenario,
  retries: { count: number },
): Promise<number> {
  let delay = 500;
  for (let attempt = 0; ; attempt++) {
    let status = 0;
    try {
      const res = await fetch(`${gatewayUrls[(i + attempt) % gatewayUrls.length]}/leads`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-api-key': 'key-src-chaos-0123' },
        body: JSON.stringify({
          leadId,
          clickId: `click-${leadId}`,
          vertical: scenario === 'late' ? 'late' : 'steady',
          geo: { country: 'US' },
          data: { scenario },
        }),
        signal: AbortSignal.timeout(30_000),
      });
      status = res.status;
      await res.arrayBuffer();
    } catch {
      status = 0;
    }
    if (
      (status >= 200 && status < 300) ||
      (status >= 400 && status < 500 && status !== 429) ||
      Date.now() > DEADLINE
    )
      return status;
    retries.count++;
    await sleep(delay);
    delay = Math.min(delay * 2, 5000);
  }
}

// ---------------------------------------------------------------------------------------------
// /reports/summary against the truth this script keeps: what each scenario must end as, per source and partner
// ---------------------------------------------------------------------------------------------

type SummaryRow = [check: string, expected: string, measured: string, verdict: string];
const COUNTED = ['received', 'accepted', 'rejected', 'returned'] as const;

async function checkSummary(
  gatewayUrls: string[],
  scenarios: Map<string, Scenario>,
  since: number,
): Promise<SummaryRow[]> {
  const truth = new Map<string, Record<(typeof COUNTED)[number] | 'cents', number>>();
  const add = (group: string, key: (typeof COUNTED)[number] | 'cents', n: number) => {
    const row = truth.get(group) ?? { received: 0, accepted: 0, rejected: 0, returned: 0, cents: 0 };
    row[key] += n;
    truth.set(group, row);
  };
  for (const scenario of scenarios.values()) {
    const e = EXPECT[scenario];
    const partner = scenario === 'late' ? 'slow' : 'steady';
    add('src-chaos', 'received', 1);
    for (const group of ['src-chaos', partner]) {
      for (const status of ['accepted', 'rejected', 'returned'] as const)
        if (e.effects.includes(status)) add(group, status, 1);
      add(group, 'cents', e.revenueCents);
    }
  }
  const window = `from=${new Date(since - 3_600_000).toISOString()}&to=${new Date().toISOString()}`;
  const rows: SummaryRow[] = [];
  for (const groupBy of ['source', 'partner'] as const) {
    const report = await readSummary(gatewayUrls, `groupBy=${groupBy}&${window}`);
    for (const [group, want] of truth) {
      if ((groupBy === 'source') !== (group === 'src-chaos')) continue;
      const row = report?.rows.find((r) => r.group === group);
      const cents = Object.values(row?.revenueByCurrency ?? {}).reduce(
        (sum, v) => sum + Math.round(Number(v) * 100),
        0,
      );
      const fields = COUNTED.filter((k) => groupBy === 'source' || k !== 'received');
      const expected = [...fields.map((k) => `${k} ${want[k]}`), `revenue ${want.cents / 100}`].join(', ');
      const measured = row
        ? [...fields.map((k) => `${k} ${row.counts[k] ?? 0}`), `revenue ${cents / 100}`].join(', ')
        : 'no row';
      rows.push([
        `/reports/summary ${groupBy} ${group}`,
        expected,
        measured,
        expected === measured ? 'ok' : 'MISS',
      ]);
    }
  }
  return rows;
}

async function readSummary(
  gatewayUrls: string[],
  query: string,
): Promise<
  | { rows: { group: string; counts: Record<string, number>; revenueByCurrency?: Record<string, string> }[] }
  | undefined
> {
  for (const url of gatewayUrls) {
    try {
      const res = await fetch(`${url}/reports/summary?${query}`, {
        headers: { 'x-api-key': ADMIN_KEY },
        signal: AbortSignal.timeout(60_000),
      });
      if (res.ok)
        return (await res.json()) as {
          rows: {
            group: string;
            counts: Record<string, number>;
            revenueByCurrency?: Record<string, string>;
          }[];
        };
      say(`/reports/summary on ${url}: ${res.status} ${await res.text()}`);
    } catch (err) {
      say(`/reports/summary on ${url}: ${String(err)}`);
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The report: everything counted from the stores and the simulators, compared with the scenarios
// ---------------------------------------------------------------------------------------------

interface ReportInput {
  db: mongoose.Connection;
  scenarios: Map<string, Scenario>;
  steady: {
    received: ReceivedLead[];
    postbackResults: { subid: string; status?: string; httpStatus: number; attempts?: number }[];
  }[];
  sourceHits: { query: Record<string, string>; answered: number }[];
  faults: FaultRecord[];
  summary: SummaryRow[];
  intakeOk: number;
  intakeRetries: number;
}

async function buildReport(input: ReportInput): Promise<{ text: string; pass: boolean; failures: string[] }> {
  const { db, scenarios } = input;
  const leads = new Map((await db.collection('leads').find({}).toArray()).map((l) => [String(l._id), l]));
  const events = await db.collection('status_events').find({}).toArray();
  const effects = await db.collection('postback_effects').find({}).toArray();
  const logs = await db
    .collection('postbacks')
    .find({}, { projection: { outcome: 1, httpStatus: 1, leadId: 1, status: 1, receivedAt: 1 } })
    .toArray();

  const historyOf = new Map<string, { status: string; postbackId?: string }[]>();
  for (const e of events) {
    const list = historyOf.get(String(e.leadId)) ?? [];
    list.push({ status: String(e.status), postbackId: e.postbackId ? String(e.postbackId) : undefined });
    historyOf.set(String(e.leadId), list);
  }

  // Leads
  const perScenario = new Map<
    Scenario,
    { leads: number; atExpected: number; viaExpired: number; wrong: string[] }
  >();
  let atExpected = 0;
  let lostLeads = 0;
  let revenueExpected = 0;
  let revenueStored = 0;
  for (const [leadId, scenario] of scenarios) {
    const row = perScenario.get(scenario) ?? { leads: 0, atExpected: 0, viaExpired: 0, wrong: [] };
    perScenario.set(scenario, row);
    row.leads++;
    const lead = leads.get(leadId);
    const expect = EXPECT[scenario];
    revenueExpected += expect.revenueCents;
    revenueStored += Number(lead?.revenueCents ?? 0);
    if (!lead) lostLeads++;
    if (lead?.status === expect.final) {
      row.atExpected++;
      atExpected++;
    } else if (row.wrong.length < 3) row.wrong.push(`${leadId}=${String(lead?.status ?? 'missing')}`);
    if (historyOf.get(leadId)?.some((h) => h.status === 'expired')) row.viaExpired++;
  }

  // Postbacks: claims (one per lead+status), and the status events they caused.
  const expectedEffects = new Set<string>();
  for (const [leadId, scenario] of scenarios)
    for (const s of EXPECT[scenario].effects) expectedEffects.add(`${leadId}:${s}`);
  const claimed = new Set(
    effects.map((e) => `${String(e.leadId)}:${String((e.signal as { status?: string }).status)}`),
  );
  const unsent = effects.filter((e) => !e.sentAt).length;
  const appliedByPostback = new Map<string, number>();
  const appliedEffect = new Map<string, number>();
  for (const e of events) {
    if (!e.postbackId) continue;
    appliedByPostback.set(String(e.postbackId), (appliedByPostback.get(String(e.postbackId)) ?? 0) + 1);
    const key = `${String(e.leadId)}:${String(e.status)}`;
    appliedEffect.set(key, (appliedEffect.get(key) ?? 0) + 1);
  }
  // A hold the partner sent again (after a 503) once its approval had been taken in is stale: the workflow, past
  // its verdict, ignores it by design. Taken in = logged applied or queued; "after" by the gateway's clock.
  const takenAt = new Map<string, number>();
  for (const l of logs) {
    if (l.outcome !== 'applied' && l.outcome !== 'queued') continue;
    const key = `${String(l.leadId)}:${String(l.status)}`;
    const t = new Date(l.receivedAt as Date).getTime();
    takenAt.set(key, Math.min(t, takenAt.get(key) ?? t));
  }
  // What the workflow saw first is the order the signals went out: a hold whose signal waited in the outbox
  // (its first signal failed in a fault) while the approval was signalled directly reaches the workflow after it.
  const sentAt = new Map<string, number>();
  for (const e of effects) {
    if (!e.sentAt) continue;
    sentAt.set(
      `${String(e.leadId)}:${String((e.signal as { status?: string }).status)}`,
      new Date(e.sentAt as Date).getTime(),
    );
  }
  const after = (times: Map<string, number>, k: string, other: string) =>
    (times.get(k) ?? 0) > (times.get(other) ?? Infinity);
  const staleHold = (k: string) => {
    const accepted = `${k.slice(0, k.lastIndexOf(':'))}:accepted`;
    return k.endsWith(':pending') && (after(takenAt, k, accepted) || after(sentAt, k, accepted));
  };
  const staleHolds = [...expectedEffects].filter(
    (k) => claimed.has(k) && !appliedEffect.has(k) && staleHold(k),
  ).length;
  // The same stale hold, refused at the gateway instead of ignored by the workflow: the partner's retry of a
  // hold (after a 503) reached a gateway once the lead was already accepted, and was answered 409 "accepted
  // cannot become pending". Nothing was lost: the lead is past it by the partner's own approval.
  const refusedStale = new Set(
    input.steady
      .flatMap((p) => p.postbackResults)
      .filter((r) => r.httpStatus === 409 && r.status === 'hold' && takenAt.has(`${r.subid}:accepted`))
      .map((r) => `${r.subid}:pending`),
  );
  const lostPostbacks = [...expectedEffects].filter(
    (k) =>
      (!claimed.has(k) && !refusedStale.has(k)) || (claimed.has(k) && !appliedEffect.has(k) && !staleHold(k)),
  ).length;
  const staleUnclaimed = [...refusedStale].filter((k) => expectedEffects.has(k) && !claimed.has(k)).length;
  const unexpectedEffects = [...claimed].filter((k) => !expectedEffects.has(k)).length;
  const appliedTwice =
    [...appliedByPostback.values()].filter((n) => n > 1).length +
    [...appliedEffect.entries()].filter(([k, n]) => n > 1 && !k.endsWith(':pending')).length;
  const logOutcomes = countBy(logs.map((l) => String(l.outcome)));

  // What the partners saw: deliveries (a crash can repeat one) and the final answer to each postback.
  const partnerResults = input.steady.flatMap((p) => p.postbackResults);
  const deliveredTo = countBy(input.steady.flatMap((p) => p.received.map((r) => r.subid)));
  const redelivered = [...deliveredTo.values()].filter((n) => n > 1).length;
  const answers = countBy(partnerResults.map((r) => String(r.httpStatus)));
  const partnerRetried = partnerResults.filter((r) => (r.attempts ?? 1) > 1).length;
  const refused = partnerResults.filter(
    (r) =>
      (r.httpStatus < 200 || r.httpStatus >= 300) &&
      !(r.httpStatus === 409 && refusedStale.has(`${r.subid}:pending`)),
  ).length;

  // Source notifications: distinct event ids against the statuses each lead went through.
  const okHits = input.sourceHits.filter((h) => h.answered === 200);
  const seenEvents = countBy(okHits.map((h) => String(h.query.event)));
  const required = new Set<string>();
  const allowed = new Set<string>();
  for (const [leadId, scenario] of scenarios) {
    const history = new Set(historyOf.get(leadId)?.map((h) => h.status));
    for (const s of EXPECT[scenario].events) required.add(`${leadId}.${s}`);
    for (const s of EXPECT[scenario].optionalEvents) if (history.has(s)) required.add(`${leadId}.${s}`);
  }
  for (const e of required) allowed.add(e);
  const missingEvents = [...required].filter((e) => !seenEvents.has(e)).length;
  const unexpectedEvents = [...seenEvents.keys()].filter((e) => !allowed.has(e)).length;
  const duplicateDeliveries = [...seenEvents.values()].reduce((sum, n) => sum + (n - 1), 0);
  const failedHits = input.sourceHits.length - okHits.length;

  const n = scenarios.size;
  const pct = (a: number, b: number) => `${b ? round((100 * a) / b, 1) : 0}%`;
  const rows: [string, string | number, string | number, string][] = [
    ['leads taken by POST /leads', n, input.intakeOk, input.intakeOk === n ? 'ok' : 'MISS'],
    [
      'leads at the expected final status',
      n,
      `${atExpected} (${pct(atExpected, n)})`,
      atExpected === n ? 'ok' : 'MISS',
    ],
    ['leads lost (no record)', 0, lostLeads, lostLeads === 0 ? 'ok' : 'MISS'],
    [
      'revenue stored, cents',
      revenueExpected,
      revenueStored,
      revenueStored === revenueExpected ? 'ok' : 'MISS',
    ],
    [
      'postback effects expected (lead+status)',
      expectedEffects.size,
      staleUnclaimed ? `${claimed.size} + ${staleUnclaimed} stale holds refused` : claimed.size,
      claimed.size + staleUnclaimed === expectedEffects.size && unexpectedEffects === 0 ? 'ok' : 'MISS',
    ],
    ['postbacks logged (PostbackLog, all requests)', '-', logs.length, ''],
    [
      '  logged as applied or queued',
      expectedEffects.size,
      (logOutcomes.get('applied') ?? 0) + (logOutcomes.get('queued') ?? 0),
      '',
    ],
    ['  logged as duplicate', '-', logOutcomes.get('duplicate') ?? 0, ''],
    ['  logged as rejected (4xx/5xx)', '-', logOutcomes.get('rejected') ?? 0, ''],
    [
      'postbacks applied (status events from a postback)',
      expectedEffects.size,
      [...appliedEffect.keys()].filter((k) => expectedEffects.has(k)).length,
      '',
    ],
    ['postbacks lost (expected effect not applied)', 0, lostPostbacks, lostPostbacks === 0 ? 'ok' : 'MISS'],
    ['  holds that reached the workflow after the approval (stale, ignored)', '-', staleHolds, ''],
    ['  holds sent again after the approval, answered 409 (stale)', '-', refusedStale.size, ''],
    ['postbacks applied twice', 0, appliedTwice, appliedTwice === 0 ? 'ok' : 'MISS'],
    ['signals still unsent in the outbox', 0, unsent, unsent === 0 ? 'ok' : 'MISS'],
    ['partner postbacks finally refused (non-2xx)', 0, refused, refused === 0 ? 'ok' : 'MISS'],
    ['partner postbacks that needed retries', '-', partnerRetried, ''],
    ['leads delivered to a partner more than once', '-', redelivered, ''],
    ['source notifications: distinct event ids', required.size, seenEvents.size, ''],
    ['  missing', 0, missingEvents, missingEvents === 0 ? 'ok' : 'MISS'],
    ['  unexpected', 0, unexpectedEvents, unexpectedEvents === 0 ? 'ok' : 'MISS'],
    ['  duplicate deliveries (same event id again)', '-', duplicateDeliveries, ''],
    ['  attempts the source answered 500', '-', failedHits, ''],
    ['POST /leads retries by the source', '-', input.intakeRetries, ''],
    ...input.summary,
  ];
  const failures = rows
    .filter((r) => r[3] === 'MISS')
    .map((r) => `${r[0].trim()}: ${r[2]} (expected ${r[1]})`);
  const scenarioRows = [...perScenario.entries()].map(
    ([s, r]) =>
      [s, EXPECT[s].final, r.leads, r.atExpected, r.viaExpired, r.wrong.join(' ')] as (string | number)[],
  );
  const text = [
    formatTable(
      ['fault', 'at s', 'took ms', 'error'],
      input.faults.map((f) => [f.name, f.atS, f.tookMs, f.error ?? '']),
    ),
    '',
    formatTable(
      ['scenario', 'expected', 'leads', 'at expected', 'went via expired', 'examples of misses'],
      scenarioRows,
    ),
    '',
    formatTable(['check', 'expected', 'measured', ''], rows),
    '',
    `partner answers to postbacks (final attempt), by HTTP status: ${[...answers.entries()].map(([k, v]) => `${k}: ${v}`).join(', ')}`,
  ].join('\n');
  return { text, pass: failures.length === 0, failures };
}

function countBy(values: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const v of values) counts.set(v, (counts.get(v) ?? 0) + 1);
  return counts;
}

runBounded(main, Number(args.timeout) * 1000 + 120_000, say);
