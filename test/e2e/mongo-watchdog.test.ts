// The client watch (shared/db-watchdog.ts) against the real test server: a client whose server
// monitor stopped looking serves again only because the watch restarts it.
import { MongoNetworkError, type ServerDescription } from 'mongodb';
import mongoose from 'mongoose';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { waitFor } from '../../scripts/util';
import { testDbUri, uniqueDbName } from '../support/servers';

const uri = () => testDbUri(uniqueDbName('watchdog'));

afterEach(() => disconnectMongo());

/**
 * The state a gateway was found in under `npm run chaos` after a FerretDB restart: its client's one server
 * `Unknown` with the error of a closed connection, and no heartbeat since (its monitor no longer looks), while
 * the server answers everyone else. Made here by stopping the monitors and recording that error.
 */
function wedgeTheClient(): void {
  const topology = (
    mongoose.connection.getClient() as unknown as {
      topology: {
        s: {
          servers: Map<
            string,
            {
              description: { hostAddress: ServerDescription['hostAddress'] };
              monitor: { monitorId?: { stop(): void } };
              emit(event: string, description: ServerDescription): void;
            }
          >;
        };
      };
    }
  ).topology;
  for (const s of topology.s.servers.values()) {
    s.monitor.monitorId?.stop();
    const error = new MongoNetworkError('connection 6 to the server closed');
    // The driver's own class (its constructor is internal, typed without arguments).
    const Description = s.description.constructor as new (
      address: unknown,
      hello: undefined,
      options: { error: MongoNetworkError },
    ) => ServerDescription;
    s.emit('descriptionReceived', new Description(s.description.hostAddress, undefined, { error }));
  }
}

async function insertWorks(): Promise<boolean> {
  try {
    await mongoose.connection.db!.collection('probe').insertOne({ at: new Date() });
    return true;
  } catch {
    return false;
  }
}

test('a client that stopped looking for its server serves again: the watch restarts its monitors', async () => {
  const logged: string[] = [];
  await connectMongo(uri(), {
    checkEveryMs: 100,
    unknownForMs: 500,
    logger: { warn: () => undefined, error: (_obj: unknown, msg?: string) => logged.push(String(msg)) },
  });
  expect(await insertWorks()).toBe(true);
  wedgeTheClient();
  await waitFor(async () => (await insertWorks()) || undefined, 20_000, 'inserts after the restart', 250);
  expect(logged).toEqual([expect.stringContaining('restarting its server monitors')]);
});

test('without the watch the same client stays without a server (what the watch is for)', async () => {
  await connectMongo(uri(), false);
  expect(await insertWorks()).toBe(true);
  wedgeTheClient();
  // One whole server selection (5 s), and no way to the server that answers everyone else.
  expect(await insertWorks()).toBe(false);
});
