// Inbound ping-post: POST /ping runs the lead's auction in its own workflow (update-with-start) and answers the
// reserved bid; POST /leads with that pingId then posts the full lead to the winner without pinging again.
import Router from '@koa/router';
import { WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { personScreen } from '../../activities/duplicates';
import type { ConfigIndex, SourceConfig } from '../../shared/config';
import { AppError, overloaded } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import { Lead } from '../../shared/models';
import { fromCents } from '../../shared/money';
import { releaseIdentity } from '../../shared/duplicates';
import { duplicateMark, insertStatusEvent, recordMarks } from '../../shared/reports';
import { pingInputSchema, type LeadInput, type PingAnswerBody } from '../../shared/http';
import { leadWorkflowId, pingAnswerWaitMs, type PingAnswer } from '../../shared/temporal';
import { screenDuplicates } from './duplicates';
import { insertNewLead, newLeadId } from './leads';
import { sourceAuth, sourceRateLimit } from './middleware';
import type { RateLimits } from './rate-limit';
import type { TemporalClient } from './temporal';
import { PingAdmission } from './ping-admission';
import { parseInput } from './validation';

export interface PingDeps {
  config: () => ConfigIndex;
  temporal: TemporalClient;
  logger: Logger;
  /** Duplicates found when a pinged lead is posted count with those of POST /leads; pings turned away. */
  metrics?: Pick<Metrics, 'duplicateLeads' | 'pingsShed' | 'pingAdmissionLimit'>;
  now?: () => Date;
}

export class PingService {
  /** Pings run at once, limited while answers come too late (./ping-admission.ts). */
  private readonly admission = new PingAdmission();

  constructor(private readonly deps: PingDeps) {}

  /**
   * Stores the partial lead under a new id, runs its auction and returns the answer for the source; when the
   * gateway is behind, turns the ping away at once (503 `overloaded`), before it stores or starts anything.
   */
  async ping(source: SourceConfig, input: LeadInput): Promise<PingAnswerBody> {
    const { metrics } = this.deps;
    if (!this.admission.admit()) {
      metrics?.pingsShed.inc({ source: source.id });
      throw overloaded('too many auctions are running late; ping again later');
    }
    const started = performance.now();
    const deadlineMs = this.deps.config().config.routing.auction.timeoutMs;
    let waitedMs = 0;
    try {
      const { body, answer } = await this.runAuction(source, input, deadlineMs);
      waitedMs = answer.waitedMs ?? 0;
      return body;
    } finally {
      // Its own time: the answer's, less the auction's wait on buyers (a failed ping's is all its own).
      this.admission.settle(performance.now() - started - waitedMs, deadlineMs);
      metrics?.pingAdmissionLimit.set(this.admission.state().limit);
    }
  }

  private async runAuction(
    source: SourceConfig,
    input: LeadInput,
    deadlineMs: number,
  ): Promise<{ body: PingAnswerBody; answer: PingAnswer }> {
    const leadId = newLeadId();
    const at = this.deps.now?.() ?? new Date();
    if (!(await insertNewLead(leadId, input, source.id, at)))
      throw new AppError('conflict', 'leadId is already used');
    await insertStatusEvent(
      { _id: `${leadId}:0`, leadId, sourceId: source.id, status: 'received', at, reason: 'pinged by source' },
      at,
    );
    const waitMs = pingAnswerWaitMs(deadlineMs);
    let answer;
    try {
      answer = await this.deps.temporal.pingLead(leadId, source.id, waitMs);
    } catch (err) {
      this.deps.logger.warn({ err: String(err), leadId, workflowId: leadWorkflowId(leadId) }, 'ping failed');
      throw new AppError('dependency_unavailable', 'the auction could not be run; try again');
    }
    this.deps.logger.info(
      { leadId, workflowId: leadWorkflowId(leadId), sourceId: source.id, bidCents: answer.bidCents },
      'lead pinged',
    );
    if (answer.bidCents === null) return { body: { leadId, bid: null, reason: answer.reason }, answer };
    // The lead's id is the ping's: the source posts the full lead against it.
    const bid = fromCents(answer.bidCents);
    const body = { leadId, pingId: leadId, bid, currency: answer.currency, expiresAt: answer.expiresAt };
    return { body, answer };
  }

  /** Stores the full lead of a ping and has its run post it to the reserved bid. */
  async post(source: SourceConfig, input: LeadInput & { pingId: string }) {
    const { pingId, leadId: given, ...fields } = input;
    if (given && given !== pingId) throw new AppError('invalid_request', 'leadId and pingId differ');
    const lead = await Lead.findById(pingId, { sourceId: 1, status: 1, geo: 1 }).lean();
    // Another source's ping is reported as unknown: its existence is not this source's business.
    if (!lead || lead.sourceId !== source.id) throw new AppError('not_found', 'unknown pingId');
    if (lead.status !== 'received') throw new AppError('conflict', 'pingId expired or already used');
    const at = this.deps.now?.() ?? new Date();
    // The ping carried no contact data: the person is known only now, and is screened as a lead posted whole
    // (a duplicate is refused or flagged; the buyers it rules out are passed over by the run).
    const config = this.deps.config();
    // A phone's region is the lead's country, from the ping when the post leaves it out.
    const person = { contact: fields.contact, geo: fields.geo ?? lead.geo };
    const identity = await screenDuplicates(config, source, person, pingId, at, this.deps.metrics);
    // Its `received` event was counted at the ping, unflagged: a duplicate taken in counts now, from the lead's
    // `duplicateAt` (the first flagging's, should the source post again) and, for the reports' open hours, its
    // mark, recorded once the lead is known to have taken the flag. Both before the run takes the post: from then
    // on the run is the lead's only writer, and a write beside it can be lost on a server that updates a document
    // by reading and replacing it (FerretDB).
    const flagged = Boolean(identity.duplicateOf);
    const stored = await Lead.updateOne(
      { _id: pingId, status: 'received' },
      { $set: { ...fields, ...identity, updatedAt: at }, ...(flagged ? { $min: { duplicateAt: at } } : {}) },
    );
    if (flagged && stored.matchedCount > 0)
      await recordMarks([duplicateMark({ leadId: pingId, sourceId: source.id, at })]);
    const screen = await personScreen({ _id: pingId, identity: identity.identity }, at);
    const skip: Record<string, string> = {};
    for (const partner of config.partners.values()) {
      const reason = await screen(partner);
      if (reason) skip[partner.id] = reason;
    }
    try {
      await this.deps.temporal.postPinged(pingId, { skip });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) {
        // A lapsed reservation takes no post: the person's claim must not make the source's next lead of it a
        // duplicate of this one. A post already taken (a retried request) keeps its claim.
        if (!/already used/.test(String((err.cause as Error | undefined)?.message)))
          await releaseIdentity(pingId);
        throw new AppError('conflict', `pingId expired or already used`);
      }
      this.deps.logger.warn({ err: String(err), leadId: pingId }, 'post of a pinged lead failed');
      throw new AppError('dependency_unavailable', 'the post could not be handed over; try again');
    }
    return { leadId: pingId, workflowId: leadWorkflowId(pingId), status: 'received' as const };
  }
}

export function pingRouter(deps: PingDeps & { rateLimits: RateLimits }, pings: PingService): Router {
  const router = new Router();
  router.post('/ping', sourceAuth(deps.config), sourceRateLimit(deps.rateLimits), async (ctx) => {
    const input = parseInput(pingInputSchema, ctx.request.body ?? {}, 'ping');
    ctx.body = await pings.ping(ctx.state.source, input);
  });
  return router;
}
