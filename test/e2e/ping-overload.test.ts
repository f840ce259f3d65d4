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

const { stack, acme } = useStack({
  partners: { acme: {} },
  config: ({ acme }) => ({
    partners: [bidderPartner('acme', acme.url)],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
    routing: { auction: { timeoutMs: DEADLINE_MS, floor: '1.00' } },
  }),
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

test('pings answered in time are never turned away, however many at once', async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  // The worker's first workflow task is cold: one ping first, so the burst measures auctions, not start-up.
  expect((await ping()).status).toBe(200);
  const burst = await Promise.all(Array.from({ length: 12 }, ping));
  expect(burst.filter((r) => r.status !== 200)).toEqual([]);
  expect(await admissionLimit()).toBe(1000);
  const { status, body } = await postJson(`${stack.baseUrl}/ping`, PING, SOURCE_KEY);
  expect([status, body.bid]).toEqual([200, '9.00']);
}, 60_000);

test("a buyer that lets every ping time out is the buyer's time, not the gateway being late", async () => {
  acme.setPingBehavior(() => ({ bid: '9.00', latencyMs: DEADLINE_MS + 500 }));
  const started = performance.now();
  const slow = await Promise.all(Array.from({ length: 4 }, ping));
  expect(performance.now() - started).toBeGreaterThan(DEADLINE_MS);
  expect(slow.map((r) => [r.status, r.body.bid])).toEqual(Array.from({ length: 4 }, () => [200, null]));
  expect(await admissionLimit()).toBe(1000);
}, 60_000);

test('late answers lower the pings taken in at once; the rest are answered 503 overloaded at once, storing nothing', async () => {
  acme.setPingBehavior(() => ({ bid: '9.00' }));
  expect((await ping()).body).toMatchObject({ bid: '9.00' });
  await stack.stopWorker();
  try {
    // Six auctions no worker runs: each answers 503 after the gateway's whole wait, too late for its source.
    const late = await Promise.all(Array.from({ length: 6 }, ping));
    expect(late.map((r) => [r.status, errorCode(r)])).toEqual(
      Array.from({ length: 6 }, () => [503, 'dependency_unavailable']),
    );
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
