// MongoDB connection: one mongoose connection per process, indexes ensured at start-up.
import mongoose from 'mongoose';
import { ALL_MODELS } from './models';

export async function connectMongo(uri: string): Promise<typeof mongoose> {
  mongoose.set('strictQuery', true);
  // Request input reaches queries only after zod has made it plain strings, so `{ $ne: x }` cannot arrive.
  // No command buffering: while the server is unreachable a request fails at once (the gateway answers 503,
  // an activity is retried by Temporal) instead of hanging for mongoose's buffer timeout.
  await mongoose.connect(uri, { serverSelectionTimeoutMS: 5000, autoIndex: false, bufferCommands: false });
  await Promise.all(ALL_MODELS.map((m) => m.createIndexes()));
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
  await mongoose.disconnect();
}
