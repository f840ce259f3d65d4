// Group commit on the real Mongo-wire server: concurrent inserts go in as few insertMany commands, and each
// caller still gets its own outcome (a duplicate key is that caller's error only).
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { BatchedInserts, InsertError } from '../../shared/batched-inserts';
import { isDuplicateKey } from '../../shared/models';
import { testEnv, uniqueDbName } from '../support/servers';

interface Doc {
  _id: string;
  n: number;
  note?: string;
}

let client: MongoClient;
let dbName: string;
const inserts: CommandStartedEvent[] = [];

beforeAll(async () => {
  client = new MongoClient(testEnv().mongoUri, { monitorCommands: true });
  client.on('commandStarted', (e) => {
    if (e.commandName === 'insert') inserts.push(e);
  });
  await client.connect();
  dbName = uniqueDbName('batched');
});

afterAll(async () => {
  await client.db(dbName).dropDatabase();
  await client.close();
});

const docs = () => client.db(dbName).collection<Doc>('docs');

test('60 concurrent inserts: all stored, in far fewer insert commands, absent fields left out', async () => {
  const batched = new BatchedInserts<Doc>(docs);
  inserts.length = 0;
  await Promise.all(
    Array.from({ length: 60 }, (_, n) => batched.insert({ _id: `a-${n}`, n, note: undefined })),
  );
  expect(await docs().countDocuments({ _id: { $regex: '^a-' } })).toBe(60);
  expect(inserts.length).toBeGreaterThanOrEqual(1);
  expect(inserts.length).toBeLessThanOrEqual(3);
  expect(await docs().findOne({ _id: 'a-7' })).toEqual({ _id: 'a-7', n: 7 });
});

test('a batch of 40 is split by maxBatch', async () => {
  const batched = new BatchedInserts<Doc>(docs, 15);
  inserts.length = 0;
  await Promise.all(Array.from({ length: 40 }, (_, n) => batched.insert({ _id: `m-${n}`, n })));
  // The three commands are issued in turn but may take pool connections in another order.
  expect(inserts.map((e) => (e.command.documents as unknown[]).length).sort((a, b) => a - b)).toEqual([
    10, 15, 15,
  ]);
});

test('duplicates fail alone: the callers of new documents succeed, each duplicate gets code 11000', async () => {
  await docs().insertOne({ _id: 'd-existing', n: 0 });
  const batched = new BatchedInserts<Doc>(docs);
  const results = await Promise.allSettled([
    batched.insert({ _id: 'd-1', n: 1 }),
    batched.insert({ _id: 'd-existing', n: 2 }), // already stored
    batched.insert({ _id: 'd-3', n: 3 }),
    batched.insert({ _id: 'd-1', n: 4 }), // the same batch's first wins
    batched.insert({ _id: 'd-5', n: 5 }),
  ]);
  expect(results.map((r) => r.status)).toEqual([
    'fulfilled',
    'rejected',
    'fulfilled',
    'rejected',
    'fulfilled',
  ]);
  for (const r of results.filter((x): x is PromiseRejectedResult => x.status === 'rejected')) {
    expect(r.reason).toBeInstanceOf(InsertError);
    expect(isDuplicateKey(r.reason)).toBe(true);
  }
  const stored = await docs()
    .find({ _id: { $regex: '^d-' } })
    .sort({ _id: 1 })
    .toArray();
  expect(stored).toEqual([
    { _id: 'd-1', n: 1 },
    { _id: 'd-3', n: 3 },
    { _id: 'd-5', n: 5 },
    { _id: 'd-existing', n: 0 },
  ]);
});

test('when the database cannot be reached, every caller of the batch gets the error', async () => {
  const closed = new MongoClient(testEnv().mongoUri);
  await closed.connect();
  await closed.close();
  const batched = new BatchedInserts<Doc>(() => closed.db(dbName).collection<Doc>('docs'));
  const results = await Promise.allSettled([
    batched.insert({ _id: 'x-1', n: 1 }),
    batched.insert({ _id: 'x-2', n: 2 }),
  ]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  expect(await docs().countDocuments({ _id: { $in: ['x-1', 'x-2'] } })).toBe(0);
});

test('a bounded queue: inserts beyond maxWaiting are refused at once with a 503 code, the others stored', async () => {
  const batched = new BatchedInserts<Doc>(docs, 200, 3);
  const results = await Promise.allSettled(
    Array.from({ length: 5 }, (_, n) => batched.insert({ _id: `q-${n}`, n })),
  );
  expect(results.map((r) => r.status)).toEqual([
    'fulfilled',
    'fulfilled',
    'fulfilled',
    'rejected',
    'rejected',
  ]);
  expect((results[3] as PromiseRejectedResult).reason).toMatchObject({
    code: 'dependency_unavailable',
    status: 503,
  });
  expect(await docs().countDocuments({ _id: { $regex: '^q-' } })).toBe(3);
  // Once those are stored the queue takes more again.
  await batched.insert({ _id: 'q-after', n: 9 });
  expect(await docs().countDocuments({ _id: 'q-after' })).toBe(1);
});
