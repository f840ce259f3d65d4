// bench:e2e's "server limit": the Temporal side of one lead's journey with nothing else. The same workflow
// tasks, regular activities, timer and signal as leadWorkflow's accepted path (and, with `publish`, its
// search attribute and memo upserts), but the activities do no I/O and there are no MongoDB steps.
import {
  condition,
  proxyActivities,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { postbackSignal, SEARCH_ATTRIBUTES } from '../../shared/temporal';

export interface ServerLimitActivities {
  /** Stands in for deliverLead; the bench signals the workflow a moment later, as the partner posts back. */
  deliver(journeyId: string): Promise<void>;
  /** Stands in for notifySource: the end of the journey. `decidedAt` is the workflow's clock at the signal. */
  notify(journeyId: string, decidedAt: number): Promise<void>;
}

const { deliver, notify } = proxyActivities<ServerLimitActivities>({
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '30s' },
});

export interface ServerLimitInput {
  journeyId: string;
  /** Upsert the search attributes and memo where leadWorkflow does (start, pending, accepted). */
  publish: boolean;
}

function publish(status: string): void {
  upsertSearchAttributes([
    { key: SEARCH_ATTRIBUTES.leadStatus, value: status },
    { key: SEARCH_ATTRIBUTES.sourceId, value: 'src-1' },
    { key: SEARCH_ATTRIBUTES.partnerId, value: 'acme' },
  ]);
  upsertMemo({ status, partnerId: 'acme', payoutCents: 1250, currency: 'USD' });
}

/** Workflow task 1: deliver; 2: wait (timer); 3: the signal, notify; 4: complete. */
export async function serverLimitJourney({
  journeyId,
  publish: withUpserts,
}: ServerLimitInput): Promise<void> {
  let postback = false;
  setHandler(postbackSignal, () => void (postback = true));
  if (withUpserts) publish('received');
  await deliver(journeyId);
  if (withUpserts) publish('pending');
  await condition(() => postback, '1h');
  if (withUpserts) publish('accepted');
  await notify(journeyId, Date.now());
}
