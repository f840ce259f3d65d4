// The database goes away between a postback's signal and its claim (seen in npm run chaos during a MongoDB
// restart): the partner is answered 503, not 200, and its repeat writes the claim from the applied status, so a
// postback answered 200 always ends with its claim, and the effect is applied once.
import { MongoClient } from 'mongodb';
import pino from 'pino';
import { PostbackService } from '../../apps/gateway/postbacks';
import { TemporalClient } from '../../apps/gateway/temporal';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { createMetrics } from '../../shared/metrics';
import { PostbackClaim, PostbackLog, StatusEvent } from '../../shared/models';
import type { PostbackSignal } from '../../shared/temporal';
import { useStack } from '../support/e2e';
import { testEnv, uniqueDbName, testDbUri } from '../support/servers';
import { ACME_TOKEN, partnersConfig, pendingLead, waitForStatus } from '../support/postbacks';

const dbName = uniqueDbName('claimrepair');
let temporal: DroppingTemporal;
let service: PostbackService;
/** The log's own connection, which stays up: only the claim's write meets the outage, as in the chaos run. */
let logClient: MongoClient;

/** Real Temporal; after the next signal it accepts, the database connection is dropped (the MongoDB restart). */
class DroppingTemporal extends TemporalClient {
  dropAfterSignal = false;

  override async signalPostback(leadId: string, signal: PostbackSignal): Promise<void> {
    await super.signalPostback(leadId, signal);
    if (this.dropAfterSignal) {
      this.dropAfterSignal = false;
      await disconnectMongo();
    }
  }
}

const { stack } = useStack({
  config: ({ partner, source }) => partnersConfig(partner.url, source.url),
  stack: { dbName },
  ready: async ({ stack }) => {
    temporal = new DroppingTemporal({
      address: testEnv().temporalAddress,
      namespace: testEnv().temporalNamespace,
      taskQueue: stack.taskQueue,
    });
    logClient = await new MongoClient(testEnv().mongoUri).connect();
    service = new PostbackService({
      config: () => stack.config,
      temporal,
      logger: pino({ level: 'silent' }),
      metrics: createMetrics(),
      logCollection: () => logClient.db(dbName).collection('postbacks'),
    });
  },
});

afterAll(async () => {
  await temporal?.close();
  await logClient?.close();
});

test('a postback whose claim cannot be written after its signal is answered 503; the repeat writes the claim', async () => {
  const leadId = await pendingLead(stack, 'auto', 'clk-claim-repair');
  let n = 0;
  const approve = () =>
    service
      .receive({
        method: 'GET',
        path: '/postback/acme',
        query: { token: ACME_TOKEN, subid: leadId, status: 'approved', payout: '4.20' },
        body: {},
        headers: {},
        ip: '127.0.0.1',
        requestId: `claim-repair-${++n}`,
        partnerIdFromPath: 'acme',
      })
      .catch((err: { status?: number; code?: string }) => ({ httpStatus: err.status, code: err.code }));

  temporal.dropAfterSignal = true;
  let first;
  try {
    first = await approve();
  } finally {
    await connectMongo(testDbUri(dbName));
  }
  // Not 200: nothing records it yet, and a partner stops at a 200.
  expect(first).toEqual({ httpStatus: 503, code: 'dependency_unavailable' });
  expect(await PostbackClaim.exists({ _id: `${leadId}:acme:accepted` })).toBeNull();
  expect(await PostbackLog.findOne({ requestId: 'claim-repair-1' }).lean()).toMatchObject({
    httpStatus: 503,
  });

  // The signal was taken: the workflow applies it. The partner's repeat then finds it applied and writes the claim.
  const lead = await waitForStatus(leadId, 'accepted');
  expect(lead.revenueCents).toBe(420);
  expect(await approve()).toMatchObject({
    httpStatus: 200,
    body: { ok: true, status: 'accepted', duplicate: true },
  });
  const event = await StatusEvent.findOne({ leadId, status: 'accepted' }).lean();
  const claim = await PostbackClaim.findById(`${leadId}:acme:accepted`).lean();
  expect(claim).toMatchObject({ leadId, postbackId: event?.postbackId, sentAt: expect.any(Date) });
  expect(await StatusEvent.countDocuments({ leadId, status: 'accepted' })).toBe(1);
  // And from now on a repeat is a plain duplicate, read from the claim.
  expect(await approve()).toMatchObject({ httpStatus: 200, body: { duplicate: true } });
});
