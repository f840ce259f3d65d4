// Which partner sends this postback: the one named in the path, or else the one holding the lead its subid
// names; resolved once, before authentication, with the parameters then read under that partner's names.
import type { ConfigIndex } from '../../../shared/config';
import { AppError } from '../../../shared/errors';
import { safeEqual, signParams } from '../../../shared/signature';
import { bearerOf } from '../middleware';
import { findLead, holderOf } from './holder';
import type { LeadHolder, PostbackContext } from './context';
import { lookup, mergeParams, readParams, readParamsAnyPartner, signatureOf } from './params';

/**
 * Of a shared lead's buyers, the one whose credentials the request carries (its token, as a parameter or a Bearer
 * header, or a signature under its secret); undefined when none or more than one does. Only a pick:
 * authentication checks it in full after.
 */
function buyerByCredentials(
  lead: LeadHolder,
  raw: Record<string, string>,
  credentials: { signature?: string; bearer?: string },
  cfg: ConfigIndex,
): string | undefined {
  const { signature, bearer } = credentials;
  const matching = Object.keys(lead.buyers ?? {}).filter((id) => {
    const pb = cfg.partners.get(id)?.postback;
    if (!pb) return false;
    if (pb.hmacSecret && signature !== undefined)
      return safeEqual(signParams(pb.hmacSecret, raw), signature.toLowerCase());
    const alias = pb.params.token;
    const token = (alias !== undefined ? lookup(raw, alias) : undefined) ?? lookup(raw, 'token') ?? bearer;
    return pb.token !== undefined && token !== undefined && safeEqual(token, pb.token);
  });
  return matching.length === 1 ? matching[0] : undefined;
}

export async function identifyPartner(pc: PostbackContext, next: () => Promise<void>): Promise<void> {
  const { req, cfg } = pc;
  if (req.partnerIdFromPath !== undefined) {
    pc.partner = cfg.partnerInPath(req.partnerIdFromPath);
    if (!pc.partner) throw new AppError('unknown_partner', 'unknown partner');
    pc.log.partnerId = pc.partner.id;
  }
  const contentType = String(req.headers['content-type'] ?? '').toLowerCase();
  const raw = mergeParams(req.query, req.body, contentType.startsWith('application/x-www-form-urlencoded'));
  pc.raw = raw;
  if (!pc.partner) {
    // Without a partner in the path the lead says who it is: the partner holding it.
    const { subid } = readParamsAnyPartner(raw, cfg);
    pc.log.leadId = subid;
    pc.lead = await findLead(subid);
    // A shared lead has a buyer per partner: the request's credentials say which one it is.
    const holderId =
      buyerByCredentials(
        pc.lead,
        raw,
        { signature: signatureOf(req.headers, raw), bearer: bearerOf(req.headers) },
        cfg,
      ) ?? holderOf(pc.lead);
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
