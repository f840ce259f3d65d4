// The lead workflow's activity proxies: timeouts and retry policies per kind of step, local or regular.
// Workflow code: it imports only the SDK and the activities' types.
import {
  proxyActivities,
  proxyLocalActivities,
  sleep,
  workflowInfo,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { LeadSnapshot, RouteCandidate, StartedLead } from '../activities/types';
import { MAX_AUCTION_TIMEOUT_MS, pingAnswerWaitMs } from '../shared/temporal';

type Activities = ReturnType<typeof createActivities>;

/** MongoDB writes and reads: retried without limit, so a database outage delays a lead but never loses it. */
const MONGO_STEP_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
} as const;

/** Regular activities: a step's decision is in the history before MongoDB sees it (the expiry's write). */
export const durableMongoSteps = proxyActivities<Activities>(MONGO_STEP_OPTIONS);

/**
 * The MongoDB steps of a run, but the expiry's write (`durableMongoSteps`). Local activities: the worker runs them
 * inside the workflow task and records each result as a marker, with no task queue round trip through the server
 * (decision 0008). Same retry policy. Short backoffs (a database blip) wait in the worker, which keeps the
 * workflow task open; from 16 s on each wait is a workflow timer, so a long outage does not fill the history with
 * task heartbeats. Earlier shapes of these steps were retired before the first release (decision 0009); from that
 * release on, a change here is a `patched()` branch.
 */
const LOCAL_MONGO_STEP_OPTIONS = { ...MONGO_STEP_OPTIONS, localRetryThreshold: '10s' } as const;
export const mongoSteps = proxyLocalActivities<Activities>(LOCAL_MONGO_STEP_OPTIONS);

/**
 * A local read is recorded only when its workflow task completes. A task lost after a local write (worker
 * killed) is retried, and a local read in it sees that write: a chargeback's run found its lead `returned`
 * already and never notified the source (found by npm run chaos). So a run that did not start at `received`
 * (a late postback, a replay), whose first task may write a status, ends that task with a timer before acting.
 * A run at `received` writes no status before its delivery, a regular activity, ends the task: it pays nothing.
 */
export async function loadThenRecord(leadId: string): Promise<LeadSnapshot> {
  const lead = await mongoSteps.loadLead(leadId);
  if (lead.status !== 'received') await sleep(1);
  return lead;
}

/**
 * An inbound ping's first step, which also runs its auction (decision 0020): room for the source's whole wait
 * on the longest auction, besides the step's reads and writes. A step that timed out would be retried and find
 * its pings claimed: every bid lost.
 */
const pingStartSteps = proxyLocalActivities<Activities>({
  ...LOCAL_MONGO_STEP_OPTIONS,
  startToCloseTimeout: pingAnswerWaitMs(MAX_AUCTION_TIMEOUT_MS) + 10_000,
});

/** loadThenRecord's reading for runs that plan their route in the same step (startLead, decision 0019). */
export async function startThenRecord(leadId: string, ping = false): Promise<StartedLead> {
  // An inbound ping's run started with its ping: the source's wait runs from then.
  const started = ping
    ? await pingStartSteps.startLead({ leadId, ping, pingedAt: workflowInfo().runStartTime.getTime() })
    : await mongoSteps.startLead({ leadId });
  if (started.lead.status !== 'received') await sleep(1);
  return started;
}

/** Delivery to one partner: its own timeout, and as many attempts as its config allows. */
export function deliverySteps(c: RouteCandidate) {
  return proxyActivities<Activities>({
    startToCloseTimeout: c.deliveryTimeoutMs + 5000,
    retry: {
      initialInterval: '1s',
      backoffCoefficient: 2,
      maximumInterval: '30s',
      maximumAttempts: c.deliveryMaxAttempts,
      nonRetryableErrorTypes: ['PartnerConfigError'],
    },
  });
}

/** Source notifications: the source's own retry policy, bounded by its maximum duration. */
export function notifySteps(lead: LeadSnapshot) {
  const p = lead.notifyPolicy;
  const options: ActivityOptions = {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: p.maxDurationMs,
    retry: { initialInterval: p.initialIntervalMs, backoffCoefficient: 2, maximumInterval: p.maxIntervalMs },
  };
  return proxyActivities<Activities>(options);
}

/**
 * Pings of an auction: one attempt each, never retried (a second try would come after the auction's deadline).
 * The activity bounds its HTTP call by what is left of the auction; the timeout here only adds room for its
 * database write, so a lost worker's ping counts as no bid.
 */
export function pingSteps(auctionTimeoutMs: number) {
  return proxyActivities<Activities>({
    startToCloseTimeout: auctionTimeoutMs + 5000,
    retry: { maximumAttempts: 1 },
  });
}

/**
 * Pings of an auction as local activities (patch `local-pings`, decision 0018): sent from the workflow task that
 * runs the auction, with no round trip through the server; one attempt each, bounded as `pingSteps`.
 */
export function localPingSteps(auctionTimeoutMs: number) {
  return proxyLocalActivities<Activities>({
    startToCloseTimeout: auctionTimeoutMs + 5000,
    retry: { maximumAttempts: 1 },
  });
}

/**
 * The patch of the first release of December 2026 (decision 0020): a run recording it took every path of the
 * earlier patches (lean-start, inbound-ping, local-pings, winning-bid-search-attribute, auction-multisell) and
 * pinged its auction in one step.
 */
export const RELEASE_PATCH = 'release-2026-12';

/**
 * The patch of the current release: a run recording it took every path of RELEASE_PATCH's, and its status steps
 * make the source's first notification attempt (decision 0025). The next change of the commands a run issues is
 * the next release's patch.
 */
export const CURRENT_RELEASE_PATCH = 'release-2026-12-2';
