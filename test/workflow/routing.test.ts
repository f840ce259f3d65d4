// Routing inside the lead workflow on the time-skipping server, with the real activities, a real
// Mongo-wire database and loopback partner APIs: waterfall, max partners, filters and active hours.
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { CapSlot, Delivery, Lead, StatusEvent } from '../../shared/models';
import { accepts, rejects, useRoutingHarness } from '../support/routing-harness';

const h = useRoutingHarness();

beforeEach(() => h.setClock(undefined));

/** Runs a lead that a is sent `sentToA` times and b accepts after it, with these deliveries recorded. */
async function soldToBAfterA(sentToA: number, deliveries: unknown[]): Promise<void> {
  const { leadId, view } = await h.runLead();
  expect(view).toMatchObject({ status: 'accepted', partnerId: 'b', partnersTried: ['a', 'b'] });
  expect(h.receivedBy(h.sims.a, leadId)).toBe(sentToA);
  expect(await h.deliveries(leadId)).toEqual(deliveries);
}

test('a synchronous rejection moves the lead to the next partner; every attempt is recorded', async () => {
  h.useConfig([
    { id: 'a', routing: { priority: 1 } },
    { id: 'b', routing: { priority: 2 } },
  ]);
  h.sims.a.setBehavior(rejects);
  h.sims.b.setBehavior(accepts);
  const { leadId, view } = await h.runLead();
  expect(view).toMatchObject({
    status: 'accepted',
    partnerId: 'b',
    partnersTried: ['a', 'b'],
    payoutCents: 1000,
  });
  expect(await h.deliveries(leadId)).toEqual([
    { partnerId: 'a', outcome: 'rejected', httpStatus: 200 },
    { partnerId: 'b', outcome: 'accepted', httpStatus: 200 },
  ]);
  const delivery = await Delivery.findOne({ leadId, partnerId: 'b' }).lean();
  expect(delivery?.latencyMs).toEqual(expect.any(Number));
  const history = (await StatusEvent.find({ leadId }).sort({ at: 1 }).lean()).map((e) => [
    e.status,
    e.partnerId,
    e.revenueDeltaCents,
  ]);
  expect(history).toEqual([['accepted', 'b', 1000]]);
});

test('a text-pattern answer and a 4xx: 4xx is a rejection, never retried', async () => {
  h.useConfig([
    { id: 'a', routing: { priority: 1 } },
    {
      id: 'b',
      routing: { priority: 2 },
      response: {
        statusPath: undefined,
        acceptedPattern: '^success=true;',
        rejectedPattern: '^success=false;',
      },
    },
  ]);
  h.sims.a.setBehavior(() => ({ httpStatus: 422, body: { error: 'duplicate lead' } }));
  h.sims.b.setBehavior(() => ({ body: 'success=true;id=77' }));
  await soldToBAfterA(1, [
    { partnerId: 'a', outcome: 'rejected', httpStatus: 422 },
    { partnerId: 'b', outcome: 'accepted', httpStatus: 200 },
  ]);
});

test('exhausted delivery retries (always 503, maxAttempts 2) move the lead on and give the cap slot back', async () => {
  h.useConfig([
    { id: 'a', routing: { priority: 1, dailyCap: 10 }, delivery: { maxAttempts: 2 } },
    { id: 'b', routing: { priority: 2 } },
  ]);
  h.sims.a.setBehavior(() => ({ httpStatus: 503, body: 'busy' }));
  h.sims.b.setBehavior(accepts);
  await soldToBAfterA(2, [
    { partnerId: 'a', outcome: 'error', httpStatus: 503 },
    { partnerId: 'a', outcome: 'error', httpStatus: 503 },
    { partnerId: 'b', outcome: 'accepted', httpStatus: 200 },
  ]);
  expect(await CapSlot.countDocuments({ partnerId: 'a' })).toBe(0);
});

test('maxPartnersPerLead: after that many refusals the lead fails, the rest never see it', async () => {
  h.useConfig(
    [
      { id: 'a', routing: { priority: 1 } },
      { id: 'b', routing: { priority: 2 } },
      { id: 'c', routing: { priority: 3 } },
    ],
    { maxPartnersPerLead: 2 },
  );
  for (const sim of Object.values(h.sims)) sim.setBehavior(rejects);
  const { leadId, view } = await h.runLead();
  expect(view).toMatchObject({ status: 'failed', partnersTried: ['a', 'b'] });
  expect([
    h.receivedBy(h.sims.a, leadId),
    h.receivedBy(h.sims.b, leadId),
    h.receivedBy(h.sims.c, leadId),
  ]).toEqual([1, 1, 0]);
  expect((await Lead.findById(leadId).lean())?.status).toBe('failed');
});

test('filters, pause and weight 0 skip a partner', async () => {
  h.useConfig([
    {
      id: 'a',
      routing: {
        priority: 1,
        filters: { vertical: ['auto'], country: ['US'], zipPrefix: ['9'], fields: { 'data.age': [30, 31] } },
      },
    },
    { id: 'b', routing: { priority: 2, weight: 0 } },
    { id: 'c', routing: { priority: 3 } },
  ]);
  for (const sim of Object.values(h.sims)) sim.setBehavior(accepts);
  const match = { vertical: 'auto', geo: { country: 'US', zip: '94107' }, data: { age: 31 } };
  expect((await h.runLead(match)).view).toMatchObject({ status: 'accepted', partnerId: 'a' });
  for (const miss of [
    { ...match, vertical: 'home' },
    { ...match, geo: { country: 'CA', zip: '94107' } },
    { ...match, geo: { country: 'US', zip: '10001' } },
    { ...match, data: { age: 40 } },
  ]) {
    const { leadId, view } = await h.runLead(miss);
    expect(view).toMatchObject({ status: 'accepted', partnerId: 'c', partnersTried: ['c'] });
    expect(h.receivedBy(h.sims.a, leadId) + h.receivedBy(h.sims.b, leadId)).toBe(0);
  }
  const cfg = h.config().config;
  const paused = parseRoutingConfig({
    ...cfg,
    partners: cfg.partners.map((p) => (p.id === 'a' ? { ...p, paused: true } : p)),
  });
  h.setConfig(new ConfigIndex(paused));
  expect((await h.runLead(match)).view).toMatchObject({ partnerId: 'c', partnersTried: ['c'] });
});

test("active hours in the partner's time zone: outside them the lead goes to the next partner", async () => {
  // a takes leads 09:00-17:00 New York time on weekdays; 2026-11-26 is a Thursday (UTC-5).
  h.useConfig([
    {
      id: 'a',
      routing: {
        priority: 1,
        activeHours: {
          timezone: 'America/New_York',
          days: ['mon', 'tue', 'wed', 'thu', 'fri'],
          from: '09:00',
          to: '17:00',
        },
      },
    },
    { id: 'b', routing: { priority: 2 } },
  ]);
  h.sims.a.setBehavior(accepts);
  h.sims.b.setBehavior(accepts);
  h.setClock(() => new Date('2026-11-26T15:00:00Z')); // 10:00 in New York
  expect((await h.runLead()).view).toMatchObject({ partnerId: 'a' });
  h.setClock(() => new Date('2026-11-26T23:00:00Z')); // 18:00 in New York
  expect((await h.runLead()).view).toMatchObject({ partnerId: 'b', partnersTried: ['b'] });
  h.setClock(() => new Date('2026-11-28T15:00:00Z')); // Saturday 10:00
  expect((await h.runLead()).view).toMatchObject({ partnerId: 'b', partnersTried: ['b'] });
});

test('no eligible partner: the lead fails with a reason', async () => {
  h.useConfig([{ id: 'a', routing: { filters: { country: ['DE'] } } }]);
  const { leadId, view } = await h.runLead({ geo: { country: 'US' } });
  expect(view.status).toBe('failed');
  const failed = await StatusEvent.findOne({ leadId, status: 'failed' }).lean();
  expect(failed?.reason).toBe('no eligible partner');
});

test('a partner whose cap is full is skipped without using up one of maxPartnersPerLead', async () => {
  h.useConfig(
    [
      { id: 'a', routing: { priority: 1, dailyCap: 0 } },
      { id: 'b', routing: { priority: 2 } },
      { id: 'c', routing: { priority: 3 } },
    ],
    { maxPartnersPerLead: 2 },
  );
  h.sims.a.setBehavior(accepts);
  h.sims.b.setBehavior(rejects);
  h.sims.c.setBehavior(accepts);
  const { leadId, view } = await h.runLead();
  expect(view).toMatchObject({ status: 'accepted', partnerId: 'c', partnersTried: ['b', 'c'] });
  expect(h.receivedBy(h.sims.a, leadId)).toBe(0);
  expect(await h.deliveries(leadId)).toEqual([
    { partnerId: 'a', outcome: 'skipped', httpStatus: undefined },
    { partnerId: 'b', outcome: 'rejected', httpStatus: 200 },
    { partnerId: 'c', outcome: 'accepted', httpStatus: 200 },
  ]);
});

test('an hourly cap under a daily one: a lead refused by the hourly cap gives its daily slot back', async () => {
  h.useConfig([
    { id: 'a', routing: { priority: 1, dailyCap: 10, hourlyCap: 2 } },
    { id: 'b', routing: { priority: 2 } },
  ]);
  h.sims.a.setBehavior(accepts);
  h.sims.b.setBehavior(accepts);
  const clock = new Date('2026-11-26T10:30:00Z');
  h.setClock(() => clock);
  const partners: (string | undefined)[] = [];
  for (let i = 0; i < 3; i++) partners.push((await h.runLead()).view.partnerId);
  expect(partners).toEqual(['a', 'a', 'b']);
  expect(await CapSlot.countDocuments({ partnerId: 'a', period: 'd2026-11-26' })).toBe(2);
  expect(await CapSlot.countDocuments({ partnerId: 'a', period: 'h2026-11-26T10' })).toBe(2);
  // The next hour has room again.
  h.setClock(() => new Date('2026-11-26T11:05:00Z'));
  expect((await h.runLead()).view.partnerId).toBe('a');
  expect(await CapSlot.countDocuments({ partnerId: 'a', period: 'd2026-11-26' })).toBe(3);
});
