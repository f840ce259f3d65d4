// A postback's effect, once: its partner status mapped to ours, then claimed (the claim, `PostbackClaim`, is also
// the outbox entry of its signal) and signalled to the lead's workflow, or queued while Temporal is away.
import type { mongo } from 'mongoose';
import { BatchedInserts } from '../../../shared/batched-inserts';
import { BatchedReads } from '../../../shared/batched-reads';
import type { PartnerConfig } from '../../../shared/config';
import type { Logger } from '../../../shared/logger';
import { AppError } from '../../../shared/errors';
import { insertOnce, PostbackClaim, StatusEvent } from '../../../shared/models';
import { toCents } from '../../../shared/money';
import { buildStatusMap, mapPartnerStatus } from '../../../shared/status-map';
import {
  canFollowLater,
  canTransition,
  POSTBACK_STATUSES,
  type CanonicalStatus,
  type PostbackStatus,
} from '../../../shared/statuses';
import { leadWorkflowId, type PostbackSignal } from '../../../shared/temporal';
import type { TemporalClient } from '../temporal';
import { required, type PostbackAnswer, type PostbackContext } from './context';

/** A claim as the driver writes it (the `PostbackClaim` schema's shape). */
interface Claim {
  _id: string;
  leadId: string;
  postbackId: string;
  signal: PostbackSignal;
  claimedAt: Date;
  sentAt?: Date;
  /** Sent only once the lead's status allows it (it overtook the postback that makes it valid). */
  waitsForLead?: true;
}

/** A claim's id: one per lead, partner and status (the `postback_effects` key, also the outbox entry's id). */
export const claimId = (leadId: string, partnerId: string, status: PostbackStatus): string =>
  `${leadId}:${partnerId}:${status}`;

/**
 * Claims as the postback path reads them: by `_id`, the reads of concurrent requests in one `$in` (an index lookup
 * on MongoDB and on the project's FerretDB build, whose release scanned for it: decision 0001).
 */
const claimReads = new BatchedReads<Pick<Claim, '_id' | 'signal' | 'postbackId' | 'sentAt'>>(
  () => PostbackClaim.collection as unknown as mongo.Collection,
  { 'signal.status': 1, 'signal.txid': 1, postbackId: 1, sentAt: 1 },
);

/**
 * The status claimed for this lead by this partner under `txid`, if any (read by claim id: one read); `except`
 * leaves one status's claim unread (the caller's own claim insert finds that one).
 */
export async function claimedTxid(
  leadId: string,
  partnerId: string,
  txid: string,
  except?: PostbackStatus,
): Promise<PostbackStatus | undefined> {
  const ids = POSTBACK_STATUSES.filter((s) => s !== except).map((s) => claimId(leadId, partnerId, s));
  const claims = await claimReads.existing(ids);
  return claims.find((c) => c.signal.txid === txid)?.signal.status;
}

/** This partner's claims for this lead not yet reflected in the lead document, from which `status` is a valid transition. */
export async function unrecordedClaimsEnabling(
  leadId: string,
  partnerId: string,
  status: PostbackStatus,
  leadSeq: number,
) {
  const ids = POSTBACK_STATUSES.filter((s) => canTransition(s, status)).map((s) =>
    claimId(leadId, partnerId, s),
  );
  const claims = await claimReads.existing(ids);
  const unrecorded = [];
  for (const claim of claims) {
    // The status event (`<leadId>:<seq>`) is written before the lead document: compare its seq with the lead's.
    const event = await StatusEvent.findOne({ leadId, postbackId: claim.postbackId }, { _id: 1 }).lean();
    const eventSeq = event ? Number(String(event._id).slice(leadId.length + 1)) : Number.POSITIVE_INFINITY;
    if (eventSeq > leadSeq) unrecorded.push(claim);
  }
  return unrecorded;
}

export interface PostbackClaimsDeps {
  temporal: TemporalClient;
  logger: Logger;
  now: () => Date;
}

export class PostbackClaims {
  private readonly statusMaps = new WeakMap<PartnerConfig, Map<string, PostbackStatus>>();
  /**
   * The postback path writes and reads through the driver, not mongoose documents (half the client CPU per
   * operation), and the claims of concurrent requests go in together (docs/benchmarks.md, Ingest). The
   * documents are built here field by field, in the schema's shape.
   */
  private readonly inserts = new BatchedInserts<Claim>(
    () => PostbackClaim.collection as unknown as mongo.Collection<Claim>,
  );

  constructor(private readonly deps: PostbackClaimsDeps) {}

  /** The step mapping the partner's raw status and amount to ours. */
  readonly mapStatus = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    const params = required(pc.params, 'params');
    pc.status = this.statusOf(pc);
    pc.log.status = pc.status;
    // A return's amount often comes negative (the sale reversed): it is the amount returned. On any other status a
    // negative amount is a mistake, never a price: refused, the lead left as it is.
    if (params.payout?.startsWith('-') && pc.status !== 'returned')
      throw new AppError('invalid_request', 'invalid postback parameters', [
        { path: 'payout', message: 'must not be negative but on a return (chargeback, refund)' },
      ]);
    pc.log.payoutCents = params.payout !== undefined ? Math.abs(toCents(params.payout)) : undefined;
    pc.log.currency = params.currency?.toUpperCase();
    await next();
  };

  /** The partner's raw status as ours (422 `unmapped_status` when the partner's map has no word for it). */
  statusOf(pc: PostbackContext): PostbackStatus {
    const partner = required(pc.partner, 'partner');
    return mapPartnerStatus(required(pc.params, 'params').status, partner.postback, this.statusMap(partner));
  }

  /** The last step: the effect claimed once and signalled (or queued). */
  readonly apply = async (pc: PostbackContext): Promise<void> => {
    pc.answer = await this.claimAndSignal(pc);
  };

  private async claimAndSignal(pc: PostbackContext): Promise<PostbackAnswer> {
    const partner = required(pc.partner, 'partner');
    const params = required(pc.params, 'params');
    const lead = required(pc.lead, 'lead');
    const status = required(pc.status, 'status');
    const leadId = params.subid;
    const id = claimId(leadId, partner.id, status);
    const duplicate: PostbackAnswer = {
      httpStatus: 200,
      body: { ok: true, leadId, status, duplicate: true },
    };
    const signal: PostbackSignal = {
      postbackId: pc.postbackId,
      partnerId: partner.id,
      status,
      rawStatus: params.status,
      payoutCents: pc.log.payoutCents,
      currency: pc.log.currency,
      txid: params.txid,
      receivedAt: pc.receivedAt.toISOString(),
    };
    const claim: Claim = {
      _id: id,
      leadId,
      postbackId: pc.postbackId,
      signal,
      claimedAt: pc.receivedAt,
    };
    // The partner's transaction id names one event: seen with another status it is still that event (SPEC).
    // Seen with this status it is this claim's repeat, found by the claim itself (below) like any repeat: one
    // read fewer per postback.
    const sameTxid =
      params.txid !== undefined && (await claimedTxid(leadId, partner.id, params.txid, status));
    if (sameTxid) return { ...duplicate, body: { ...duplicate.body, status: sameTxid } };
    let behindQueued = false;
    let waitsForLead = false;
    if (!canTransition(lead.status as CanonicalStatus, status)) {
      // A repeat is a repeat even after the lead moved on (approved twice after the lead is accepted): 200, not
      // 409. A repeat of a valid transition needs no read here: its claim below finds the first one.
      if (await PostbackClaim.collection.findOne({ _id: id as never }, { projection: { _id: 1 } }))
        return duplicate;
      // Applied, but its claim was not written (the database went away after the signal; the partner was
      // answered 503 and retries): the lead has this status from this partner, or had it (its status event).
      // The claim is written now, from the event; until it is, the answer stays 503 so the partner sends again.
      const applied =
        (await StatusEvent.findOne(
          { leadId, partnerId: partner.id, status, postbackId: { $exists: true } },
          { postbackId: 1 },
        ).lean()) ??
        (lead.status === status && lead.partnerId === partner.id ? { postbackId: pc.postbackId } : undefined);
      if (applied) {
        await this.claim({
          ...claim,
          postbackId: applied.postbackId ?? pc.postbackId,
          sentAt: pc.receivedAt,
        });
        return duplicate;
      }
      // lead.status lags the workflow (a worker restart, a Temporal outage): an earlier postback that makes
      // this one valid (approved, then a chargeback) may be claimed and not recorded yet. Then this one is
      // valid too; and while that one still waits in the outbox, this one queues behind it (order kept).
      const enabling = await unrecordedClaimsEnabling(leadId, partner.id, status, lead.seq ?? 0);
      // Or that earlier postback has not arrived at all yet: it is on its way or in the partner's retry queue
      // (the approval hit a gateway that died; its chargeback came in through another). A 409 would be dropped
      // for good; this one waits in the outbox until the lead's status allows it (dead-lettered if it never does).
      waitsForLead = !enabling.length;
      if (waitsForLead && !canFollowLater(lead.status as CanonicalStatus, status))
        throw new AppError('conflict', `a lead that is ${lead.status} cannot become ${status}`);
      behindQueued = enabling.some((c) => !c.sentAt);
    }

    const queued: PostbackAnswer = {
      httpStatus: 202,
      body: { ok: true, leadId, status, duplicate: false, queued: true },
    };
    if (behindQueued || waitsForLead) {
      if (!(await this.claim(waitsForLead ? { ...claim, waitsForLead: true } : claim))) return duplicate;
      this.deps.temporal.markBacklog(); // the reconciler looks for unsent claims only when told (or every 5 min)
      return queued;
    }
    // Temporal first: once the signal is accepted the effect is durable in the lead's history, and the
    // workflow applies a partner's status once however many copies reach it. The claim then records it.
    try {
      await this.deps.temporal.signalPostback(leadId, signal);
    } catch (err) {
      // Temporal is unavailable: the claim, without `sentAt`, is the outbox entry the reconciler sends.
      this.deps.logger.warn(
        { err: String(err), leadId, workflowId: leadWorkflowId(leadId) },
        'Temporal unavailable; postback queued',
      );
      if (!(await this.claim(claim))) return duplicate;
      this.deps.temporal.markBacklog();
      return queued;
    }
    try {
      // A copy that raced this one in was signalled too (and ignored by the workflow): whichever claims first is the original.
      if (!(await this.claim({ ...claim, sentAt: this.deps.now() }))) return duplicate;
    } catch (err) {
      // Applied, but not recorded: a 200 would leave no claim for good. A 503 has the partner send it again,
      // and the repeat writes the claim (above) or is signalled again and ignored by the workflow.
      this.deps.logger.warn(
        { err: String(err), leadId, postbackId: pc.postbackId },
        'applied postback could not be claimed; answered 503 for a repeat',
      );
      throw new AppError('dependency_unavailable', 'the postback could not be recorded; send it again');
    }
    return { httpStatus: 200, body: { ok: true, leadId, status, duplicate: false } };
  }

  /** Inserts a claim; false when this effect is claimed already. */
  private claim(doc: Claim): Promise<boolean> {
    return insertOnce(() => this.inserts.insert(doc));
  }

  private statusMap(partner: PartnerConfig): Map<string, PostbackStatus> {
    let map = this.statusMaps.get(partner);
    if (!map) {
      map = buildStatusMap(partner.postback);
      this.statusMaps.set(partner, map);
    }
    return map;
  }
}
