// Group commit for inserts on a hot path: the documents inserted while one event-loop turn runs go to the
// database as one `insertMany`, and each caller still learns whether its own document went in.
import { mongo } from 'mongoose';

interface Waiting<T> {
  doc: T;
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** One insert error as the driver reports it for a single `insertOne` (a duplicate key has `code` 11000). */
export class InsertError extends Error {
  constructor(
    message: string,
    readonly code: number | undefined,
  ) {
    super(message);
    this.name = 'InsertError';
  }
}

export class BatchedInserts<T extends mongo.Document> {
  private waiting: Waiting<T>[] = [];
  private scheduled = false;

  constructor(
    private readonly collection: () => mongo.Collection<T>,
    private readonly maxBatch = 200,
  ) {}

  /** Resolves once `doc` is stored; rejects with its own error (an `InsertError` with `code`) otherwise. */
  insert(doc: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ doc, resolve, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        // After the I/O callbacks of this turn: every request that reached its insert in it joins the batch.
        setImmediate(() => void this.flush());
      }
    });
  }

  private async flush(): Promise<void> {
    this.scheduled = false;
    const batch = this.waiting.splice(0, this.maxBatch);
    if (this.waiting.length) {
      this.scheduled = true;
      setImmediate(() => void this.flush());
    }
    if (!batch.length) return;
    try {
      // Unordered: one duplicate does not stop the documents after it.
      await this.collection().insertMany(
        batch.map((w) => w.doc as mongo.OptionalUnlessRequiredId<T>),
        { ordered: false, ignoreUndefined: true },
      );
      for (const w of batch) w.resolve();
    } catch (err) {
      if (!(err instanceof mongo.MongoBulkWriteError)) {
        // Nothing is known about any of them (connection lost, server down): each caller sees the failure.
        for (const w of batch) w.reject(err);
        return;
      }
      const errors = Array.isArray(err.writeErrors) ? err.writeErrors : [err.writeErrors];
      if (!errors.length) {
        // A write concern error, no per-document one: no document can be vouched for.
        for (const w of batch) w.reject(err);
        return;
      }
      const byIndex = new Map(errors.map((e) => [e.index, e]));
      batch.forEach((w, i) => {
        const e = byIndex.get(i);
        if (e) w.reject(new InsertError(e.errmsg ?? 'insert failed', e.code));
        else w.resolve();
      });
    }
  }
}
