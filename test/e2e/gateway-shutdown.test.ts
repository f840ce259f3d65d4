// The real entry points as processes with production defaults (NODE_ENV=production, reconciler and housekeeping
// on): a gateway gets SIGTERM in the middle of a steady stream of postbacks while the clients, as a load balancer
// would, retry on the other gateway. No request is lost, none is answered 5xx but a 503 with Retry-After, every
// lead ends accepted, the gateway exits 0 after draining, and the worker drains and exits 0 too.
import fs from 'node:fs';
import type { ManagedProcess } from '../../scripts/processes';
import { startPartnerSimulator, type PartnerSimulator } from '../../scripts/simulators';
import {
  appEnv,
  output,
  startGatewayProcess,
  startWorkerProcess,
  type GatewayProcess,
  appConfig,
  processDir,
} from '../support/app-processes';
import { eventually, getJson, postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'shutdown-source-key-0123456789' };
const TOKEN = 'shutdown-partner-token-0123456789';
const LEADS = 60;
const SENDERS = 4;

let dir: string;
let partner: PartnerSimulator;
let worker: ManagedProcess;
let gatewayA: GatewayProcess;
let gatewayB: GatewayProcess;

beforeAll(async () => {
  dir = processDir('shutdown');
  partner = await startPartnerSimulator(); // answers 200 and posts nothing back: the test is the partner
  const env = appEnv(
    appConfig(dir, {
      partnerUrl: partner.url,
      token: TOKEN,
      sourceKey: SOURCE_KEY['x-api-key'],
      acme: { delivery: { url: `${partner.url}/leads`, timeoutMs: 5000 }, payout: 4 },
    }),
  );
  [worker, gatewayA, gatewayB] = await Promise.all([
    startWorkerProcess('worker', env, dir),
    // A keeps answering for a moment after SIGTERM with /readyz at 503, as behind a load balancer.
    startGatewayProcess('gateway-a', { ...env, DRAIN_DELAY_MS: '1000' }, dir),
    startGatewayProcess('gateway-b', env, dir),
  ]);
}, 120_000);

afterAll(async () => {
  for (const p of [gatewayA?.process, gatewayB?.process, worker]) await p?.stop({ graceMs: 20_000 });
  await partner?.stop();
  if (dir && !process.env.LEADROUTER_KEEP_TEST_DATA) fs.rmSync(dir, { recursive: true, force: true });
});

interface Answer {
  gateway: 'a' | 'b';
  status: number;
  retryAfter: string | null;
  at: 'before' | 'draining' | 'after-exit';
}

test('SIGTERM mid-stream: nothing lost, no 5xx but 503 with Retry-After, a clean exit', async () => {
  const leadIds: string[] = [];
  for (let i = 0; i < LEADS; i++) {
    const created = await postJson(
      `${gatewayB.url}/leads`,
      { clickId: `sd-${i}`, vertical: 'auto' },
      SOURCE_KEY,
    );
    expect(created.status).toBe(202);
    leadIds.push(created.body.leadId as string);
  }
  await eventually(
    async () => (new Set(partner.received.map((l) => l.subid)).size === LEADS ? true : undefined),
    90_000,
    'every lead delivered',
  );
  for (const id of leadIds)
    await eventually(
      async () =>
        (await getJson(`${gatewayB.url}/leads/${id}`, SOURCE_KEY)).body.status === 'pending'
          ? true
          : undefined,
      30_000,
      `lead ${id} pending`,
    );

  const answers: Answer[] = [];
  const lost: string[] = [];
  let phase: Answer['at'] = 'before';
  void gatewayA.process.exited.then(() => (phase = 'after-exit'));
  const queue = [...leadIds];
  let sent = 0;

  /** One postback as a load balancer sends it: gateway A first; refused, cut or 503 -> gateway B. */
  async function send(leadId: string): Promise<void> {
    const query = `subid=${leadId}&status=approved&txid=tx-${leadId}&token=${TOKEN}`;
    for (const [name, gw] of [
      ['a', gatewayA],
      ['b', gatewayB],
    ] as const) {
      const at = phase;
      try {
        const res = await fetch(`${gw.url}/postback/acme?${query}`);
        await res.text();
        answers.push({ gateway: name, status: res.status, retryAfter: res.headers.get('retry-after'), at });
        if (res.status !== 503) return;
      } catch {
        // connection refused or closed: the next gateway
      }
    }
    lost.push(leadId);
  }

  const stream = async () => {
    // Fresh leads first, then the same postbacks again (a partner's retries, answered as duplicates), until
    // gateway A is gone and gateway B alone has answered a while.
    while (sent < 5000) {
      const afterExit = answers.filter((a) => a.at === 'after-exit').length;
      if (!queue.length && phase === 'after-exit' && afterExit >= 20) return;
      const leadId = queue.shift() ?? leadIds[sent % LEADS]!;
      sent++;
      await send(leadId);
      await new Promise((r) => setTimeout(r, 10));
    }
  };
  const streaming = Promise.all(Array.from({ length: SENDERS }, stream));

  await eventually(
    async () => (answers.filter((a) => a.gateway === 'a').length >= 15 ? true : undefined),
    60_000,
    'gateway A answering',
  );
  gatewayA.process.child.kill('SIGTERM');
  phase = 'draining';
  // While it drains it says so, and still answers.
  const readiness = await eventually(
    async () => {
      const res = await fetch(`${gatewayA.url}/readyz`);
      return res.status === 503
        ? { retryAfter: res.headers.get('retry-after'), body: await res.json() }
        : undefined;
    },
    10_000,
    'gateway A not ready',
  );
  expect(readiness).toEqual({
    retryAfter: '5',
    body: expect.objectContaining({ ok: false, draining: true }),
  });
  await streaming;
  await gatewayA.process.exited;

  expect(lost).toEqual([]);
  const bad = answers.filter((a) => a.status >= 500 && !(a.status === 503 && a.retryAfter));
  expect(bad).toEqual([]);
  expect(new Set(answers.map((a) => a.status))).toEqual(new Set([200]));
  expect(answers.some((a) => a.gateway === 'a' && a.at === 'draining')).toBe(true);
  expect(answers.filter((a) => a.gateway === 'b' && a.at === 'after-exit').length).toBeGreaterThanOrEqual(20);
  expect(gatewayA.process.child.exitCode).toBe(0);
  expect(output(gatewayA.process)).toContain('"gateway stopped"');

  // Every postback's effect is there: each lead accepted, exactly once.
  for (const id of leadIds) {
    const lead = await eventually(
      async () => {
        const view = await getJson(`${gatewayB.url}/leads/${id}`, SOURCE_KEY);
        return view.body.status === 'accepted' ? view.body : undefined;
      },
      30_000,
      `lead ${id} accepted`,
    );
    expect((lead.history as { status: string }[]).map((h) => h.status)).toEqual([
      'received',
      'pending',
      'accepted',
    ]);
  }

  // The worker drains on SIGTERM and exits cleanly.
  worker.child.kill('SIGTERM');
  await worker.exited;
  expect(worker.child.exitCode).toBe(0);
  expect(output(worker)).toContain('"worker stopped"');
}, 300_000);
