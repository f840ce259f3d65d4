// recordStatus against the real database: a lead never moves backwards, whatever order its writes arrive in,
// and a retried write completes what its first attempt left undone.
import { leadActivities } from '../../activities/leads';
import type { RecordStatusInput } from '../../activities/types';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { createLogger } from '../../shared/logger';
import { Lead, StatusEvent } from '../../shared/models';
import { insertStatusEvent } from '../../shared/reports';
import { useDatabase } from '../support/e2e';

useDatabase('record-status');

const config = new ConfigIndex(
  parseRoutingConfig({
    partners: [
      { id: 'acme', delivery: { url: 'http://127.0.0.1:9/leads' }, postback: { token: 'acme-token-1234' } },
    ],
    sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
  }),
);
const { recordStatus } = leadActivities({
  config: () => config,
  http: () => Promise.reject(new Error('no HTTP here')),
  logger: createLogger('test', 'silent'),
  now: () => new Date(),
});

let n = 0;
async function newLead(): Promise<string> {
  const leadId = `record-status-${++n}`;
  await Lead.create({ _id: leadId, sourceId: 'src-1', status: 'received', seq: 0 });
  return leadId;
}

const status = (
  leadId: string,
  seq: number,
  s: RecordStatusInput['status'],
  extra: Partial<RecordStatusInput> = {},
): RecordStatusInput => ({
  leadId,
  sourceId: 'src-1',
  seq,
  status: s,
  at: new Date(Date.UTC(2026, 11, 3, 10, seq)).toISOString(),
  reason: `step ${seq}`,
  partnerId: 'acme',
  ...extra,
});

const leadState = async (leadId: string) => {
  const lead = await Lead.findById(leadId, { status: 1, seq: 1 }).lean();
  return { status: lead?.status, seq: lead?.seq };
};

test('each status in order moves the lead and writes its event, with the source the run passed', async () => {
  const leadId = await newLead();
  await recordStatus(status(leadId, 1, 'pending', { expiresAt: '2026-12-04T10:00:00.000Z' }));
  expect(await leadState(leadId)).toEqual({ status: 'pending', seq: 1 });
  await recordStatus(status(leadId, 2, 'accepted', { postbackId: 'pb-1', payoutCents: 1500 }));
  expect(await leadState(leadId)).toEqual({ status: 'accepted', seq: 2 });
  const events = await StatusEvent.find({ leadId }).sort({ _id: 1 }).lean();
  expect(events.map((e) => [e._id, e.status, e.sourceId])).toEqual([
    [`${leadId}:1`, 'pending', 'src-1'],
    [`${leadId}:2`, 'accepted', 'src-1'],
  ]);
});

test("a stale worker's late copy of an earlier status does not move the lead back", async () => {
  const leadId = await newLead();
  await recordStatus(status(leadId, 1, 'pending'));
  await recordStatus(status(leadId, 2, 'accepted', { postbackId: 'pb-2' }));
  // The same status 1 again (a worker that lost its task, still running its local activity), with and without
  // a postback id, with and without the source (a run from before the source was passed).
  await recordStatus(status(leadId, 1, 'pending'));
  await recordStatus(status(leadId, 1, 'rejected', { postbackId: 'pb-3' }));
  await recordStatus({ ...status(leadId, 1, 'pending'), sourceId: undefined });
  expect(await leadState(leadId)).toEqual({ status: 'accepted', seq: 2 });
  expect(await StatusEvent.countDocuments({ leadId })).toBe(2);
});

test('a retry whose first attempt stored the event but not the lead completes the lead', async () => {
  const leadId = await newLead();
  const first = status(leadId, 1, 'pending');
  await insertStatusEvent(
    { _id: `${leadId}:1`, leadId, sourceId: 'src-1', status: 'pending', at: new Date(first.at) },
    new Date(),
  );
  expect(await leadState(leadId)).toEqual({ status: 'received', seq: 0 });
  await recordStatus(first);
  expect(await leadState(leadId)).toEqual({ status: 'pending', seq: 1 });
});

test('a run from before the source was passed reads it from the lead for the event', async () => {
  const leadId = await newLead();
  await recordStatus({ ...status(leadId, 1, 'pending'), sourceId: undefined });
  expect(await leadState(leadId)).toEqual({ status: 'pending', seq: 1 });
  expect((await StatusEvent.findById(`${leadId}:1`).lean())?.sourceId).toBe('src-1');
});
