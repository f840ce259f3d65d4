// leadWorkflow: one lead's life. Route and deliver it, wait for the partner's postback or the deadline,
// record every status in MongoDB, and notify the traffic source. Orchestration only: all I/O is in activities.
import {
  ActivityFailure,
  condition,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertMemo,
  upsertSearchAttributes,
  type ActivityInterfaceFor,
  type ActivityOptions,
} from '@temporalio/workflow';
import type { createActivities } from '../activities';
import type { DeliveryResult, LeadSnapshot, RecordStatusInput, RouteCandidate } from '../activities/types';
import { canTransition, type CanonicalStatus } from '../shared/statuses';
import {
  postbackSignal,
  replayNotificationSignal,
  statusQuery,
  SEARCH_ATTRIBUTES,
  type LeadWorkflowInput,
  type LeadWorkflowView,
  type PostbackSignal,
  type ReplayNotificationSignal,
} from '../shared/temporal';
import { orderCandidates } from './routing';

type Activities = ReturnType<typeof createActivities>;

/** MongoDB writes and reads: retried without limit, so a database outage delays a lead but never loses it. */
const MONGO_STEP_OPTIONS = {
  startToCloseTimeout: '30s',
  retry: { initialInterval: '1s', backoffCoefficient: 2, maximumInterval: '1m' },
} as const;

/** Regular activities: a step's decision is in the history before MongoDB sees it (the expiry, below). */
const durableMongoSteps = proxyActivities<Activities>(MONGO_STEP_OPTIONS);

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

interface RunSteps {
  store: ActivityInterfaceFor<Activities>;
  /** Reads the lead this run decides from. */
  loadLead(leadId: string): Promise<LeadSnapshot>;
}

/**
 * How this run does its MongoDB steps, fixed by the patch markers of its history. Called once, before the first
 * await. The newest patch is asked first, so a new run records one marker.
 */
function runSteps(): RunSteps {
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

function deliveryActivities(c: RouteCandidate) {
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

function notifyActivities(lead: LeadSnapshot) {
  const p = lead.notifyPolicy;
  const options: ActivityOptions = {
    startToCloseTimeout: '30s',
    scheduleToCloseTimeout: p.maxDurationMs,
    retry: { initialInterval: p.initialIntervalMs, backoffCoefficient: 2, maximumInterval: p.maxIntervalMs },
  };
  return proxyActivities<Activities>(options);
}

type Outcome = 'decided' | 'resell';

export async function leadWorkflow({ leadId }: LeadWorkflowInput): Promise<LeadWorkflowView> {
  const inbox: PostbackSignal[] = [];
  const replays: ReplayNotificationSignal[] = [];
  const seenPostbacks = new Set<string>();
  const { store, loadLead } = runSteps();
  // Handlers are set before the first await so that a signal-with-start's signal is never missed.
  setHandler(postbackSignal, (pb) => {
    // Once per request (the outbox may resend one after a timeout that had succeeded) and once per effect: the
    // gateway signals before it records its claim, so two copies racing in can both be signalled.
    const effect = `${pb.partnerId}:${pb.status}`;
    if (seenPostbacks.has(pb.postbackId) || seenPostbacks.has(effect)) return;
    seenPostbacks.add(pb.postbackId).add(effect);
    inbox.push(pb);
  });
  setHandler(replayNotificationSignal, (r) => void replays.push(r));

  const lead = await loadLead(leadId);
  const view: LeadWorkflowView = {
    leadId,
    sourceId: lead.sourceId,
    status: lead.status,
    partnerId: lead.partnerId,
    payoutCents: lead.payoutCents,
    currency: lead.currency,
    partnersTried: lead.partnerId ? [lead.partnerId] : [],
    deadline: lead.expiresAt,
    notifications: {},
  };
  setHandler(statusQuery, () => view);
  let seq = lead.seq;
  // The current partner's default payout: a late acceptance without an amount earns this.
  let partnerPayout = { cents: lead.partnerPayoutCents, currency: lead.currency };
  let notificationsInFlight = 0;
  const notifier = notifyActivities(lead);

  function publish(): void {
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.leadStatus, value: view.status },
      { key: SEARCH_ATTRIBUTES.sourceId, value: view.sourceId },
      ...(view.partnerId ? [{ key: SEARCH_ATTRIBUTES.partnerId, value: view.partnerId }] : []),
    ]);
    upsertMemo({
      status: view.status,
      partnerId: view.partnerId ?? null,
      payoutCents: view.payoutCents ?? null,
      currency: view.currency ?? null,
    });
  }

  function notify(status: CanonicalStatus, replay = false): void {
    if (!lead.notifyOn.includes(status)) return;
    // One notification per status; a repeated `pending` is news to nobody.
    if (view.notifications[status] && !replay) return;
    const eventId = `${leadId}.${status}`;
    view.notifications[status] = 'sending';
    notificationsInFlight += 1;
    notifier
      .notifySource({ leadId, status, eventId })
      .then(
        (r) => void (view.notifications[status] = r.skipped ? 'skipped' : 'delivered'),
        async (err: unknown) => {
          view.notifications[status] = 'exhausted';
          log.warn('source notification exhausted', { leadId, status, error: String(err) });
          await store.recordNotificationExhausted({ leadId, status, eventId });
        },
      )
      .finally(() => void (notificationsInFlight -= 1));
  }

  async function setStatus(
    status: CanonicalStatus,
    details: Omit<RecordStatusInput, 'leadId' | 'seq' | 'status' | 'at'>,
    steps = store,
  ) {
    seq += 1;
    await steps.recordStatus({ leadId, seq, status, at: new Date().toISOString(), ...details });
    view.status = status;
    if (details.partnerId) view.partnerId = details.partnerId;
    if (details.payoutCents !== undefined) view.payoutCents = details.payoutCents;
    if (details.currency) view.currency = details.currency;
    view.deadline = details.expiresAt;
    publish();
    notify(status);
  }

  async function accept(
    partnerId: string,
    payoutCents: number | undefined,
    currency: string | undefined,
    extra: { reason: string; rawStatus?: string; postbackId?: string },
  ) {
    const cents = payoutCents ?? 0;
    await setStatus('accepted', {
      partnerId,
      payoutCents: cents,
      revenueDeltaCents: cents,
      currency,
      ...extra,
    });
  }

  /** Waits for the partner's verdict until the deadline; `resell` when it rejects and resale is allowed. */
  async function awaitPostback(
    c: { partnerId: string; allowResale: boolean; payoutCents?: number; currency?: string },
    deadline: number,
  ): Promise<Outcome> {
    for (;;) {
      const remaining = deadline - Date.now();
      const got = remaining > 0 && (await condition(() => inbox.length > 0, remaining));
      if (!got) {
        // The deadline races the partner's postback. A local activity writes before its workflow task is
        // recorded; if that task is lost (worker killed) its retry may also hold the postback, which the SDK
        // delivers before the timer, and decide `accepted` over an `expired` already written. A regular
        // activity writes only what the history holds (decision 0008).
        const reason = 'no postback before the partner deadline';
        await setStatus('expired', { partnerId: c.partnerId, reason }, durableMongoSteps);
        return 'decided';
      }
      const pb = inbox.shift() as PostbackSignal;
      const base = { partnerId: c.partnerId, rawStatus: pb.rawStatus, postbackId: pb.postbackId };
      switch (pb.status) {
        case 'pending':
          await setStatus('pending', {
            ...base,
            reason: 'partner reports pending',
            expiresAt: new Date(deadline).toISOString(),
          });
          break;
        case 'accepted':
          await accept(c.partnerId, pb.payoutCents ?? c.payoutCents, pb.currency ?? c.currency, {
            ...base,
            reason: 'accepted by partner postback',
          });
          return 'decided';
        case 'rejected':
          if (c.allowResale) return 'resell';
          await setStatus('rejected', { ...base, reason: 'rejected by partner postback' });
          return 'decided';
        default:
          log.warn('postback ignored: not a valid transition', { leadId, from: view.status, to: pb.status });
      }
    }
  }

  async function route(): Promise<void> {
    const plan = await store.planRoute(leadId);
    const order = orderCandidates(plan.candidates, Math.random);
    let tried = 0;
    for (const c of order) {
      // maxPartners counts partners the lead was offered to; one whose cap is full was not.
      if (tried >= plan.maxPartners) break;
      const cap = await store.reserveCap({ partnerId: c.partnerId, leadId });
      if (!cap.ok) continue;
      tried += 1;
      view.partnersTried.push(c.partnerId);
      partnerPayout = { cents: c.payoutCents, currency: c.currency };
      let result: DeliveryResult | undefined;
      try {
        result = await deliveryActivities(c).deliverLead({ leadId, partnerId: c.partnerId });
      } catch (err) {
        if (!(err instanceof ActivityFailure)) throw err;
      }
      if (!result || result.outcome === 'rejected') {
        await store.releaseCap({ slots: cap.slots });
        continue;
      }
      const cents = result.payoutCents ?? c.payoutCents;
      if (result.outcome === 'accepted') {
        await accept(c.partnerId, cents, c.currency, {
          reason: 'accepted by partner on delivery',
          rawStatus: result.rawStatus,
        });
        return;
      }
      const deadline = Date.now() + c.postbackTimeoutMs;
      await setStatus('pending', {
        partnerId: c.partnerId,
        reason: 'delivered; awaiting postback',
        rawStatus: result.rawStatus,
        expiresAt: new Date(deadline).toISOString(),
      });
      if ((await awaitPostback({ ...c, payoutCents: cents }, deadline)) === 'decided') return;
      await store.releaseCap({ slots: cap.slots });
    }
    await setStatus('failed', { reason: order.length ? 'no partner took the lead' : 'no eligible partner' });
  }

  /** After the verdict: late postbacks (chargebacks, answers after expiry) and notification replays. */
  async function settle(): Promise<void> {
    for (;;) {
      await condition(() => inbox.length > 0 || replays.length > 0 || notificationsInFlight === 0);
      const pb = inbox.shift();
      if (pb) {
        if (!canTransition(view.status, pb.status)) {
          log.warn('late postback ignored: not a valid transition', {
            leadId,
            from: view.status,
            to: pb.status,
          });
          continue;
        }
        const base = { partnerId: pb.partnerId, rawStatus: pb.rawStatus, postbackId: pb.postbackId };
        if (pb.status === 'returned') {
          await setStatus('returned', {
            ...base,
            reason: 'returned by partner',
            revenueDeltaCents: -(view.payoutCents ?? 0),
          });
        } else if (pb.status === 'accepted') {
          await accept(
            pb.partnerId,
            pb.payoutCents ?? partnerPayout.cents,
            pb.currency ?? partnerPayout.currency,
            { ...base, reason: `late acceptance after ${view.status}` },
          );
        } else if (pb.status === 'rejected') {
          await setStatus('rejected', { ...base, reason: `late rejection after ${view.status}` });
        }
        continue;
      }
      const replay = replays.shift();
      if (replay) {
        notify(replay.status, true);
        continue;
      }
      if (notificationsInFlight === 0) return;
    }
  }

  if (lead.status === 'received') {
    publish();
    await route();
  } else if (lead.status === 'pending' && lead.partnerId) {
    // A new run for a lead whose earlier run was ended by hand: keep waiting until its deadline.
    const deadline = lead.expiresAt ? Date.parse(lead.expiresAt) : Date.now();
    const outcome = await awaitPostback(
      {
        partnerId: lead.partnerId,
        allowResale: false,
        payoutCents: lead.partnerPayoutCents,
        currency: lead.currency,
      },
      deadline,
    );
    if (outcome === 'resell')
      await setStatus('rejected', { partnerId: lead.partnerId, reason: 'rejected by partner postback' });
  } else {
    publish();
  }
  await settle();
  return view;
}
