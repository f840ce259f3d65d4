// Partner authentication, once per request: the IP allowlist, then the HMAC signature (with its time window
// and replay check) or the shared token; and the record of applied signatures, once their outcome is known.
import { BlockList, isIPv6 } from 'node:net';
import type { PartnerConfig } from '../../../shared/config';
import { AppError, isAppError } from '../../../shared/errors';
import type { Logger } from '../../../shared/logger';
import { insertOnce, SignatureNonce } from '../../../shared/models';
import { SIGNATURE_WINDOW_SECONDS, safeEqual, signParams } from '../../../shared/signature';
import { bearerOf } from '../middleware';
import { required, type PostbackContext } from './context';
import { signatureOf } from './params';

/**
 * A signed postback's time in unix seconds. Signing code written with `Date.now()` sends milliseconds: 13 digits,
 * which as seconds would be past the year 5000, so they can only be milliseconds. The signature covers the text.
 */
function tsSeconds(ts: string): number {
  const n = Number(ts);
  return n >= 1e11 ? n / 1000 : n;
}

export class PartnerAuth {
  private readonly allowlists = new WeakMap<PartnerConfig, BlockList>();

  constructor(private readonly logger: Logger) {}

  /** The step: the partner is known and the parameters are read under its names. */
  readonly step = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    const partner = required(pc.partner, 'partner');
    this.checkIp(partner, pc.req.ip);
    await this.authenticate(pc, partner);
    pc.authenticated = true;
    await next();
  };

  /**
   * The outermost step: a verified signature is recorded as seen only once the request's outcome is known and
   * is not a 5xx, so a partner's identical retry after a 503 is applied (SPEC "Signed partners"). Two copies
   * in flight at once both pass the check; the effect's claim lets only one of them apply.
   */
  readonly rememberSignature = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    try {
      await next();
    } catch (err) {
      if (isAppError(err) && err.status < 500) await this.recordSignature(pc);
      throw err;
    }
    await this.recordSignature(pc);
  };

  private async recordSignature(pc: PostbackContext): Promise<void> {
    if (!pc.signature) return;
    const expiresAt = new Date(pc.receivedAt.getTime() + 2 * SIGNATURE_WINDOW_SECONDS * 1000);
    // Already there: a copy recorded it first. The database away: a replay is then answered by the effect's
    // claim (a duplicate), never applied twice.
    await insertOnce(() => SignatureNonce.create({ _id: pc.signature, expiresAt })).catch((err: unknown) =>
      this.logger.warn({ err: String(err), postbackId: pc.postbackId }, 'signature could not be recorded'),
    );
  }

  private checkIp(partner: PartnerConfig, ip: string): void {
    if (
      partner.postback.ipAllowlist?.length &&
      !this.allowlist(partner).check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4')
    ) {
      throw new AppError('ip_not_allowed', 'this address may not send postbacks for this partner');
    }
  }

  /** Signature (when sent and configured), else the shared token; the IP allowlist is checked before. */
  private async authenticate(pc: PostbackContext, partner: PartnerConfig): Promise<void> {
    const pb = partner.postback;
    const params = required(pc.params, 'params');
    const raw = required(pc.raw, 'raw');
    const given = signatureOf(pc.req.headers, raw);
    if (pb.hmacSecret && given !== undefined) {
      const signature = given.toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(signature))
        throw new AppError('bad_signature', 'the signature must be 64 hex characters');
      if (!params.ts)
        throw new AppError('bad_signature', 'signed postbacks need a ts parameter (unix seconds)');
      const skew = Math.abs(pc.receivedAt.getTime() / 1000 - tsSeconds(params.ts));
      if (skew > SIGNATURE_WINDOW_SECONDS)
        throw new AppError(
          'bad_signature',
          `ts is ${Math.round(skew)} s away from now (window ${SIGNATURE_WINDOW_SECONDS} s)`,
        );
      // The signed string joins k=v with "&" as received (SPEC): a name or value holding "&" or "=" would sign
      // the same as another set of parameters, so such a request cannot be vouched for.
      if (Object.entries(raw).some(([k, v]) => /[&=]/.test(k) || /[&=]/.test(v)))
        throw new AppError('bad_signature', 'signed parameters may not contain "&" or "="');
      if (!safeEqual(signParams(pb.hmacSecret, raw), signature))
        throw new AppError('bad_signature', 'signature does not match');
      const nonce = `${partner.id}:${signature}`;
      if (await SignatureNonce.exists({ _id: nonce }))
        throw new AppError('replayed_signature', 'this signed postback was already received');
      pc.signature = nonce;
      return;
    }
    // A partner that signs is held to it: its token alone would skip the time window and the replay check.
    if (pb.hmacSecret && !pb.allowUnsigned)
      throw new AppError(
        'missing_credentials',
        'this partner signs its postbacks: an x-signature header (or signature parameter) is required',
      );
    if (pb.token) {
      const token = params.token ?? bearerOf(pc.req.headers);
      if (token === undefined)
        throw new AppError(
          'missing_credentials',
          'token is required (a token parameter or Authorization: Bearer)',
        );
      if (!safeEqual(token, pb.token)) throw new AppError('bad_credentials', 'token does not match');
      return;
    }
    // Allowlist alone was configured and passed.
  }

  private allowlist(partner: PartnerConfig): BlockList {
    let list = this.allowlists.get(partner);
    if (!list) {
      list = new BlockList();
      for (const entry of partner.postback.ipAllowlist ?? []) {
        const [addr, prefix] = entry.split('/') as [string, string | undefined];
        const type = isIPv6(addr) ? 'ipv6' : 'ipv4';
        if (prefix !== undefined) list.addSubnet(addr, Number(prefix), type);
        else list.addAddress(addr, type);
      }
      this.allowlists.set(partner, list);
    }
    return list;
  }
}
