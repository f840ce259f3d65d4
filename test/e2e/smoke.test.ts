// Smoke test of the shared dev servers from global setup: Mongo reads and writes, a workflow runs on the Temporal dev server, and a private dev server survives a restart.
import { Client, Connection } from '@temporalio/client';
import { NativeConnection, Worker } from '@temporalio/worker';
import mongoose from 'mongoose';
import { smokeGreeting } from '../support/smoke-workflows';
import { startOwnTemporal, testEnv, uniqueDbName, uniqueTaskQueue } from '../support/servers';

const workflowsPath = require.resolve('../support/smoke-workflows');

describe('smoke: shared dev servers', () => {
  it('writes and reads a document in a fresh database', async () => {
    const conn = await mongoose
      .createConnection(testEnv().mongoUri, { dbName: uniqueDbName('smoke') })
      .asPromise();
    try {
      const Note = conn.model('Note', new mongoose.Schema({ text: String }));
      await Note.create({ text: 'hi' });
      const found = await Note.findOne({ text: 'hi' }).lean();
      expect(found?.text).toBe('hi');
    } finally {
      await conn.dropDatabase();
      await conn.close();
    }
  });

  it('finds, updates and deletes by _id through the _id index, not a collection scan', async () => {
    const conn = await mongoose
      .createConnection(testEnv().mongoUri, { dbName: uniqueDbName('smoke-id') })
      .asPromise();
    try {
      const col = conn.db!.collection<{ _id: string; n: number }>('docs');
      await col.insertMany(Array.from({ length: 50 }, (_, n) => ({ _id: `doc-${n}`, n })));
      const explain = await conn.db!.command({
        explain: { find: 'docs', filter: { _id: 'doc-7' }, limit: 1 },
      });
      // mongod says IDHACK or IXSCAN; FerretDB (our build, decision 0001) shows SQLite's plan.
      expect(JSON.stringify(explain.queryPlanner)).toMatch(/IDHACK|IXSCAN|USING INDEX/);
      expect(JSON.stringify(explain.queryPlanner)).not.toMatch(/COLLSCAN|detail=SCAN/);
      await col.updateOne({ _id: 'doc-7' }, { $set: { n: 70 } });
      await col.deleteOne({ _id: 'doc-8' });
      expect(await col.findOne({ _id: 'doc-7' })).toEqual({ _id: 'doc-7', n: 70 });
      expect(await col.findOne({ _id: 'doc-8' })).toBeNull();
      expect(await col.countDocuments()).toBe(49);
    } finally {
      await conn.dropDatabase();
      await conn.close();
    }
  });

  it('reads several documents by _id in one find through the _id index, and only those', async () => {
    const conn = await mongoose
      .createConnection(testEnv().mongoUri, { dbName: uniqueDbName('smoke-id-in') })
      .asPromise();
    try {
      type Id = string | number | mongoose.Types.ObjectId;
      const col = conn.db!.collection<{ _id: Id; n: number }>('docs');
      const oid = new mongoose.Types.ObjectId();
      await col.insertMany([
        ...Array.from({ length: 50 }, (_, n) => ({ _id: `doc-${n}`, n })),
        { _id: oid, n: 100 },
        { _id: 7, n: 7 },
      ]);
      const filter = { _id: { $in: ['doc-3', 'doc-41', 'missing', oid] } };
      const explain = await conn.db!.command({ explain: { find: 'docs', filter } });
      expect(JSON.stringify(explain.queryPlanner)).toMatch(/IDHACK|IXSCAN|USING INDEX/);
      expect(JSON.stringify(explain.queryPlanner)).not.toMatch(/COLLSCAN|detail=SCAN/);
      const found = await col.find(filter).toArray();
      expect(found.map((d) => d.n).sort((a, b) => a - b)).toEqual([3, 41, 100]);
      // Values it does not push down (a number here) are still matched, by reading the collection.
      const mixed = await col.find({ _id: { $in: ['doc-5', 7] } }).toArray();
      expect(mixed.map((d) => d.n).sort((a, b) => a - b)).toEqual([5, 7]);
      expect(await col.find({ _id: { $in: [] } }).toArray()).toEqual([]);
    } finally {
      await conn.dropDatabase();
      await conn.close();
    }
  });

  it('runs a workflow to completion on the dev server', async () => {
    const { temporalAddress: address, temporalNamespace: namespace } = testEnv();
    const taskQueue = uniqueTaskQueue('smoke');
    const nativeConnection = await NativeConnection.connect({ address });
    const connection = await Connection.connect({ address });
    try {
      const worker = await Worker.create({
        connection: nativeConnection,
        namespace,
        taskQueue,
        workflowsPath,
      });
      const client = new Client({ connection, namespace });
      const result = await worker.runUntil(
        client.workflow.execute(smokeGreeting, {
          args: ['smoke'],
          taskQueue,
          workflowId: `smoke-${taskQueue}`,
        }),
      );
      expect(result).toBe('hello, smoke');
    } finally {
      await connection.close();
      await nativeConnection.close();
    }
  });

  it('keeps workflows across a restart of a private dev server', async () => {
    const server = await startOwnTemporal();
    try {
      const workflowId = `smoke-restart-${uniqueTaskQueue()}`;
      let connection = await Connection.connect({ address: server.address });
      // No worker: the workflow just waits, which is all we need to see it outlive the restart.
      await new Client({ connection }).workflow.start(smokeGreeting, {
        args: ['x'],
        taskQueue: 'nobody',
        workflowId,
      });
      await connection.close();

      await server.restart({ graceMs: 0 }); // a crash, not a clean shutdown
      connection = await Connection.connect({ address: server.address });
      const description = await new Client({ connection }).workflow.getHandle(workflowId).describe();
      await connection.close();
      expect(description.status.name).toBe('RUNNING');
    } finally {
      await server.stop();
    }
  });
});
