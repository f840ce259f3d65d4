// A first POST /leads that died between storing the lead and writing its `received` status event (the database
// restarted under it, seen in npm run chaos as a report one lead short): the source's retry writes the event.
import { Lead, StatusEvent } from '../../shared/models';
import { RecentStatusEvent } from '../../shared/reports';
import { useStack } from '../support/e2e';
import { partnersConfig, SOURCE_KEY } from '../support/postbacks';

const { stack } = useStack({ config: ({ partner, source }) => partnersConfig(partner.url, source.url) });

test("a retried lead whose first attempt stopped after storing it gets its 'received' event and its report copy", async () => {
  const leadId = `repair-${Date.now()}`;
  const createdAt = new Date(Date.now() - 5_000);
  // What the first attempt left: the lead, and nothing after it.
  await Lead.create({
    _id: leadId,
    clickId: 'clk-repair',
    vertical: 'auto',
    geo: { country: 'US' },
    sourceId: 'src-1',
    status: 'received',
    seq: 0,
    createdAt,
    updatedAt: createdAt,
  });

  const res = await fetch(`${stack.baseUrl}/leads`, {
    method: 'POST',
    headers: { ...SOURCE_KEY, 'content-type': 'application/json' },
    body: JSON.stringify({ leadId, clickId: 'clk-repair', vertical: 'auto', geo: { country: 'US' } }),
  });
  expect(res.status).toBe(200);

  const event = await StatusEvent.findById(`${leadId}:0`).lean();
  expect(event).toMatchObject({ leadId, status: 'received', sourceId: 'src-1' });
  expect(event?.at.getTime()).toBe(createdAt.getTime());
  expect(await RecentStatusEvent.exists({ _id: `${leadId}:0` })).toBeTruthy();
});
