// Which partner sends this postback: the one named in the path, or else the one holding the lead its subid
// names; resolved once, before authentication, with the parameters then read under that partner's names.
import { AppError } from '../../../shared/errors';
import { findLead, holderOf } from './holder';
import type { PostbackContext } from './context';
import { mergeParams, readParams, readParamsAnyPartner } from './params';

export async function identifyPartner(pc: PostbackContext, next: () => Promise<void>): Promise<void> {
  const { req, cfg } = pc;
  if (req.partnerIdFromPath !== undefined) {
    pc.partner = cfg.partners.get(req.partnerIdFromPath);
    if (!pc.partner) throw new AppError('unknown_partner', 'unknown partner');
    pc.log.partnerId = pc.partner.id;
  }
  const raw = mergeParams(req.query, req.body);
  pc.raw = raw;
  if (!pc.partner) {
    // Without a partner in the path the lead says who it is: the partner holding it.
    const { subid } = readParamsAnyPartner(raw, cfg);
    pc.log.leadId = subid;
    pc.lead = await findLead(subid);
    const holderId = holderOf(pc.lead);
    pc.partner = holderId ? cfg.partners.get(holderId) : undefined;
    if (!pc.partner) throw new AppError('conflict', 'this lead has not been delivered to a partner yet');
    pc.log.partnerId = pc.partner.id;
  }
  pc.params = readParams(raw, pc.partner);
  pc.log.leadId = pc.params.subid;
  pc.log.txid = pc.params.txid;
  pc.log.rawStatus = pc.params.status;
  pc.test = pc.params.test === '1' || pc.params.test === 'true';
  await next();
}
