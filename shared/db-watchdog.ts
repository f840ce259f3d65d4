// A watch on the process's MongoDB client: when it has seen no server for a while but a fresh client reaches
// one, its server monitor has stopped checking, and it is restarted.
//
// Seen under `npm run chaos` (a gateway, after a FerretDB restart): the driver kept the server `Unknown` with
// the error of the connection the restart closed, for 13 minutes, every operation a server-selection timeout
// (503), while the worker's client beside it recovered in a second. Its monitor was mid-check (state
// `monitoring`) with a heartbeat that never settled. A server that answers and a client that never looks again
// is an outage only a process restart ends; this ends it in place (it did, twice, in later chaos runs).
import mongoose from 'mongoose';
import type { Logger } from './logger';

export interface MongoWatchdogOptions {
  /** The URI the client was given: the fresh probe connects with it. */
  uri: string;
  logger?: Pick<Logger, 'warn' | 'error'>;
  /** How often the client's view of its servers is looked at. */
  checkEveryMs?: number;
  /** How long every server may stay unknown before a fresh client is asked. */
  unknownForMs?: number;
  now?: () => number;
}

/** The driver's own objects this reads and restarts (internal to mongodb 7.x, hence one place and optional chaining). */
interface ServerMonitor {
  close(): void;
  connect(): void;
  s?: { state?: string };
  monitorId?: { toJSON?(): unknown };
}
interface DriverTopology {
  description?: { servers?: Map<string, { type: string; error?: { message?: string } }> };
  s?: { servers?: Map<string, { monitor?: ServerMonitor | null }> };
}

export const MONGO_WATCH_EVERY_MS = 5_000;
export const MONGO_UNKNOWN_FOR_MS = 20_000;

export function watchMongoClient(options: MongoWatchdogOptions): () => void {
  const checkEveryMs = options.checkEveryMs ?? MONGO_WATCH_EVERY_MS;
  const unknownForMs = options.unknownForMs ?? MONGO_UNKNOWN_FOR_MS;
  const now = options.now ?? Date.now;
  let unknownSince: number | undefined;
  let checking = false;

  const check = async (): Promise<void> => {
    const topology = (mongoose.connection.getClient() as unknown as { topology?: DriverTopology }).topology;
    const servers = [...(topology?.description?.servers?.values() ?? [])];
    if (!topology || !servers.length || servers.some((s) => s.type !== 'Unknown')) {
      unknownSince = undefined;
      return;
    }
    unknownSince ??= now();
    if (now() - unknownSince < unknownForMs) return;
    if (!(await serverAnswers(options.uri))) return; // the server is really away: nothing to restart
    const monitors = [...(topology.s?.servers?.values() ?? [])].flatMap((s) =>
      s.monitor ? [s.monitor] : [],
    );
    options.logger?.error(
      {
        unknownForMs: now() - unknownSince,
        lastError: servers[0]?.error?.message,
        monitors: monitors.map((m) => ({ state: m.s?.state, interval: m.monitorId?.toJSON?.() })),
      },
      'MongoDB client sees no server while a fresh client reaches it; restarting its server monitors',
    );
    for (const monitor of monitors) {
      monitor.close();
      monitor.connect();
    }
    unknownSince = now(); // the next look gives the restarted monitors a whole period
  };

  const timer = setInterval(() => {
    if (checking) return;
    checking = true;
    check()
      .catch((err) => options.logger?.warn({ err: String(err) }, 'MongoDB client watch failed'))
      .finally(() => (checking = false));
  }, checkEveryMs);
  timer.unref();
  return () => clearInterval(timer);
}

async function serverAnswers(uri: string): Promise<boolean> {
  const probe = new mongoose.mongo.MongoClient(uri, { serverSelectionTimeoutMS: 2_000, maxPoolSize: 1 });
  try {
    await probe.db('admin').command({ ping: 1 });
    return true;
  } catch {
    return false;
  } finally {
    await probe.close().catch(() => undefined);
  }
}
