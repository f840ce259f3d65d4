// Housekeeping as a gateway runs it: a round at start and then on its timer, one round at a time, once per term
// among several gateways, and a failed round (the database gone) reported as not done instead of thrown.
import { Housekeeper } from '../../apps/gateway/housekeeping';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createLogger } from '../../shared/logger';
import { SignatureNonce } from '../../shared/models';
import { useDatabase } from '../support/e2e';
import { uniqueDbName, testDbUri } from '../support/servers';
import { eventually } from '../support/stack';

const logger = createLogger('test', 'silent');

useDatabase('housekeeping-loop');

test('start() keeps house at once and then every interval; stop() waits for the round under way', async () => {
  const keeper = new Housekeeper({ logger, intervalMs: 50 });
  await SignatureNonce.create({ _id: 'loop:first', expiresAt: new Date(Date.now() - 1000) });
  keeper.start();
  try {
    await eventually(
      async () => ((await SignatureNonce.exists({ _id: 'loop:first' })) ? undefined : true),
      30_000,
      'first round',
    );
    // Written after the first round: only a later round of the timer sweeps it.
    await SignatureNonce.create({ _id: 'loop:later', expiresAt: new Date(Date.now() - 1000) });
    await eventually(
      async () => ((await SignatureNonce.exists({ _id: 'loop:later' })) ? undefined : true),
      30_000,
      'a later round',
    );
  } finally {
    await keeper.stop();
  }
});

test('a round asked for while one is under way is the same round', async () => {
  const keeper = new Housekeeper({ logger });
  const first = keeper.run();
  expect(keeper.run()).toBe(first);
  expect(await first).toBe(true);
  const next = keeper.run();
  expect(next).not.toBe(first);
  expect(await next).toBe(true);
});

test('with leases, one gateway of several keeps house each term, once', async () => {
  const now = new Date('2026-11-26T12:00:30Z');
  const a = new Housekeeper({ logger, now: () => now, intervalMs: 60_000, lease: { holder: 'gw-a' } });
  const b = new Housekeeper({ logger, now: () => now, intervalMs: 60_000, lease: { holder: 'gw-b' } });
  await SignatureNonce.create({ _id: 'lease:expired', expiresAt: new Date(now.getTime() - 1000) });
  expect(await a.run()).toBe(true);
  expect(await SignatureNonce.exists({ _id: 'lease:expired' })).toBeNull();
  // Same term: the other gateway leaves it, and the holder does not repeat it.
  expect(await b.run()).toBe(false);
  expect(await a.run()).toBe(false);
});

test('a round that fails (the database went away) resolves to false and is logged; the next one works again', async () => {
  const warnings: string[] = [];
  const spy = createLogger('test', 'warn');
  spy.warn = ((_obj: unknown, msg: string) => void warnings.push(msg)) as typeof spy.warn;
  const keeper = new Housekeeper({ logger: spy });
  await disconnectMongo();
  try {
    expect(await keeper.run()).toBe(false);
    expect(warnings).toEqual(['housekeeping failed; will retry']);
  } finally {
    await connectMongo(testDbUri(uniqueDbName('housekeeping-loop')));
  }
  expect(await keeper.run()).toBe(true);
});
