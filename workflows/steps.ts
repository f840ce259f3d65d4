// The lead workflow's activity proxies (timeouts and retry policies per kind of step) and the patch versions of
// its MongoDB steps. Deterministic workflow code: it imports only the SDK and the activities' types.
import {
  patched,
  proxyActivities,
  proxyLocalActivities,
  sleep,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { LeadSnapshot, RouteCandidate } from '../activities/types';

type Activities = ReturnType<typeof createActivities>;

/** MongoDB writes and reads: retried without limit, so a database outage delays a lead but never loses it. */
const MONGO_STEP_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
} as const;

/** Regular activities: a step's decision is in the history before MongoDB sees it (the expiry's write). */
export const durableMongoSteps = proxyActivities<Activities>(MONGO_STEP_OPTIONS);

/**
 * Local activities: the worker runs them inside the workflow task and records each result as a marker, with no
 * task queue round trip through the server (decision 0008). Same retry policy. Short backoffs (a database blip)
 * wait in the worker, which keeps the workflow task open; from 16 s on each wait is a workflow timer, so a long
 * outage does not fill the history with task heartbeats.
 */
const localMongoSteps = proxyLocalActivities<Activities>({
  ...MONGO_STEP_OPTIONS,
  localRetryThreshold: '10s',
});

// The versions of a run's MongoDB steps, oldest first; a run keeps the one it started with (decision 0008).
/** MongoDB steps as local activities, `loadLead` included. */
export const LOCAL_MONGO_STEPS_PATCH = 'mongo-steps-as-local-activities';
/** The same, but `loadLead` a regular activity, so the read is in the history before the run writes. */
export const RECORDED_LOAD_PATCH = 'load-lead-recorded-before-local-writes';
/** Local `loadLead` again; a run that may write in its first workflow task ends that task with a timer first. */
export const LOCAL_LOAD_PATCH = 'local-load-recorded-by-timer';

export interface RunSteps {
  store: ActivityInterfaceFor<Activities>;
  /** Reads the lead this run decides from. */
  loadLead(leadId: string): Promise<LeadSnapshot>;
}

/**
 * How this run does its MongoDB steps, fixed by the patch markers of its history. Called once, before the first
 * await. The newest patch is asked first, so a new run records one marker.
 */
export function runSteps(): RunSteps {
  if (patched(LOCAL_LOAD_PATCH)) return { store: localMongoSteps, loadLead: loadThenRecord };
  if (!patched(LOCAL_MONGO_STEPS_PATCH))
    return { store: durableMongoSteps, loadLead: (id) => durableMongoSteps.loadLead(id) };
  const loader = patched(RECORDED_LOAD_PATCH) ? durableMongoSteps : localMongoSteps;
  return { store: localMongoSteps, loadLead: (id) => loader.loadLead(id) };
}

/**
 * A local read is recorded only when its workflow task completes. A task lost after a local write (worker
 * killed) is retried, and a local read in it sees that write: a chargeback's run found its lead `returned`
 * already and never notified the source (found by npm run chaos). So a run that did not start at `received`
 * (a late postback, a replay), whose first task may write a status, ends that task with a timer before acting.
 * A run at `received` writes no status before its delivery, a regular activity, ends the task: it pays nothing.
 */
async function loadThenRecord(leadId: string): Promise<LeadSnapshot> {
  const lead = await localMongoSteps.loadLead(leadId);
  if (lead.status !== 'received') await sleep(1);
  return lead;
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
