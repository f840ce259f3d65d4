// Grouped reads on the real Mongo-wire server: concurrent reads by `_id` go out as one `find` with `$in`, and each
// caller gets its own document (or null), projected; a failed read fails every caller of its batch.
import { MongoClient, type CommandStartedEvent } from 'mongodb';
import { BatchedReads } from '../../shared/batched-reads';
import { testEnv, uniqueDbName } from '../support/servers';

interface Doc {
  _id: string;
  n: number;
  secret?: string;
}

let client: MongoClient;
let dbName: string;
const finds: CommandStartedEvent[] = [];

beforeAll(async () => {
  client = new MongoClient(testEnv().mongoUri, { monitorCommands: true });
  client.on('commandStarted', (e) => {
    if (e.commandName === 'find') finds.push(e);
  });
  await client.connect();
  dbName = uniqueDbName('batched-reads');
  await docs().insertMany(Array.from({ length: 30 }, (_, n) => ({ _id: `d-${n}`, n, secret: 's' })));
});

afterAll(async () => {
  await client.db(dbName).dropDatabase();
  await client.close();
});

const docs = () => client.db(dbName).collection<Doc>('docs');

test('reads asked for in one turn go out as one find; each caller gets its own document or null', async () => {
  const reads = new BatchedReads<Doc>(() => docs() as never, { n: 1 });
  finds.length = 0;
  const ids = ['d-3', 'd-17', 'missing', 'd-3', 'd-29'];
  const found = await Promise.all(ids.map((id) => reads.get(id)));
  expect(found).toEqual([
    { _id: 'd-3', n: 3 },
    { _id: 'd-17', n: 17 },
    null,
    { _id: 'd-3', n: 3 },
    { _id: 'd-29', n: 29 },
  ]);
  expect(finds).toHaveLength(1);
  expect(finds[0]!.command.filter).toEqual({ _id: { $in: ['d-3', 'd-17', 'missing', 'd-29'] } });
});

test('existing() keeps the documents found, in the order asked; reads of later turns are read again', async () => {
  const reads = new BatchedReads<Doc>(() => docs() as never, { n: 1 });
  finds.length = 0;
  expect(await reads.existing(['d-9', 'nope', 'd-1'])).toEqual([
    { _id: 'd-9', n: 9 },
    { _id: 'd-1', n: 1 },
  ]);
  await docs().updateOne({ _id: 'd-9' }, { $set: { n: 90 } });
  // Never answered from a cache: the second read sees the update.
  expect(await reads.get('d-9')).toEqual({ _id: 'd-9', n: 90 });
  expect(finds).toHaveLength(2);
});

test('a batch larger than maxBatch is split', async () => {
  const reads = new BatchedReads<Doc>(() => docs() as never, { n: 1 }, 8);
  finds.length = 0;
  const found = await Promise.all(Array.from({ length: 20 }, (_, n) => reads.get(`d-${n}`)));
  expect(found.map((d) => d?.n)).toEqual(Array.from({ length: 20 }, (_, n) => (n === 9 ? 90 : n)));
  expect(finds.map((f) => (f.command.filter._id.$in as unknown[]).length).sort()).toEqual([4, 8, 8]);
});

test("a failed read rejects every caller of its batch with the server's error", async () => {
  // Inclusion and exclusion in one projection: the server refuses the find.
  const failing = new BatchedReads<Doc>(() => docs() as never, { n: 1, secret: 0 } as never);
  const results = await Promise.allSettled([failing.get('d-1'), failing.get('d-2')]);
  expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
  const [first, second] = results.map((r) => (r as PromiseRejectedResult).reason as Error);
  expect(first!.message).toMatch(/projection|exclusion|inclusion/i);
  expect(second).toBe(first);
});
