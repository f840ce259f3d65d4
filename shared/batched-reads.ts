// Group reads by `_id` on a hot path: the documents asked for while one event-loop turn runs are read with one
// `find({ _id: { $in } })` (an index lookup on MongoDB and on the project's FerretDB build, decision 0001), and
// each caller gets its own document or null. The read side of `BatchedInserts`.
import DataLoader from 'dataloader';
import type { mongo } from 'mongoose';

export class BatchedReads<T extends { _id: unknown }> {
  private readonly loader: DataLoader<string, T | null>;

  constructor(collection: () => mongo.Collection, projection: Record<string, 1>, maxBatch = 200) {
    this.loader = new DataLoader<string, T | null>(
      async (ids) => {
        const docs = await collection()
          .find<T>({ _id: { $in: [...new Set(ids)] as never[] } }, { projection })
          .toArray();
        const byId = new Map(docs.map((d) => [String(d._id), d]));
        return ids.map((id) => byId.get(id) ?? null);
      },
      {
        // Never a cached answer: every read goes to the database, only joined with the others of its turn.
        cache: false,
        maxBatchSize: maxBatch,
        // After the I/O callbacks of this turn, as the inserts: the requests that reached their read in it join.
        batchScheduleFn: (send) => setImmediate(send),
      },
    );
  }

  /** The document with this `_id`, or null; rejects with the read's error (every caller of its batch does). */
  get(id: string): Promise<T | null> {
    return this.loader.load(id);
  }

  /** The documents of these ids that exist, in one batch with the other reads of this turn. */
  async existing(ids: string[]): Promise<T[]> {
    const found = await Promise.all(ids.map((id) => this.loader.load(id)));
    return found.filter((d): d is Awaited<T> & T => d !== null);
  }
}
