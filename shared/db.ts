// MongoDB connection: one mongoose connection per process, indexes ensured at start-up.
import mongoose from 'mongoose';
import { watchMongoClient, type MongoWatchdogOptions } from './db-watchdog';
import { ALL_MODELS } from './models';

/**
 * How long one database operation (a query, an insert, one batch of a cursor) may wait for the server's answer
 * before it fails: a hung server or a lost connection is an error (a 503, a retried activity), not a request
 * that never ends. The driver's own `timeoutMS` is a no-op from driver 7 on, so this is `socketTimeoutMS`. A
 * `socketTimeoutMS` in MONGODB_URI wins.
 */
export const MONGO_OPERATION_TIMEOUT_MS = 60_000;

let stopWatch: (() => void) | undefined;

/** Connects the process's client; `watch` (on unless false) restarts its server monitors if they stop looking (shared/db-watchdog.ts). */
export async function connectMongo(
  uri: string,
  watch: Omit<MongoWatchdogOptions, 'uri'> | false = {},
): Promise<typeof mongoose> {
  mongoose.set('strictQuery', true);
  // Request input reaches queries only after zod has made it plain strings, so `{ $ne: x }` cannot arrive.
  // No command buffering: while the server is unreachable a request fails at once (the gateway answers 503,
  // an activity is retried by Temporal) instead of hanging for mongoose's buffer timeout.
  await mongoose.connect(uri, {
    serverSelectionTimeoutMS: 5000,
    autoIndex: false,
    bufferCommands: false,
    ...(/[?&]sockettimeoutms=/i.test(uri) ? {} : { socketTimeoutMS: MONGO_OPERATION_TIMEOUT_MS }),
  });
  await Promise.all(ALL_MODELS.map((m) => m.createIndexes()));
  stopWatch?.();
  stopWatch = watch ? watchMongoClient({ ...watch, uri }) : undefined;
  return mongoose;
}

export async function pingMongo(): Promise<boolean> {
  try {
    const db = mongoose.connection.db;
    if (!db) return false;
    await db.admin().ping();
    return true;
  } catch {
    return false;
  }
}

export async function disconnectMongo(): Promise<void> {
  stopWatch?.();
  stopWatch = undefined;
  await mongoose.disconnect();
}
