// How reports read status events on the real Mongo-wire server: events from before `recordedAt` existed (by
// `at`), events without a partner, source or revenue, merged in time order across batches; and the insert-only
// writes the read model is made of, which let a duplicate pass and nothing else.
import mongoose from 'mongoose';
import { insertNew, statusEventsInOrder, statusEventsRecorded } from '../../shared/reports/events';
import { StatusEvent } from '../../shared/models';
import { useDatabase } from '../support/e2e';

const T0 = Date.parse('2026-11-26T10:00:00Z');
const min = (m: number) => new Date(T0 + m * 60_000);

useDatabase('report-events');

beforeAll(async () => {
  await StatusEvent.create([
    { _id: 'a:0', leadId: 'a', sourceId: 'src-1', status: 'received', at: min(0), recordedAt: min(1) },
    {
      _id: 'a:1',
      leadId: 'a',
      sourceId: 'src-1',
      partnerId: 'acme',
      status: 'accepted',
      at: min(5),
      recordedAt: min(6),
      revenueDeltaCents: 1250,
      currency: 'EUR',
      decisionMs: 4000,
    },
    // Old events: no recordedAt, counted at `at`; one without a currency was paid in the default.
    { _id: 'old:0', leadId: 'old', sourceId: 'src-2', status: 'received', at: min(2), duplicateOf: 'a' },
    {
      _id: 'old:1',
      leadId: 'old',
      partnerId: 'acme',
      status: 'accepted',
      at: min(8),
      revenueDeltaCents: 500,
    },
    { _id: 'b:0', leadId: 'b', status: 'failed', at: min(9), recordedAt: min(10) },
  ]);
  // An event as an old writer stored it: no revenue field at all (the schema default fills it on create).
  await StatusEvent.collection.insertOne({
    _id: 'c:0',
    leadId: 'c',
    status: 'expired',
    at: min(3),
  } as unknown as Parameters<typeof StatusEvent.collection.insertOne>[0]);
});

test('in recorded order across both kinds and across batches; missing fields as none, no revenue as no currency', async () => {
  const events: Awaited<ReturnType<typeof statusEventsRecorded>> = [];
  for await (const e of statusEventsInOrder(-Infinity, Infinity, 2)) events.push({ _id: '', ...e });
  expect(events.map((e) => [e.t, e.status, e.sourceId, e.partnerId])).toEqual([
    [min(1).getTime(), 'received', 'src-1', null],
    [min(2).getTime(), 'received', 'src-2', null],
    [min(3).getTime(), 'expired', null, null],
    [min(6).getTime(), 'accepted', 'src-1', 'acme'],
    [min(8).getTime(), 'accepted', null, 'acme'],
    [min(10).getTime(), 'failed', null, null],
  ]);
  const byTime = new Map(events.map((e) => [e.t, e]));
  expect(byTime.get(min(2).getTime())).toMatchObject({ duplicate: true, cents: 0, currency: '' });
  expect(byTime.get(min(3).getTime())).toMatchObject({ cents: 0, currency: '' });
  expect(byTime.get(min(3).getTime())).not.toHaveProperty('duplicate');
  expect(byTime.get(min(6).getTime())).toMatchObject({ cents: 1250, currency: 'EUR', decisionMs: 4000 });
  expect(byTime.get(min(8).getTime())).toMatchObject({ cents: 500, currency: 'USD' });
  expect(byTime.get(min(8).getTime())).not.toHaveProperty('decisionMs');
});

test('a window [from, to) applies to recordedAt, and to `at` for old events', async () => {
  const inWindow: number[] = [];
  for await (const e of statusEventsInOrder(min(2).getTime(), min(8).getTime())) inWindow.push(e.t);
  expect(inWindow).toEqual([min(2), min(3), min(6)].map((d) => d.getTime()));
  // Only old events left in the window: the other cursor is empty from the start.
  const legacyOnly: string[] = [];
  for await (const e of statusEventsInOrder(min(7).getTime(), min(9).getTime())) legacyOnly.push(e.status);
  expect(legacyOnly).toEqual(['accepted']);

  const recorded = await statusEventsRecorded(min(6).getTime());
  expect(recorded.map((e) => e._id).sort()).toEqual(['a:1', 'b:0', 'old:1']);
  const bounded = await statusEventsRecorded(min(0).getTime(), min(3).getTime());
  expect(bounded.map((e) => e._id).sort()).toEqual(['a:0', 'old:0']);
});

test('insertNew: duplicates of what is there pass, the new ones are written, in batches of 500', async () => {
  const collection = mongoose.connection.db!.collection<{ _id: string; n: number }>('insert_new_test');
  await insertNew(collection, [{ _id: 'x', n: 1 }]);
  // One duplicate (the first batch's error lists it), then 600 new ones over two batches.
  const docs = [{ _id: 'x', n: 1 }, ...Array.from({ length: 600 }, (_, i) => ({ _id: `y${i}`, n: i }))];
  await insertNew(collection, docs);
  expect(await collection.countDocuments()).toBe(601);
  // All of them again: every document a duplicate.
  await insertNew(collection, docs);
  expect(await collection.countDocuments()).toBe(601);
});

test('insertNew: any other write error is thrown', async () => {
  const collection = mongoose.connection.db!.collection<{ _id: string }>('insert_new_test_invalid');
  // A field name starting with `$` is refused: not a duplicate, so not swallowed.
  await expect(
    insertNew(collection, [{ _id: 'bad', $n: 1 } as unknown as { _id: string }]),
  ).rejects.toThrow();
  expect(await collection.countDocuments({ _id: 'bad' })).toBe(0);
});
