// A partner's integration test (`test=1`, aliasable per partner): authenticated, read and mapped like any
// postback, then answered with what would happen; nothing is claimed or signalled, only the log line written.
import { AppError, isAppError } from '../../../shared/errors';
import { PostbackClaim } from '../../../shared/models';
import { canFollowLater, canTransition, type CanonicalStatus } from '../../../shared/statuses';
import { required, type PostbackContext } from './context';
import { claimedTxid, claimId, unrecordedClaimsEnabling, type PostbackClaims } from './claim';

/** Refusals that are about the lead's state, not the request: a test answers them as `wouldApply: false`. */
const LEAD_STATE_CODES = new Set(['conflict', 'forbidden']);

export class PostbackTestMode {
  constructor(private readonly claims: PostbackClaims) {}

  /**
   * The step after authentication: a test postback goes on to the checks of the lead and the status mapping,
   * then stops here with its answer. Errors about the request itself (credentials, parameters, an unmapped
   * status, an unknown lead) stay errors: finding them is what the test is for.
   */
  readonly step = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    if (!pc.test) return next();
    try {
      await next();
    } catch (err) {
      if (!isAppError(err) || !LEAD_STATE_CODES.has(err.code)) throw err;
      this.answer(pc, false, err.message);
    }
  };

  /** In place of the effect, for a test: what applying it would do. */
  readonly preview = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    if (!pc.test) return next();
    const partner = required(pc.partner, 'partner');
    const { subid: leadId, txid } = required(pc.params, 'params');
    const lead = required(pc.lead, 'lead');
    const status = required(pc.status, 'status');
    const earlier = txid !== undefined ? await claimedTxid(leadId, partner.id, txid) : undefined;
    if (earlier)
      return this.answer(pc, false, `a repeat: transaction ${txid} was received already (${earlier})`);
    const claimed = await PostbackClaim.collection.findOne(
      { _id: claimId(leadId, partner.id, status) as never },
      { projection: { _id: 1 } },
    );
    if (claimed || (lead.status === status && lead.partnerId === partner.id))
      return this.answer(pc, false, `a repeat: this partner already reported ${status} for this lead`);
    if (
      !canTransition(lead.status as CanonicalStatus, status) &&
      !(await unrecordedClaimsEnabling(leadId, partner.id, status, lead.seq ?? 0)).length
    ) {
      if (!canFollowLater(lead.status as CanonicalStatus, status))
        return this.answer(pc, false, `a lead that is ${lead.status} cannot become ${status}`);
      return this.answer(
        pc,
        true,
        `the lead is ${lead.status}: it would be queued and become ${status} after the postback it follows`,
      );
    }
    this.answer(pc, true, `the lead would become ${status}`);
  };

  private answer(pc: PostbackContext, wouldApply: boolean, reason: string): void {
    const leadId = required(pc.params, 'params').subid;
    let status = pc.status;
    if (status === undefined) {
      try {
        status = this.claims.statusOf(pc);
      } catch (err) {
        if (isAppError(err)) throw err;
        throw new AppError('internal', 'status could not be mapped');
      }
    }
    pc.log.status = status;
    pc.log.wouldApply = wouldApply;
    pc.log.reason = reason;
    pc.answer = { httpStatus: 200, body: { ok: true, test: true, leadId, status, wouldApply, reason } };
  }
}
