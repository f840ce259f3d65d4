// Rate limits on postbacks: a budget of failed attempts per client address before the partner is known to be
// who it says, and the partner's own rate once it is (so a stranger cannot spend a partner's budget).
import { isAppError } from '../../../shared/errors';
import type { RateLimits } from '../rate-limit';
import { required, type PostbackContext } from './context';

export class PostbackLimits {
  constructor(private readonly limits: RateLimits) {}

  /**
   * The step before the partner is identified: an address that spent its failures is answered 429 without
   * being checked again, and every refusal before authentication succeeded costs it one.
   */
  readonly guardFailures = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    const limit = pc.cfg.config.settings.authFailureRateLimit;
    await this.limits.refuseWhenEmpty(
      limit,
      pc.req.ip,
      'too many refused postbacks from this address; slow down',
    );
    try {
      await next();
    } catch (err) {
      if (!pc.authenticated && isAppError(err) && err.status >= 400 && err.status < 500)
        await this.limits.take(limit, pc.req.ip, '').catch(() => undefined); // counted; this answer stays
      throw err;
    }
  };

  /** The step after authentication: the partner's own rate (`postback.rateLimit`). */
  readonly partnerRate = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    const partner = required(pc.partner, 'partner');
    const limit = partner.postback.rateLimit;
    if (limit)
      await this.limits.take(limit, partner.id, 'this partner posts back faster than its rate limit');
    await next();
  };
}
