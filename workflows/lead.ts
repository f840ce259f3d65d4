// leadWorkflow: one lead's life. Route and deliver it, wait for the partner's postback or the deadline,
// record every status in MongoDB, and notify the traffic source. Orchestration only: all I/O is in activities.
// Over 400 lines: one lead's orchestration read top to bottom (route, auction, deliver, wait, settle, notify);
// the pure parts live beside it (decide.ts, auction.ts, routing.ts) and the activity options in steps.ts.
import {
  ActivityFailure,
  condition,
  log,
  patched,
  setHandler,
  upsertMemo,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type {
  AuctionRules,
  CapReservation,
  DeliveryResult,
  PingResult,
  PingsSent,
  RecordStatusInput,
  RecordStatusResult,
  RouteCandidate,
  RoutePlan,
  SharedBuyer,
} from '../activities/types';
import type { CanonicalStatus } from '../shared/statuses';
import {
  pingUpdate,
  postbackSignal,
  postPingedUpdate,
  replayNotificationSignal,
  statusQuery,
  SEARCH_ATTRIBUTES,
  type LeadWorkflowInput,
  type LeadWorkflowView,
  type PingAnswer,
  type PostbackSignal,
  type PostPinged,
  type ReplayNotificationSignal,
} from '../shared/temporal';
import { rankBids, type AuctionVerdict, type RankedBid } from './auction';
import { decide, type Decision } from './decide';
import { nextDeadline, sharedPartner, sharedPayout, sharedStatus } from './multisell';
import { orderCandidates } from './routing';
import {
  deliverySteps,
  durableMongoSteps,
  loadThenRecord,
  localPingSteps,
  mongoSteps,
  startThenRecord,
  notifySteps,
  pingSteps,
  CURRENT_RELEASE_PATCH,
  RELEASE_PATCH,
} from './steps';

/** How a wait for the partner's postback ends: the lead is decided, or it goes to the next partner. */
type PostbackWaitEnd = 'decided' | 'resell';

/** Why no partner took the lead; for a waterfall-only lead the words it always had. */
function failedReason(candidates: number, auction: AuctionVerdict | undefined, passed: string[]): string {
  if (!candidates) return 'no eligible partner';
  if (!auction) return 'no partner took the lead';
  const refused = auction.refused.map((r) => `${r.partnerId}: ${r.reason}`);
  const why = [...refused, ...passed].join('; ');
  return auction.ranked.length
    ? `no bidder took the lead (${why})`
    : `no valid bid in the auction${why ? ` (${why})` : ''}`;
}

export async function leadWorkflow({ leadId, ping }: LeadWorkflowInput): Promise<LeadWorkflowView> {
  const inbox: PostbackSignal[] = [];
  const replays: ReplayNotificationSignal[] = [];
  const seenPostbacks = new Set<string>();
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
  // An inbound ping (POST /ping): the update-with-start's answer waits for the auction; the post is accepted
  // only while the reservation holds. Registered for ping-started runs only: a plain lead has nothing to post.
  let pingAnswer: PingAnswer | undefined;
  let reservation: 'none' | 'open' | 'posted' | 'lapsed' = 'none';
  // Partners the full lead's person rules out; an update without them (sent before they existed) skips none.
  let screened: Record<string, string> = {};
  if (ping) {
    setHandler(pingUpdate, async () => {
      await condition(() => pingAnswer !== undefined);
      return pingAnswer as PingAnswer;
    });
    setHandler(
      postPingedUpdate,
      (post) => {
        reservation = 'posted';
        // Recorded before the argument existed, an update replays without one.
        screened = (post as PostPinged | undefined)?.skip ?? {};
      },
      {
        validator: (_post: PostPinged) => {
          if (reservation !== 'open')
            throw new Error(
              reservation === 'posted' ? 'pingId already used' : 'pingId expired or without a bid',
            );
        },
      },
    );
  }

  // A new run records one patch, the current release's (decision 0020): it stands for every earlier one. A run
  // recorded with the release before asks for that one; runs recorded earlier ask the earlier patches one by one,
  // where they always did, and replay what each one chose.
  const current = patched(CURRENT_RELEASE_PATCH);
  const release = current || patched(RELEASE_PATCH);
  const since = (patch: string): boolean => release || patched(patch);
  // Read the lead and plan its route in one step, and take cap slots only from a capped partner (decision
  // 0019); runs recorded before replay their loadLead, planRoute and reserveCap.
  const lean = since('lean-start');
  // An inbound ping's run of this release pings its auction in that same first step (decision 0020).
  const started = lean
    ? await startThenRecord(leadId, !!ping && release)
    : { lead: await loadThenRecord(leadId) };
  const { lead } = started;
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
  // The partner this run last offered the lead to, and when (its delivery's `offeredAt`): a postback's status is
  // timed from it without reading the lead. Unknown before this run delivers, and after a delivery that failed.
  let offered: { partnerId: string; at: string } | undefined;
  const notifier = notifySteps(lead);
  // A shared lead's buyers (multisell), best bid first: each decides for itself (decision 0017).
  let shared: Map<string, SharedBuyer> | undefined;

  /** Caps count posts: the cap slots a post to this partner takes (an uncapped partner's, none). */
  function takeCap(c: RouteCandidate): Promise<CapReservation> {
    if (lean && !c.capped) return Promise.resolve({ ok: true, slots: [] });
    return mongoSteps.reserveCap({ partnerId: c.partnerId, leadId });
  }
  async function releaseCap(cap: CapReservation): Promise<void> {
    if (!lean || cap.slots.length) await mongoSteps.releaseCap({ slots: cap.slots });
  }

  /**
   * Whether the lead may be posted to this partner now: its bid still valid, its person not ruled out, a cap slot
   * free (then taken). Otherwise undefined, and why in `passed`.
   */
  async function claimPost(
    c: RouteCandidate,
    bid: RankedBid | undefined,
    passed: string[],
  ): Promise<CapReservation | undefined> {
    if (bid && Date.now() > bid.validUntil) {
      passed.push(`${c.partnerId}: bid expired`);
      return undefined;
    }
    // A pinged lead's person was known only at the post: the buyers it rules out are passed over as
    // planRoute passes them over for a lead posted whole.
    const ruledOut = screened[c.partnerId];
    if (ruledOut) {
      passed.push(`${c.partnerId}: ${ruledOut}`);
      return undefined;
    }
    // Caps count posts, not pings: each post takes its own slots.
    const cap = await takeCap(c);
    if (!cap.ok) {
      passed.push(`${c.partnerId}: ${cap.reason ?? 'cap reached'}`);
      return undefined;
    }
    view.partnersTried.push(c.partnerId);
    return cap;
  }

  /** Posts the lead (with the bid's ping id); undefined when every attempt failed. */
  async function post(c: RouteCandidate, bid: RankedBid | undefined): Promise<DeliveryResult | undefined> {
    offered = undefined;
    try {
      const input = { leadId, partnerId: c.partnerId, ...(bid ? { pingId: bid.pingId } : {}) };
      const result = await deliverySteps(c).deliverLead(input);
      if (result.offeredAt) offered = { partnerId: c.partnerId, at: result.offeredAt };
      return result;
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
      return undefined;
    }
  }

  function publish(): void {
    const winner = view.auction?.winner;
    upsertSearchAttributes([
      { key: SEARCH_ATTRIBUTES.leadStatus, value: view.status },
      { key: SEARCH_ATTRIBUTES.sourceId, value: view.sourceId },
      ...(view.partnerId ? [{ key: SEARCH_ATTRIBUTES.partnerId, value: view.partnerId }] : []),
      // Runs started before the bid was searchable upserted it to the memo only (decision 0009); the patch
      // is asked only once there is a winner, so a lead without an auction records no marker.
      ...(winner && since('winning-bid-search-attribute')
        ? [
            { key: SEARCH_ATTRIBUTES.winningBidCents, value: winner.bidCents },
            { key: SEARCH_ATTRIBUTES.winningBidCurrency, value: winner.currency },
          ]
        : []),
    ]);
    upsertMemo({
      status: view.status,
      partnerId: view.partnerId ?? null,
      payoutCents: view.payoutCents ?? null,
      currency: view.currency ?? null,
      ...(view.auction?.winner ? { winningBid: view.auction.winner } : {}),
    });
  }

  /**
   * A lead started by the gateway carries its search attributes and memo from its first event
   * (leadStartAttributes): a lean run upserts nothing until its status changes, one visibility write less.
   */
  function publishAtStart(): void {
    if (lean && workflowInfo().typedSearchAttributes.get(SEARCH_ATTRIBUTES.leadStatus) === 'received') return;
    publish();
  }

  /** Whether a status about to be recorded is news to its source: notified once per status, never when muted. */
  function newsToSource(status: CanonicalStatus): boolean {
    return lead.notifyOn.includes(status) && !view.notifications[status];
  }

  /**
   * Notifies the source of a status just recorded. `first`: what the status step's own attempt did (decision
   * 0025); only one that failed leaves notifySource to retry, its attempts numbered on from it.
   */
  function notify(status: CanonicalStatus, replay = false, first?: RecordStatusResult['notified']): void {
    // One notification per status (a repeated `pending` is news to nobody); a replay sends it again.
    if (replay ? !lead.notifyOn.includes(status) : !newsToSource(status)) return;
    if (first === 'delivered' || first === 'skipped') {
      view.notifications[status] = first;
      return;
    }
    const eventId = `${leadId}.${status}`;
    view.notifications[status] = 'sending';
    notificationsInFlight += 1;
    notifier
      .notifySource({ leadId, status, eventId, ...(first ? { attemptsBefore: 1 } : {}) })
      .then(
        (r) => void (view.notifications[status] = r.skipped ? 'skipped' : 'delivered'),
        async (err: unknown) => {
          view.notifications[status] = 'exhausted';
          log.warn('source notification exhausted', { leadId, status, error: String(err) });
          await mongoSteps.recordNotificationExhausted({ leadId, status, eventId });
        },
      )
      .finally(() => void (notificationsInFlight -= 1));
  }

  async function setStatus(
    status: CanonicalStatus,
    details: Omit<RecordStatusInput, 'leadId' | 'seq' | 'status' | 'at'>,
    steps = mongoSteps,
  ) {
    seq += 1;
    const at = new Date().toISOString();
    // A current run's status step makes the source's first attempt itself: no activity when it gets through.
    const notice = current && newsToSource(status) ? { notify: { eventId: `${leadId}.${status}` } } : {};
    const recorded = await steps.recordStatus({
      leadId,
      sourceId: view.sourceId,
      seq,
      status,
      at,
      ...details,
      ...notice,
    });
    view.status = status;
    if (details.partnerId) view.partnerId = details.partnerId;
    if (details.payoutCents !== undefined) view.payoutCents = details.payoutCents;
    if (details.currency) view.currency = details.currency;
    view.deadline = details.expiresAt;
    publish();
    // Runs recorded before got nothing back from the step (null).
    notify(status, false, recorded?.notified);
  }

  async function accept(
    partnerId: string,
    payoutCents: number | undefined,
    currency: string | undefined,
    extra: Pick<RecordStatusInput, 'reason' | 'rawStatus' | 'postbackId' | 'handed'>,
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

  /**
   * Records what a postback decided. `partner` is whose verdict it is and the payout an acceptance without an
   * amount earns; `expiresAt` is the deadline a `pending` keeps.
   */
  async function record(
    decision: Extract<Decision, { kind: 'record' }>,
    pb: PostbackSignal,
    partner: { partnerId: string; payoutCents?: number; currency?: string },
    expiresAt?: string,
  ) {
    const details = {
      partnerId: partner.partnerId,
      rawStatus: pb.rawStatus,
      postbackId: pb.postbackId,
      reason: decision.reason,
      ...(offered && {
        handed: {
          ...(offered.partnerId === partner.partnerId ? { offeredAt: offered.at } : {}),
          priorStatus: view.status,
        },
      }),
    };
    if (decision.status === 'accepted')
      await accept(
        partner.partnerId,
        pb.payoutCents ?? partner.payoutCents,
        pb.currency ?? partner.currency,
        details,
      );
    else if (decision.status === 'returned')
      await setStatus('returned', { ...details, revenueDeltaCents: -(view.payoutCents ?? 0) });
    else if (decision.status === 'pending') await setStatus('pending', { ...details, expiresAt });
    else await setStatus('rejected', details);
  }

  /** Waits for the partner's verdict until the deadline; `resell` when it rejects and resale is allowed. */
  async function awaitPostback(
    c: { partnerId: string; allowResale: boolean; payoutCents?: number; currency?: string },
    deadline: number,
  ): Promise<PostbackWaitEnd> {
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
      const decision = decide({ status: view.status, awaiting: { allowResale: c.allowResale } }, pb);
      if (decision.kind === 'resell') return 'resell';
      if (decision.kind === 'ignore') {
        log.warn('postback ignored: not a valid transition', { leadId, from: view.status, to: pb.status });
        continue;
      }
      const expiresAt = new Date(deadline).toISOString();
      await record(decision, pb, c, expiresAt);
      if (decision.final) return 'decided';
    }
  }

  /**
   * Records one buyer's verdict on a shared lead: the event is the buyer's (its revenue), the lead takes the
   * status, partner and payout all its buyers make (decision 0017).
   */
  async function setBuyer(
    partnerId: string,
    status: SharedBuyer['status'],
    details: { reason: string; rawStatus?: string; postbackId?: string; expiresAt?: string },
    steps = mongoSteps,
  ) {
    const buyers = shared as Map<string, SharedBuyer>;
    const buyer = buyers.get(partnerId) as SharedBuyer;
    const before = buyer.status;
    buyer.status = status;
    if (status === 'pending' && details.expiresAt) buyer.expiresAt = details.expiresAt;
    else delete buyer.expiresAt;
    const revenueDeltaCents =
      status === 'accepted'
        ? buyer.payoutCents
        : status === 'returned' && before === 'accepted'
          ? -buyer.payoutCents
          : 0;
    const leadStatus = sharedStatus(buyers.values());
    const due = nextDeadline(buyers.values());
    const expiresAt = leadStatus === 'pending' && due !== undefined ? new Date(due).toISOString() : undefined;
    const payoutCents = sharedPayout(buyers.values());
    const holder = sharedPartner(buyers);
    // The buyer's deciding postback (its first verdict, or one after its own expiry): how long it took.
    const deciding =
      details.postbackId &&
      (status === 'accepted' || status === 'rejected') &&
      !['accepted', 'rejected', 'returned'].includes(before) &&
      buyer.offeredAt;
    const decisionMs = deciding ? Math.max(0, Date.now() - Date.parse(deciding)) : undefined;
    seq += 1;
    await steps.recordStatus({
      leadId,
      sourceId: view.sourceId,
      seq,
      status,
      at: new Date().toISOString(),
      partnerId,
      // The lead's journey lists every buyer: each line says whose verdict it is.
      reason: `buyer ${partnerId}: ${details.reason}`,
      rawStatus: details.rawStatus,
      postbackId: details.postbackId,
      payoutCents,
      revenueDeltaCents,
      currency: buyer.currency,
      ...(expiresAt ? { expiresAt } : {}),
      shared: {
        status: leadStatus,
        partnerId: holder,
        buyers: Object.fromEntries(buyers),
        ...(decisionMs === undefined ? {} : { decisionMs }),
      },
    });
    Object.assign(view, { status: leadStatus, partnerId: holder, payoutCents, currency: buyer.currency });
    view.deadline = expiresAt;
    publish();
    notify(leadStatus);
  }

  /** A buyer's postback on a shared lead, decided against that buyer's own verdict so far. */
  async function buyerPostback(pb: PostbackSignal): Promise<void> {
    const buyer = shared?.get(pb.partnerId);
    if (!buyer) {
      log.warn('postback ignored: not a buyer of this shared lead', { leadId, partnerId: pb.partnerId });
      return;
    }
    const awaiting = buyer.status === 'pending' ? { awaiting: { allowResale: false } } : {};
    const decision = decide({ status: buyer.status, ...awaiting }, pb);
    if (decision.kind !== 'record') {
      log.warn('postback ignored: not a valid transition', { leadId, from: buyer.status, to: pb.status });
      return;
    }
    // Buyers' payouts are added up: one in another currency than the auction's keeps the bid.
    if (decision.status === 'accepted' && pb.payoutCents !== undefined) {
      if (!pb.currency || pb.currency === buyer.currency) buyer.payoutCents = pb.payoutCents;
      else
        log.warn('postback payout in another currency: the bid stands', { leadId, partnerId: pb.partnerId });
    }
    const { reason } = decision;
    const details = {
      reason,
      rawStatus: pb.rawStatus,
      postbackId: pb.postbackId,
      expiresAt: buyer.expiresAt,
    };
    await setBuyer(pb.partnerId, decision.status, details);
  }

  /** Waits for the verdicts of a shared lead's pending buyers, each until its own deadline. */
  async function awaitBuyers(): Promise<void> {
    const buyers = shared as Map<string, SharedBuyer>;
    for (;;) {
      const due = nextDeadline(buyers.values());
      if (due === undefined) return;
      const remaining = due - Date.now();
      const got = remaining > 0 && (await condition(() => inbox.length > 0, remaining));
      if (got) {
        await buyerPostback(inbox.shift() as PostbackSignal);
        continue;
      }
      // A regular activity, as for a single buyer's expiry (decision 0008).
      const reason = 'no postback before the partner deadline';
      for (const [partnerId, b] of buyers)
        if (b.status === 'pending' && !(Date.parse(b.expiresAt ?? '') > due))
          await setBuyer(partnerId, 'expired', { reason }, durableMongoSteps);
    }
  }

  /**
   * Multisell: posts the lead to the best `winners` valid bids, each with its own ping id; a refused post is
   * replaced by the next bid. Returns how many posts were made; `shared` holds the buyers that took it.
   */
  async function sellShared(
    ranked: RankedBid[],
    winners: number,
    maxPartners: number,
    passed: string[],
  ): Promise<number> {
    const buyers = (shared = new Map<string, SharedBuyer>());
    let tried = 0;
    for (const bid of ranked) {
      if (buyers.size >= winners || tried >= maxPartners) break;
      const c = bid.candidate;
      const cap = await claimPost(c, bid, passed);
      if (!cap) continue;
      tried += 1;
      const offeredAt = new Date().toISOString();
      const result = await post(c, bid);
      if (!result || result.outcome === 'rejected') {
        passed.push(`${c.partnerId}: ${result ? (result.reason ?? 'rejected') : 'delivery failed'}`);
        await releaseCap(cap);
        continue;
      }
      const won = { partnerId: c.partnerId, bidCents: bid.bidCents, currency: bid.currency };
      if (view.auction) {
        view.auction.winner ??= won;
        (view.auction.winners ??= []).push(won);
      }
      // The accepted bid is what the buyer pays; a payout in its answer wins.
      const payoutCents = result.payoutCents ?? bid.bidCents;
      buyers.set(c.partnerId, { status: 'pending', payoutCents, currency: bid.currency, offeredAt });
      if (result.outcome === 'accepted') {
        const reason = 'accepted by partner on delivery';
        await setBuyer(c.partnerId, 'accepted', { reason, rawStatus: result.rawStatus });
      } else {
        await setBuyer(c.partnerId, 'pending', {
          reason: `won the auction at ${bid.bidCents} ${bid.currency}; awaiting postback`,
          rawStatus: result.rawStatus,
          expiresAt: new Date(Date.now() + c.postbackTimeoutMs).toISOString(),
        });
      }
    }
    if (!buyers.size) shared = undefined;
    return tried;
  }

  /**
   * The auction's pings in one local activity (decision 0020): claimed, sent at once and stored by pingBidders;
   * stored here, retried until they land, only when its own store failed.
   */
  async function pingInOneStep(
    bidders: RouteCandidate[],
    timeoutMs: number,
    failed: (partnerId: string, reason: string) => PingResult,
    pinged?: PingsSent,
  ): Promise<PingResult[]> {
    const partnerIds = bidders.map((c) => c.partnerId);
    const sent: PingsSent =
      pinged ??
      (await localPingSteps(timeoutMs)
        .pingBidders({ leadId, sourceId: lead.sourceId, partnerIds, timeoutMs })
        .catch((err: unknown) => {
          if (!(err instanceof ActivityFailure)) throw err;
          return { pings: partnerIds.map((id) => failed(id, `ping failed: ${err.message}`)), stored: false };
        }));
    if (!sent.stored) await mongoSteps.recordPings({ leadId, sourceId: lead.sourceId, pings: sent.pings });
    return sent.pings.map(({ httpStatus: _status, ...result }) => result);
  }

  /**
   * The pings as local activities (decision 0018): sent from the workflow task, with no round trip through the
   * server, after a claim that keeps a lost task's retry from pinging anyone again; the answers stored at once.
   */
  async function pingLocally(
    bidders: RouteCandidate[],
    timeoutMs: number,
    failed: (partnerId: string, reason: string) => PingResult,
  ): Promise<PingResult[]> {
    const { claimed } = await mongoSteps.claimPings({ leadId });
    const pings = localPingSteps(timeoutMs);
    const sent = claimed
      ? await Promise.all(
          bidders.map(({ partnerId }) =>
            pings.sendPing({ leadId, partnerId, timeoutMs }).catch((err: unknown) => {
              if (!(err instanceof ActivityFailure)) throw err;
              return failed(partnerId, `ping failed: ${err.message}`);
            }),
          ),
        )
      : bidders.map(({ partnerId }) =>
          failed(partnerId, 'not pinged again: a lost workflow task had pinged it (worker stopped)'),
        );
    await mongoSteps.recordPings({ leadId, sourceId: lead.sourceId, pings: sent });
    return sent;
  }

  /** The pings as regular activities, each storing its own answer: runs recorded before decision 0018. */
  function pingByActivities(
    bidders: RouteCandidate[],
    timeoutMs: number,
    failed: (partnerId: string, reason: string) => PingResult,
  ): Promise<PingResult[]> {
    const pings = pingSteps(timeoutMs);
    return Promise.all(
      bidders.map(({ partnerId }) =>
        pings.pingPartner({ leadId, partnerId, timeoutMs }).catch((err: unknown): PingResult => {
          if (!(err instanceof ActivityFailure)) throw err;
          return failed(partnerId, `ping failed: ${err.message}`);
        }),
      ),
    );
  }

  /** Pings every bidder at once; the answers ranked (docs/routing.md "Auctions"). */
  async function runAuction(
    bidders: RouteCandidate[],
    rules: AuctionRules,
    pinged?: PingsSent,
  ): Promise<AuctionVerdict> {
    const pingedAt = Date.now();
    const at = new Date(pingedAt).toISOString();
    const failed = (partnerId: string, reason: string): PingResult => {
      return { partnerId, outcome: 'error', reason, latencyMs: 0, at };
    };
    // Runs that pinged one local activity per partner, or one regular activity each, keep doing so (decision 0009).
    const results = release
      ? await pingInOneStep(bidders, rules.timeoutMs, failed, pinged)
      : patched('local-pings')
        ? await pingLocally(bidders, rules.timeoutMs, failed)
        : await pingByActivities(bidders, rules.timeoutMs, failed);
    const verdict = rankBids(results, bidders, { ...rules, pingedAt }, Math.random);
    verdict.waitedMs = Math.max(0, ...results.map((r) => r.latencyMs));
    view.auction = {
      bids: results.map(({ partnerId, outcome, bidCents, currency, reason }) => ({
        partnerId,
        outcome,
        ...(bidCents !== undefined ? { bidCents, currency } : {}),
        ...(reason ? { reason } : {}),
      })),
    };
    return verdict;
  }

  /**
   * Offers the lead partner by partner: auction bids best first, then the waterfall; `failed` when none takes it.
   * A pinged lead comes with its plan and auction already run: it is posted without a second ping.
   */
  async function route(
    pinged?: { plan: RoutePlan; auction: AuctionVerdict },
    planned?: RoutePlan,
  ): Promise<void> {
    const plan = pinged?.plan ?? planned ?? (await mongoSteps.planRoute(leadId));
    const bidders = plan.auction ? plan.candidates.filter((c) => c.ping) : [];
    let offers: { c: RouteCandidate; bid?: RankedBid }[];
    let auction = pinged?.auction;
    if (!auction && plan.auction && bidders.length) auction = await runAuction(bidders, plan.auction);
    if (auction) {
      const waterfall = orderCandidates(
        plan.candidates.filter((c) => !c.ping),
        Math.random,
      );
      offers = [
        ...auction.ranked.map((bid) => ({ c: bid.candidate, bid })),
        ...waterfall.map((c) => ({ c })),
      ];
    } else {
      offers = orderCandidates(plan.candidates, Math.random).map((c) => ({ c }));
    }
    const passed: string[] = [];
    let tried = 0;
    // Multisell: the bids are posted to as a shared lead; the waterfall only when no buyer took it. Asked
    // only for an auction with more than one winner, so other leads record no marker.
    const winners = plan.auction?.winners ?? 1;
    if (auction && winners > 1 && since('auction-multisell')) {
      tried = await sellShared(auction.ranked, winners, plan.maxPartners, passed);
      if (shared) return await awaitBuyers();
      offers = offers.filter((o) => !o.bid);
    }
    for (const { c, bid } of offers) {
      // maxPartners counts partners the lead was offered to; one whose cap is full was not.
      if (tried >= plan.maxPartners) break;
      const cap = await claimPost(c, bid, passed);
      if (!cap) continue;
      tried += 1;
      // The accepted bid is the lead's expected payout; a payout in the partner's answer or postback wins.
      partnerPayout = bid
        ? { cents: bid.bidCents, currency: bid.currency }
        : { cents: c.payoutCents, currency: c.currency };
      const result = await post(c, bid);
      if (!result || result.outcome === 'rejected') {
        passed.push(`${c.partnerId}: ${result ? (result.reason ?? 'rejected') : 'delivery failed'}`);
        await releaseCap(cap);
        continue;
      }
      if (bid && view.auction) {
        view.auction.winner = { partnerId: c.partnerId, bidCents: bid.bidCents, currency: bid.currency };
      }
      const cents = result.payoutCents ?? partnerPayout.cents;
      if (result.outcome === 'accepted') {
        await accept(c.partnerId, cents, partnerPayout.currency, {
          reason: 'accepted by partner on delivery',
          rawStatus: result.rawStatus,
        });
        return;
      }
      const deadline = Date.now() + c.postbackTimeoutMs;
      await setStatus('pending', {
        partnerId: c.partnerId,
        reason: bid
          ? `won the auction at ${bid.bidCents} ${bid.currency}; awaiting postback`
          : 'delivered; awaiting postback',
        rawStatus: result.rawStatus,
        expiresAt: new Date(deadline).toISOString(),
        // The winning bid is the lead's expected payout, kept on the lead for a run resumed later.
        ...(bid ? { payoutCents: bid.bidCents, currency: bid.currency } : {}),
      });
      const verdict = await awaitPostback(
        { ...c, payoutCents: cents, currency: partnerPayout.currency },
        deadline,
      );
      if (verdict === 'decided') return;
      passed.push(`${c.partnerId}: rejected by postback`);
      await releaseCap(cap);
    }
    await setStatus('failed', { reason: failedReason(plan.candidates.length, auction, passed) });
  }

  /** An inbound ping: runs the auction, answers the source, and posts the lead once it sends it in time. */
  async function sellPinged(planned?: RoutePlan, pinged?: PingsSent): Promise<void> {
    const plan = planned ?? (await mongoSteps.planRoute(leadId));
    const bidders = plan.auction ? plan.candidates.filter((c) => c.ping) : [];
    const auction =
      plan.auction && bidders.length ? await runAuction(bidders, plan.auction, pinged) : undefined;
    const best = auction?.ranked[0];
    if (!auction || !best) {
      const reason = auction ? failedReason(plan.candidates.length, auction, []) : 'no auction for this lead';
      pingAnswer = { bidCents: null, reason, waitedMs: auction?.waitedMs ?? 0 };
      await setStatus('failed', { reason });
      return;
    }
    // Multisell: the lead's N best bids together, held while all of them are (one winner: the best bid).
    const reserved = auction.ranked.slice(0, plan.auction?.winners ?? 1);
    const validUntil = Math.min(...reserved.map((b) => b.validUntil));
    const bidCents = reserved.reduce((sum, b) => sum + b.bidCents, 0);
    const expiresAt = new Date(validUntil).toISOString();
    pingAnswer = { bidCents, currency: best.currency, expiresAt, waitedMs: auction.waitedMs };
    reservation = 'open';
    const posted = () => reservation === 'posted';
    await condition(posted, Math.max(1, validUntil - Date.now()));
    // The post's update may land in the activation whose timer fires: once accepted, it is honoured.
    if (!posted()) {
      reservation = 'lapsed';
      // Regular activity, as for a postback's expiry: a retried task cannot see this write before its history.
      const reason = `ping expired at ${expiresAt} without a post`;
      await setStatus('failed', { reason }, durableMongoSteps);
      return;
    }
    await route({ plan, auction });
  }

  /** After the verdict: late postbacks (chargebacks, answers after expiry) and notification replays. */
  async function settle(): Promise<void> {
    for (;;) {
      await condition(() => inbox.length > 0 || replays.length > 0 || notificationsInFlight === 0);
      const pb = inbox.shift();
      if (pb && shared) {
        await buyerPostback(pb);
        continue;
      }
      if (pb) {
        const decision = decide({ status: view.status }, pb);
        if (decision.kind !== 'record') {
          log.warn('late postback ignored: not a valid transition', {
            leadId,
            from: view.status,
            to: pb.status,
          });
          continue;
        }
        const { cents: payoutCents, currency } = partnerPayout;
        await record(decision, pb, { partnerId: pb.partnerId, payoutCents, currency });
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

  if (lead.buyers && since('auction-multisell')) {
    // A later run of a shared lead (a late postback, a run ended by hand): its buyers carry on from the lead.
    shared = new Map(Object.entries(lead.buyers));
    view.partnersTried = [...shared.keys()];
    publish();
    await awaitBuyers();
  } else if (lead.status === 'received' && ping && since('inbound-ping')) {
    publishAtStart();
    await sellPinged(started.plan, started.pinged);
  } else if (lead.status === 'received') {
    publishAtStart();
    await route(undefined, started.plan);
  } else if (lead.status === 'pending' && lead.partnerId) {
    // A new run for a lead whose earlier run was ended by hand: keep waiting until its deadline.
    const deadline = lead.expiresAt ? Date.parse(lead.expiresAt) : Date.now();
    const outcome = await awaitPostback(
      {
        partnerId: lead.partnerId,
        allowResale: false,
        // A pending lead holds a payout only when it won an auction: that bid, else the partner's default.
        payoutCents: lead.payoutCents ?? lead.partnerPayoutCents,
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
