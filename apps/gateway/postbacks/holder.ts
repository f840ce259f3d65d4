// The check that the partner sending a postback holds the lead: only the partner it was handed to last decides it,
// or, for a shared lead (multisell), any of its buyers, each for itself.
import { BatchedReads } from '../../../shared/batched-reads';
import { AppError } from '../../../shared/errors';
import { Delivery, Lead } from '../../../shared/models';
import { required, type LeadHolder, type PostbackContext } from './context';

/** The reads of concurrent postbacks go to the database together (`BatchedReads`). */
const leadReads = new BatchedReads<LeadHolder & { _id: string }>(() => Lead.collection, {
  partnerId: 1,
  offeredTo: 1,
  status: 1,
  seq: 1,
  buyers: 1,
});

export async function findLead(leadId: string): Promise<LeadHolder> {
  const lead = await leadReads.get(leadId);
  if (!lead) throw new AppError('unknown_lead', 'no lead with this subid');
  return lead;
}

/**
 * The partner holding the lead is the one it was handed to last (`offeredTo` is written before the delivery
 * request; `partnerId` only with the next status). A partner earlier in the waterfall is not credited.
 */
export function holderOf(lead: LeadHolder): string | undefined {
  return lead.offeredTo ?? lead.partnerId ?? undefined;
}

/**
 * A shared lead as one of its buyers sees it: that buyer holds it, and its own verdict is the status its postbacks
 * move from (accepted by one buyer, the lead may still be pending for another; decision 0017).
 */
export function asBuyer(lead: LeadHolder, partnerId: string): LeadHolder | undefined {
  const buyer = lead.buyers?.[partnerId];
  return buyer ? { ...lead, status: buyer.status, partnerId, offeredTo: partnerId } : undefined;
}

/** The step: after authentication, so a partner proves who it is before we say anything about the lead. */
export async function checkHolder(pc: PostbackContext, next: () => Promise<void>): Promise<void> {
  const partner = required(pc.partner, 'partner');
  const { subid } = required(pc.params, 'params');
  pc.lead ??= await findLead(subid);
  const buyer = asBuyer(pc.lead, partner.id);
  if (buyer) {
    pc.lead = buyer;
    return next();
  }
  const lead = pc.lead;
  const holderId = holderOf(lead);
  if (partner.id !== holderId) {
    const deliveredHere = await Delivery.exists({ leadId: subid, partnerId: partner.id });
    if (
      holderId === undefined &&
      !deliveredHere &&
      (lead.status === 'received' || lead.status === 'pending')
    ) {
      // The partner answered before the worker recorded the delivery (a slow or restarting worker; found by
      // npm run chaos): not a refusal, a "retry shortly", which partners do on a 5xx.
      throw new AppError(
        'dependency_unavailable',
        'the delivery of this lead is not recorded yet; retry shortly',
      );
    }
    // Recorded between the two reads: this partner holds the lead. Otherwise it is not (or no longer) its to decide.
    if (holderId !== undefined || !deliveredHere) {
      if (deliveredHere) throw new AppError('conflict', 'this lead has moved on to another partner');
      throw new AppError('forbidden', 'this lead was not delivered to this partner');
    }
  }
  await next();
}
