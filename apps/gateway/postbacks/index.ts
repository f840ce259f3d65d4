// The one place an HTTP postback becomes a workflow signal: the steps below, composed like Koa middleware,
// each in its own file; every request is logged with its outcome by the outermost one.
import compose from 'koa-compose';
import type { mongo } from 'mongoose';
import type { ConfigIndex } from '../../../shared/config';
import type { Logger } from '../../../shared/logger';
import type { Metrics } from '../../../shared/metrics';
import type { TemporalClient } from '../temporal';
import { RateLimits } from '../rate-limit';
import { PartnerAuth } from './auth';
import type { PostbackAnswer, PostbackContext, RawPostback } from './context';
import { PostbackClaims } from './claim';
import { checkHolder } from './holder';
import { PostbackRecorder, type RefusedPostback } from './log';
import { PostbackLimits } from './limits';
import { identifyPartner } from './partner';
import { PostbackTestMode } from './test-mode';

export type { PostbackAnswer, RawPostback } from './context';
export { logRefusedPostbacks, type RefusedPostback } from './log';

export interface PostbackServiceDeps {
  config: () => ConfigIndex;
  temporal: TemporalClient;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
  /** Where the log lines go (default: the `postbacks` collection); a test gives one that fails. */
  logCollection?: () => mongo.Collection;
  /** The gateway's token buckets (shared with the source limits). */
  rateLimits?: RateLimits;
}

export class PostbackService {
  private readonly recorder: PostbackRecorder;
  private readonly run: (pc: PostbackContext) => Promise<void>;

  constructor(deps: PostbackServiceDeps) {
    const now = deps.now ?? (() => new Date());
    this.recorder = new PostbackRecorder({ ...deps, now });
    const claims = new PostbackClaims({ ...deps, now });
    const auth = new PartnerAuth(deps.logger);
    const limits = new PostbackLimits(deps.rateLimits ?? new RateLimits());
    const testMode = new PostbackTestMode(claims);
    this.run = compose<PostbackContext>([
      auth.rememberSignature,
      this.recorder.step,
      limits.guardFailures,
      identifyPartner,
      auth.step,
      limits.partnerRate,
      testMode.step,
      checkHolder,
      claims.mapStatus,
      testMode.preview,
      claims.apply,
    ]);
  }

  async receive(req: RawPostback): Promise<PostbackAnswer> {
    const pc = this.recorder.open(req);
    await this.run(pc);
    if (!pc.answer) throw new Error('the postback steps ended without an answer');
    return pc.answer;
  }

  /** True when `receive` logged this request itself (so the refused-request log does not log it again). */
  wasHandled(headers: object): boolean {
    return this.recorder.wasHandled(headers);
  }

  /** Logs a postback request the gateway refused before the handler saw it (too large, wrong type, malformed). */
  recordRefused(req: RefusedPostback): Promise<void> {
    return this.recorder.recordRefused(req);
  }
}
