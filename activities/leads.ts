// Lead state in MongoDB: the snapshot a workflow starts from, and each status it records.
import { ApplicationFailure } from '@temporalio/activity';
import { Lead, Notification, type LeadDoc } from '../shared/models';
import { insertStatusEvent } from '../shared/reports';
import { isTerminal, type CanonicalStatus } from '../shared/statuses';
import type { ActivityDeps } from './deps';
import { auctionPinger } from './ping';
import { routePlanner } from './routing';
import { sourceNotifier } from './notify';
import type {
  LeadSnapshot,
  RecordStatusInput,
  RecordStatusResult,
  StartedLead,
  StartLeadInput,
} from './types';
import { leadWorkflowId, pingAnswerWaitMs } from '../shared/temporal';

/** An inbound ping's answer, from the end of its pings to the gateway: the bids' store and the workflow task. */
const ANSWER_WAY_BACK_MS = 250;
/** Pings with less time than this left before the source stops waiting are not sent. */
const MIN_PING_MS = 100;

export function leadActivities(deps: ActivityDeps) {
  const { config, logger, metrics, now } = deps;
  const planFor = routePlanner(deps);
  const pinger = auctionPinger(deps);
  const attemptNotification = sourceNotifier(deps);

  /** What a run starts from, read from the lead's document. */
  function snapshot(leadId: string, lead: LeadDoc): LeadSnapshot {
    const cfg = config();
    const source = cfg.sources.get(lead.sourceId);
    const partner = lead.partnerId ? cfg.partners.get(lead.partnerId) : undefined;
    const policy = source?.notify;
    return {
      leadId,
      sourceId: lead.sourceId,
      status: lead.status as CanonicalStatus,
      partnerId: lead.partnerId ?? undefined,
      payoutCents: lead.payoutCents ?? undefined,
      currency: lead.currency ?? partner?.currency ?? undefined,
      expiresAt: lead.expiresAt?.toISOString(),
      seq: lead.seq ?? 0,
      notifyOn: source?.postbackUrl ? (source.notifyOn as CanonicalStatus[]) : [],
      notifyPolicy: {
        initialIntervalMs: policy?.initialInterval ?? 1000,
        maxIntervalMs: policy?.maxInterval ?? 600_000,
        maxDurationMs: policy?.maxDuration ?? 86_400_000,
      },
      partnerPayoutCents: partner?.payoutCents,
      ...(lead.buyers ? { buyers: lead.buyers as LeadSnapshot['buyers'] } : {}),
    };
  }

  async function read(leadId: string): Promise<LeadDoc & { _id: string }> {
    const lead = await Lead.collection.findOne<LeadDoc & { _id: string }>({ _id: leadId as never });
    if (!lead) throw ApplicationFailure.nonRetryable(`lead ${leadId} not found`, 'UnknownLead');
    return lead as LeadDoc & { _id: string };
  }

  return {
    async loadLead(leadId: string): Promise<LeadSnapshot> {
      return snapshot(leadId, await read(leadId));
    },

    /**
     * A run's first step: the lead's snapshot, and for a lead still to be routed (status `received`,
     * not a shared lead) its route plan, from one read of the lead (loadLead and planRoute in one); with `ping`
     * (an inbound ping's run), its auction's pings too.
     */
    async startLead({ leadId, ping, pingedAt }: StartLeadInput): Promise<StartedLead> {
      const lead = await read(leadId);
      const started = snapshot(leadId, lead);
      if (started.status !== 'received' || started.buyers) return { lead: started };
      const plan = await planFor(leadId, lead);
      // An inbound ping's auction in the same step, with the same read (decision 0020): its answer is due now.
      // Its bidders are the ping partners, as the workflow's sellPinged takes them.
      const bidders =
        ping && plan.auction ? plan.candidates.filter((c) => c.ping).map((c) => c.partnerId) : [];
      if (!plan.auction || !bidders.length) return { lead: started, plan };
      const input = {
        leadId,
        sourceId: lead.sourceId,
        partnerIds: bidders,
        timeoutMs: plan.auction.timeoutMs,
      };
      // The source waits pingAnswerWaitMs from its ping: the pings get what is left of that, less the answer's
      // way back, and none are sent when too little is (a backlog: the source has had its 503).
      if (pingedAt === undefined) return { lead: started, plan, pinged: await pinger.pingAll(input, lead) };
      const left = pingedAt + pingAnswerWaitMs(input.timeoutMs) - now().getTime() - ANSWER_WAY_BACK_MS;
      if (left < MIN_PING_MS) {
        const late = now().getTime() - pingedAt;
        const reason = `not pinged: the auction would start ${late} ms after the source's ping, past its wait`;
        return { lead: started, plan, pinged: await pinger.notPinged(input, reason) };
      }
      const timeoutMs = Math.min(input.timeoutMs, left);
      return { lead: started, plan, pinged: await pinger.pingAll({ ...input, timeoutMs }, lead) };
    },

    /**
     * Writes one status: the lead document (only if this sequence number is newer, so a retried or
     * replayed activity never moves a lead backwards) and an insert-only history event.
     */
    async recordStatus(input: RecordStatusInput): Promise<RecordStatusResult> {
      const { leadId, seq, status: eventStatus } = input;
      // A shared lead's event is one buyer's verdict; the lead takes the status all its buyers make.
      const status = input.shared?.status ?? eventStatus;
      const at = new Date(input.at);
      const set: Record<string, unknown> = { status, seq, updatedAt: at };
      const unset: Record<string, 1> = {};
      if (input.partnerId) set.partnerId = input.shared?.partnerId ?? input.partnerId;
      if (input.shared) set.buyers = input.shared.buyers;
      if (input.payoutCents !== undefined) set.payoutCents = input.payoutCents;
      if (input.currency) set.currency = input.currency;
      if (status === 'accepted') set.revenueCents = input.payoutCents ?? 0;
      if (status === 'returned') set.revenueCents = 0;
      if (input.expiresAt) set.expiresAt = new Date(input.expiresAt);
      else unset.expiresAt = 1;
      if (isTerminal(status)) set.finalAt = at;
      const update = Object.keys(unset).length ? { $set: set, $unset: unset } : { $set: set };
      // The event first, then the lead: whoever sees the lead at a status also finds that status in its history.
      const readLead = () =>
        Lead.collection.findOne<Pick<LeadDoc, 'sourceId' | 'seq' | 'status' | 'offeredTo' | 'offeredAt'>>(
          { _id: leadId as never },
          { projection: { sourceId: 1, seq: 1, status: 1, offeredTo: 1, offeredAt: 1 } },
        );
      // A postback's status is timed from the lead's delivery: from what the run passes, else from the lead
      // (a run that did not deliver it). Any other status needs the lead only to compare below.
      let lead = (input.postbackId && !input.handed) || !input.sourceId ? await readLead() : undefined;
      // When the lead was offered to this postback's partner (none: it was offered to another) and its status
      // before this one: passed by a run that delivered the lead itself, else read from the lead.
      const offer =
        input.handed ??
        (lead && {
          offeredAt: lead.offeredTo === input.partnerId ? lead.offeredAt : undefined,
          priorStatus: lead.status,
        });
      // The partner's verdict by postback on the lead it was handed: how long after the offer it came.
      const verdictMs =
        input.postbackId && (eventStatus === 'accepted' || eventStatus === 'rejected') && offer?.offeredAt
          ? Math.max(0, at.getTime() - new Date(offer.offeredAt).getTime())
          : undefined;
      // Its deciding verdict (the first, or one after an expiry) is the reports' decision time.
      const handedDecisionMs =
        offer && !['accepted', 'rejected', 'returned'].includes(offer.priorStatus ?? '')
          ? verdictMs
          : undefined;
      // A shared lead's buyer: as its run measured it from that buyer's own post.
      const decisionMs = input.shared ? input.shared.decisionMs : handedDecisionMs;
      // false: recorded by an earlier attempt of this activity, which may have failed before the update.
      const fresh = await insertStatusEvent(
        {
          _id: `${leadId}:${seq}`,
          leadId,
          sourceId: input.sourceId ?? lead?.sourceId,
          partnerId: input.partnerId,
          status: eventStatus,
          at,
          reason: input.reason,
          rawStatus: input.rawStatus,
          postbackId: input.postbackId,
          revenueDeltaCents: input.revenueDeltaCents ?? 0,
          currency: input.currency,
          ...(decisionMs === undefined ? {} : { decisionMs }),
        },
        now(),
      );
      // Written by _id alone: FerretDB pushes down only a lone _id, so `{ _id, seq: { $lt } }` scanned every lead
      // once per status (quadratic, found by bench:scale). The lead has one writer, its workflow, which writes
      // status N+1 only once status N's activity has returned, its event stored: a fresh event N means no later
      // status is on the lead yet. A repeated one (an earlier attempt's, or a stale worker's) is compared first.
      if (!fresh && lead === undefined) lead = await readLead();
      if (lead === undefined ? fresh : lead !== null && (lead.seq ?? 0) < seq)
        await Lead.collection.updateOne({ _id: leadId as never }, update);
      if (fresh) {
        if (isTerminal(status)) metrics?.leadsFinal.inc({ status, partner: input.partnerId ?? 'none' });
        if (verdictMs !== undefined)
          metrics?.timeToPostback.observe(
            { partner: input.partnerId, status: eventStatus },
            verdictMs / 1000,
          );
        logger.info(
          {
            leadId,
            workflowId: leadWorkflowId(leadId),
            status,
            reason: input.reason,
            partnerId: input.partnerId,
          },
          'lead status',
        );
      }
      // The source's first attempt, once the status is stored. It never fails the step: the workflow's
      // notifySource retries what did not get through (decision 0025).
      if (!input.notify) return {};
      const notice = { leadId, status: eventStatus, eventId: input.notify.eventId };
      try {
        // The attempt's log row is this status's (its seq): a step run again finds its status stored (its task was
        // lost, or refused because a signal came in as the run completed) and reads what its attempt did. One that
        // got through is not sent again; one that failed is left to notifySource.
        const logId = `${notice.eventId}:status-${seq}`;
        const before = fresh
          ? null
          : await Notification.collection.findOne<{ ok: boolean }>(
              { _id: logId as never },
              { projection: { ok: 1 } },
            );
        if (before) return { notified: before.ok ? 'delivered' : 'failed' };
        const { error, skipped } = await attemptNotification(notice, 1, logId);
        return { notified: error ? 'failed' : skipped ? 'skipped' : 'delivered' };
      } catch (err) {
        logger.warn(
          { ...notice, workflowId: leadWorkflowId(leadId), err },
          'source notification attempt not made',
        );
        return { notified: 'failed' };
      }
    },
  };
}
