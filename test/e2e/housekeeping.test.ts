// Housekeeping on the real Mongo-wire server: expired nonces and cap slots of periods long over are swept,
// report buckets of closed hours are built; and the reconciler searches for unsent postback claims only when a
// Temporal call failed (or on the periodic full scan).
import { Housekeeper } from '../../apps/gateway/housekeeping';
import { TemporalClient } from '../../apps/gateway/temporal';
import { createLogger } from '../../shared/logger';
import { CapSlot, ReportBucket, SignatureNonce, StatusEvent } from '../../shared/models';
import { useDatabase } from '../support/e2e';
import { testEnv } from '../support/servers';

const HOUR = 3_600_000;
const logger = createLogger('test', 'silent');

useDatabase('housekeeping');

test('expired nonces and old cap slots are swept, current ones kept, and closed hours get report buckets', async () => {
  const now = new Date('2026-11-26T12:30:00Z');
  await SignatureNonce.create([
    { _id: 'acme:expired', expiresAt: new Date(now.getTime() - 1000) },
    { _id: 'acme:live', expiresAt: new Date(now.getTime() + 60_000) },
  ]);
  const acmeSlot = (period: string, leadId: string, hoursAgo: number) => ({
    _id: `acme:${period}:1`,
    partnerId: 'acme',
    period,
    leadId,
    takenAt: new Date(now.getTime() - hoursAgo * HOUR),
  });
  await CapSlot.create([acmeSlot('d2026-11-24', 'old-lead', 48), acmeSlot('d2026-11-26', 'new-lead', 1)]);
  await StatusEvent.create([
    {
      _id: 'e1:0',
      leadId: 'e1',
      sourceId: 'src-1',
      status: 'received',
      at: new Date(now.getTime() - 3 * HOUR),
    },
    {
      _id: 'e1:1',
      leadId: 'e1',
      sourceId: 'src-1',
      partnerId: 'acme',
      status: 'accepted',
      at: new Date(now.getTime() - 2 * HOUR),
      revenueDeltaCents: 1250,
    },
  ]);
  await new Housekeeper({ logger, now: () => now }).run();
  expect((await SignatureNonce.find().lean()).map((n) => n._id)).toEqual(['acme:live']);
  expect((await CapSlot.find().lean()).map((s) => s._id)).toEqual(['acme:d2026-11-26:1']);
  // Hours up to 11:00-12:00 are closed at 12:30 (5 min grace): each grouping has a bucket for each.
  const buckets = await ReportBucket.find({ groupBy: 'source' }, { _id: 1 }).lean();
  expect(buckets.map((b) => b._id)).toEqual(
    expect.arrayContaining(['h2:source:2026-11-26T09', 'h2:source:2026-11-26T10', 'h2:source:2026-11-26T11']),
  );
});

test('a failed Temporal call triggers the search for unsent claims; a quiet gateway does not search', async () => {
  const temporal = new TemporalClient({
    address: testEnv().temporalAddress,
    namespace: 'default',
    taskQueue: 'unused',
  });
  expect(temporal.takeBacklog()).toBe(true); // a new process looks once: another may have left claims
  expect(temporal.takeBacklog()).toBe(false);
  const down = new TemporalClient({
    address: '127.0.0.1:1',
    namespace: 'default',
    taskQueue: 'unused',
    callTimeoutMs: 300,
  });
  down.takeBacklog();
  await expect(
    down.signalPostback('x', {
      postbackId: 'p',
      partnerId: 'acme',
      status: 'accepted',
      receivedAt: new Date().toISOString(),
    }),
  ).rejects.toThrow();
  expect(down.takeBacklog()).toBe(true);
  await Promise.all([temporal.close(), down.close()]);
});
