// A gateway behind on its auctions turns pings away at once instead of starting more it cannot answer in time
// (apps/gateway/ping-admission.ts): over HTTP on the real servers, with the worker stopped so that every
// auction answers late, then started again.
import { Lead } from '../../shared/models';
import { bidderPartner } from '../support/bidders';
import { useStack } from '../support/e2e';
import { postJson } from '../support/stack';

const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
const PING = { vertical: 'auto', geo: { country: 'US', state: 'TX' } };
// The gateway waits the deadline and 2 s for an answer (pingAnswerWaitMs): 4 s of its own, when an answer's own
// time (not waiting on buyers) over half the deadline is late.
const DEADLINE_MS = 2000;

/** The routing config of this file, with an auction deadline of `timeoutMs`. */
const config = (acmeUrl: string, timeoutMs = DEADLINE_MS) => ({
  partners: [bidderPartner('acme', acmeUrl)],
  sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
  routing: { auction: { timeoutMs, floor: '1.00' } },
});

const { stack, acme } = useStack({
  partners: { acme: {} },
  config: ({ acme }) => config(acme.url),
});

/** A gauge or counter of the gateway's /metrics, as operators read it. */
async function metric(line: RegExp): Promise<number> {
  const text = await (await fetch(`${stack.baseUrl}/metrics`)).text();
  return Number(line.exec(text)?.[1]);
}
const admissionLimit = () => metric(/^leadrouter_ping_admission_limit (\S+)$/m);
const shedTotal = () => metric(/^leadrouter_pings_shed_total\{source="src-1"\} (\S+)$/m);

const errorCode = (r: { body: Record<string, unknown> }) =>
  (r.body.error as { code?: string } | undefined)?.code;

async function ping() {
  const t = performance.now();
  const res = await fetch(`${stack.baseUrl}/ping`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...SOURCE_KEY },
    body: JSON.stringify(PING),
  });
  const body = (await res.json()) as Record<string, unknown>;
  return { status: res.status, body, retryAfter: res.headers.get('retry-after'), ms: performance.now() - t };
}

test('a gateway that has seen no late answers takes a burst of pings in whole', async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  // The worker's first workflow task is cold: one ping first (one late answer alone lowers nothing).
  expect((await ping()).status).toBe(200);
  const burst = await Promise.all(Array.from({ length: 12 }, ping));
  expect(burst.filter((r) => r.status !== 200)).toEqual([]);
  const { status, body } = await postJson(`${stack.baseUrl}/ping`, PING, SOURCE_KEY);
  expect([status, body.bid]).toEqual([200, '9.00']);
}, 60_000);

test("a buyer that lets every ping time out is the buyer's time, not the gateway being late", async () => {
  // A deadline long enough that no answer's own time comes near half of it, on however busy a machine; the
  // buyer answers after it, so each answer takes the whole deadline, far more than half of it.
  const deadlineMs = 6000;
  stack.useConfig(config(acme.url, deadlineMs));
  try {
    acme.setPingBehavior(() => ({ bid: '9.00', latencyMs: deadlineMs + 500 }));
    const before = await admissionLimit();
    const started = performance.now();
    const slow = await Promise.all(Array.from({ length: 4 }, ping));
    expect(performance.now() - started).toBeGreaterThan(deadlineMs);
    // Each answer took more than half the deadline: judged by its whole time, each would have been late.
    expect(slow.filter((r) => r.ms <= deadlineMs / 2)).toEqual([]);
    expect(slow.filter((r) => r.status === 200).map((r) => r.body.bid)).toContain(null);
    // Answers in time only raise the limit; judged by their whole time, these four would have lowered it.
    expect(await admissionLimit()).toBeGreaterThanOrEqual(before);
  } finally {
    stack.useConfig(config(acme.url));
  }
}, 60_000);

test('late answers lower the pings taken in at once; the rest are answered 503 overloaded at once, storing nothing', async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  expect((await ping()).body).toMatchObject({ bid: '9.00' });
  await stack.stopWorker();
  try {
    // Six auctions no worker runs: each answers 503 after the gateway's whole wait, too late for its source.
    const late = await Promise.all(Array.from({ length: 6 }, ping));
    expect(late.filter((r) => r.status !== 503)).toEqual([]);
    expect(late.filter((r) => errorCode(r) === 'dependency_unavailable').length).toBeGreaterThanOrEqual(3);
    // A run of late answers lowers the limit (the third in a row, or sooner after earlier slow ones), to 90% of
    // what was running with it: at most 5 of the 6.
    const limit = await admissionLimit();
    expect(limit).toBeGreaterThanOrEqual(2);
    expect(limit).toBeLessThanOrEqual(5);
    const leadsBefore = await Lead.countDocuments();
    const started = performance.now();
    const next = await Promise.all(Array.from({ length: 8 }, ping));
    const shed = next.filter((r) => errorCode(r) === 'overloaded');
    expect(shed).toHaveLength(8 - limit);
    for (const r of shed) {
      expect(r.status).toBe(503);
      expect(r.retryAfter).toBe('1');
      expect(r.ms).toBeLessThan(DEADLINE_MS);
    }
    expect(next.filter((r) => errorCode(r) === 'dependency_unavailable')).toHaveLength(limit);
    expect(performance.now() - started).toBeGreaterThan(DEADLINE_MS + 1000);
    expect(await shedTotal()).toBe(8 - limit);
    // The pings turned away stored no lead; those taken in did.
    expect(await Lead.countDocuments()).toBe(leadsBefore + limit);
  } finally {
    await stack.startWorker();
  }
  // Answered in time again: every ping in turn gets its bid.
  for (let i = 0; i < 3; i++) expect(await ping()).toMatchObject({ status: 200, body: { bid: '9.00' } });
}, 60_000);
