// Group commit for inserts on a hot path: the documents inserted while one event-loop turn runs go to the
// database as one `insertMany`, and each caller still learns whether its own document went in.
import { mongo } from 'mongoose';
import { AppError } from './errors';

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
  /** Documents sent and not answered yet: a slow database holds them too. */
  private inFlight = 0;

  constructor(
    private readonly collection: () => mongo.Collection<T>,
    private readonly maxBatch = 200,
    /** Documents waiting or in flight beyond this are refused (503): a slow database must not grow them without end. */
    private readonly maxWaiting = 10_000,
  ) {}

  /** Resolves once `doc` is stored; rejects with its own error (an `InsertError` with `code`) otherwise. */
  insert(doc: T): Promise<void> {
    if (this.waiting.length + this.inFlight >= this.maxWaiting)
      return Promise.reject(new AppError('dependency_unavailable', 'too many writes waiting; retry later'));
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
    this.inFlight += batch.length;
    try {
      await this.send(batch);
    } finally {
      this.inFlight -= batch.length;
    }
  }

  private async send(batch: Waiting<T>[]): Promise<void> {
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
