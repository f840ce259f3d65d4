// The postback log's queries on the real Mongo-wire server, from stored lines: filters, paging by cursor, a window
// that ends before it starts, and the refusal summary's defaults (the last 24 h; lines without partner or code).
import { listPostbacks, refusalSummary } from '../../apps/gateway/admin-postbacks';
import { encodeCursor } from '../../apps/gateway/cursor';
import { AppError } from '../../shared/errors';
import { PostbackLog } from '../../shared/models';
import { useDatabase } from '../support/e2e';

const NOW = new Date('2026-11-26T12:00:00Z');
const at = (minutesAgo: number) => new Date(NOW.getTime() - minutesAgo * 60_000);

useDatabase('postback-log');

beforeAll(async () => {
  await PostbackLog.create([
    // A refusal before any partner could be told (no token matched), with no code: an old line.
    { receivedAt: at(10), outcome: 'rejected', httpStatus: 401 },
    {
      receivedAt: at(20),
      outcome: 'rejected',
      partnerId: 'acme',
      errorCode: 'unknown_lead',
      httpStatus: 404,
    },
    {
      receivedAt: at(30),
      outcome: 'rejected',
      partnerId: 'acme',
      errorCode: 'unknown_lead',
      httpStatus: 404,
    },
    { receivedAt: at(40), outcome: 'rejected', partnerId: 'beta', errorCode: 'bad_credentials' },
    { receivedAt: at(50), outcome: 'rejected', partnerId: 'acme', errorCode: 'bad_credentials' },
    {
      receivedAt: at(60),
      outcome: 'applied',
      partnerId: 'acme',
      leadId: 'lead-1',
      rawStatus: 'approved',
      status: 'accepted',
      payoutCents: 1250,
      currency: 'EUR',
      httpStatus: 200,
    },
    { receivedAt: at(60), outcome: 'test', partnerId: 'acme', wouldApply: false, reason: 'unknown lead' },
    // Two days ago: outside the summary's default window.
    { receivedAt: at(48 * 60), outcome: 'rejected', partnerId: 'gamma', errorCode: 'bad_credentials' },
  ]);
});

const query = (q: Partial<Parameters<typeof listPostbacks>[0]> = {}) => listPostbacks({ limit: 50, ...q });

test('every line newest first, fields as stored; a payout in cents shows as an amount with its currency', async () => {
  const page = await query();
  expect(page.nextCursor).toBeUndefined();
  expect(page.postbacks.map((p) => p.receivedAt)).toEqual(
    [...page.postbacks.map((p) => p.receivedAt)].sort().reverse(),
  );
  expect(page.postbacks).toHaveLength(8);
  const applied = page.postbacks.find((p) => p.outcome === 'applied');
  expect(applied).toMatchObject({ leadId: 'lead-1', payout: '12.50', currency: 'EUR', status: 'accepted' });
  const anonymous = page.postbacks[0];
  expect(anonymous).toMatchObject({ outcome: 'rejected', httpStatus: 401 });
  expect(anonymous?.partnerId).toBeUndefined();
  expect(anonymous?.payout).toBeUndefined();
  const test = page.postbacks.find((p) => p.outcome === 'test');
  expect(test).toMatchObject({ wouldApply: false, reason: 'unknown lead' });
});

test('filters by partner, outcome, code and window; pages of two follow each other without gaps', async () => {
  const acmeRefused = await query({ partnerId: 'acme', outcome: 'rejected', code: 'unknown_lead' });
  expect(acmeRefused.postbacks.map((p) => p.receivedAt)).toEqual(
    [at(20), at(30)].map((d) => d.toISOString()),
  );
  const windowed = await query({ from: at(45).toISOString(), to: at(15).toISOString() });
  expect(windowed.postbacks.map((p) => p.receivedAt)).toEqual(
    [at(20), at(30), at(40)].map((d) => d.toISOString()),
  );

  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await query({ limit: 2, cursor });
    seen.push(...page.postbacks.map((p) => p.id));
    cursor = page.nextCursor;
    pages++;
  } while (cursor);
  expect(pages).toBe(4);
  expect(seen).toEqual((await query()).postbacks.map((p) => p.id));
});

test('a window that ends before it starts, and a cursor that is not one of ours, are invalid requests', async () => {
  await expect(query({ from: at(10).toISOString(), to: at(20).toISOString() })).rejects.toMatchObject({
    code: 'invalid_request',
    issues: [{ path: 'from', message: 'must not be after to' }],
  });
  const forged = encodeCursor(at(10), 'not-an-object-id');
  await expect(query({ cursor: forged })).rejects.toBeInstanceOf(AppError);
  await expect(query({ cursor: forged })).rejects.toMatchObject({
    code: 'invalid_request',
    message: 'invalid cursor',
  });
  await expect(query({ cursor: 'garbage' })).rejects.toMatchObject({ message: 'invalid cursor' });
  await expect(
    refusalSummary({ from: at(10).toISOString(), to: at(20).toISOString() }, NOW),
  ).rejects.toMatchObject({ code: 'invalid_request' });
});

test('refusal summary: the last 24 h by default, most first, ties by partner then code; unknown partner and code named', async () => {
  const summary = await refusalSummary({}, NOW);
  expect(summary.from).toBe(at(24 * 60).toISOString());
  expect(summary.to).toBe(NOW.toISOString());
  expect(summary.rows).toEqual([
    { partnerId: 'acme', code: 'unknown_lead', count: 2 },
    { partnerId: '(unknown)', code: '(none)', count: 1 },
    { partnerId: 'acme', code: 'bad_credentials', count: 1 },
    { partnerId: 'beta', code: 'bad_credentials', count: 1 },
  ]);
  // From a given start to now; one partner.
  const acme = await refusalSummary({ partnerId: 'acme', from: at(35).toISOString() }, NOW);
  expect(acme.rows).toEqual([{ partnerId: 'acme', code: 'unknown_lead', count: 2 }]);
  // An explicit end reaches back 24 h from it: the two-day-old line.
  const older = await refusalSummary({ to: at(47 * 60).toISOString() }, NOW);
  expect(older.rows).toEqual([{ partnerId: 'gamma', code: 'bad_credentials', count: 1 }]);
});
