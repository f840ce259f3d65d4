// Lead intake (store, then start the workflow, or leave it to the outbox) and the lead view with its journey.
import { randomBytes } from 'node:crypto';
import type { mongo } from 'mongoose';
import { BatchedInserts } from '../../shared/batched-inserts';
import type { ConfigIndex, SourceConfig } from '../../shared/config';
import { AppError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import { Delivery, insertOnce, IntakeOutbox, Lead, Notification, StatusEvent } from '../../shared/models';
import { DEFAULT_CURRENCY, fromCents } from '../../shared/money';
import { insertStatusEvent, receivedEvent } from '../../shared/reports';
import type { LeadInput, LeadSummary, LeadView } from '../../shared/http';
import type { CanonicalStatus } from '../../shared/statuses';
import { leadWorkflowId } from '../../shared/temporal';
import { screenDuplicates } from './duplicates';
import type { TemporalClient } from './temporal';

/** The lead's own fields as the HTTP contract names them: a row of the admin list, the head of the lead view. */
export function leadSummary(lead: {
  _id: string;
  clickId?: string | null;
  sourceId: string;
  partnerId?: string | null;
  status: string;
  payoutCents?: number | null;
  currency?: string | null;
  createdAt: Date;
  updatedAt: Date;
}): LeadSummary {
  return {
    leadId: lead._id,
    workflowId: leadWorkflowId(lead._id),
    clickId: lead.clickId ?? undefined,
    sourceId: lead.sourceId,
    partnerId: lead.partnerId ?? undefined,
    status: lead.status as CanonicalStatus,
    payout: lead.payoutCents != null ? fromCents(lead.payoutCents) : undefined,
    // Every amount with its currency: a lead written without one was paid in the default.
    currency: lead.currency ?? (lead.payoutCents != null ? DEFAULT_CURRENCY : undefined),
    createdAt: new Date(lead.createdAt).toISOString(),
    updatedAt: new Date(lead.updatedAt).toISOString(),
  };
}

/** 128 random bits: a subid nobody can guess to forge a postback for someone else's lead. */
export function newLeadId(): string {
  return randomBytes(16).toString('base64url');
}

/**
 * New leads go in through the driver, the documents of concurrent requests in one insert (as the postback
 * path's claims and log lines do; docs/benchmarks.md, End to end). Built in the shape mongoose stored them: the
 * input is checked by its zod schema (strict), the schema's defaults are written out. POST /leads and POST /ping.
 */
const leadInserts = new BatchedInserts<mongo.Document>(() => Lead.collection as unknown as mongo.Collection);

/** Stores a new lead at `received`; false when its id is taken. */
export function insertNewLead(
  leadId: string,
  fields: Record<string, unknown>,
  sourceId: string,
  at: Date,
): Promise<boolean> {
  return insertOnce(() =>
    leadInserts.insert({
      _id: leadId,
      ...fields,
      sourceId,
      status: 'received',
      revenueCents: 0,
      seq: 0,
      createdAt: at,
      updatedAt: at,
      __v: 0,
    }),
  );
}

export interface IntakeResult {
  created: boolean;
  queued: boolean;
  leadId: string;
  workflowId: string;
  status: CanonicalStatus;
}

export class LeadService {
  constructor(
    private readonly deps: {
      temporal: TemporalClient;
      logger: Logger;
      metrics: Metrics;
      now?: () => Date;
      config?: () => ConfigIndex;
    },
  ) {}

  async intake(source: SourceConfig, input: LeadInput): Promise<IntakeResult> {
    const leadId = input.leadId ?? newLeadId();
    const workflowId = leadWorkflowId(leadId);
    const at = this.deps.now?.() ?? new Date();
    // A source's own id may be a retry of a lead stored before. One generated here is new (128 random bits):
    // no read; a clash, were there one, is still caught by the insert below.
    if (input.leadId !== undefined) {
      const existing = await Lead.findById(leadId, REPEAT_FIELDS).lean();
      if (existing) return this.repeat(existing, source, leadId);
    }
    const { leadId: _omit, ...fields } = input;
    const identity = await screenDuplicates(
      this.deps.config?.(),
      source,
      input,
      leadId,
      at,
      this.deps.metrics,
    );
    const created = await insertNewLead(leadId, { ...fields, ...identity }, source.id, at);
    if (!created) {
      // The same leadId, stored by a concurrent request since the lookup above: answered as a repeat (leads are
      // never deleted, so the read finds it).
      const raced = await Lead.findById(leadId, REPEAT_FIELDS).lean();
      if (raced) return this.repeat(raced, source, leadId);
      throw new AppError('conflict', 'leadId is already used');
    }
    await recordReceived(leadId, source.id, at, identity.duplicateOf);
    this.deps.metrics.leadsReceived.inc({ source: source.id });
    const queued = !(await this.startOrQueue(leadId, source.id, at));
    this.deps.logger.info({ leadId, workflowId, sourceId: source.id, queued }, 'lead received');
    return { created: true, queued, leadId, workflowId, status: 'received' };
  }

  private async repeat(
    existing: { sourceId: string; status: string; createdAt?: Date | null; duplicateOf?: string | null },
    source: SourceConfig,
    leadId: string,
  ): Promise<IntakeResult> {
    // Another source's id is not this source's to read or to retry.
    if (existing.sourceId !== source.id) throw new AppError('conflict', 'leadId is already used');
    const workflowId = leadWorkflowId(leadId);
    let queued = false;
    if (existing.status === 'received') {
      // A first attempt that died between storing the lead and queueing its start (database or process gone
      // mid-request, found by npm run chaos) left a lead nobody would start: the source's retry finishes the
      // job. Starting is idempotent, so a lead whose workflow is already running is left as it is.
      // The same first attempt may have stopped before the lead's `received` event: without it the reports
      // count the lead nowhere (found by npm run chaos as a summary one lead short). Written once, as then.
      const at = existing.createdAt ?? new Date();
      await recordReceived(leadId, source.id, at, existing.duplicateOf ?? undefined);
      queued = !(await this.startOrQueue(leadId, source.id, new Date()));
    }
    return { created: false, queued, leadId, workflowId, status: existing.status as CanonicalStatus };
  }

  /**
   * Starts the lead's workflow; when Temporal does not answer, writes the lead's outbox entry instead and returns
   * false. Either happens before the answer, so a lead answered 202 is started or queued, never lost (SPEC). The
   * entry is written only on failure, as a postback's claim is (decision 0003): on the common path, no insert and
   * delete of an entry nobody reads. A request that dies between storing the lead and either of them answers
   * nothing: the source's retry finds the lead `received` and starts it (`repeat`).
   */
  private async startOrQueue(leadId: string, sourceId: string, at: Date): Promise<boolean> {
    try {
      await this.deps.temporal.startLead(leadId, sourceId);
      return true;
    } catch (err) {
      // Already there: a retry queued it before. The database away too: no 202 (a 503), the source retries.
      await insertOnce(() => IntakeOutbox.create({ _id: leadId, createdAt: at }));
      this.deps.logger.warn(
        { err: String(err), leadId, workflowId: leadWorkflowId(leadId) },
        'Temporal unavailable; lead start queued',
      );
      return false;
    }
  }

  async view(leadId: string, viewer: { admin?: boolean; source?: SourceConfig }): Promise<LeadView> {
    const lead = await Lead.findById(leadId).lean();
    // A lead of another source is reported as unknown: its existence is not the viewer's business.
    if (!lead || (!viewer.admin && lead.sourceId !== viewer.source?.id))
      throw new AppError('unknown_lead', 'no such lead');
    const [history, deliveries, notifications] = await Promise.all([
      StatusEvent.find({ leadId }).sort({ at: 1, _id: 1 }).lean(),
      Delivery.find({ leadId }).sort({ at: 1 }).lean(),
      Notification.find({ leadId }).sort({ at: 1 }).lean(),
    ]);
    const iso = (d: Date | null | undefined) => (d ? new Date(d).toISOString() : undefined);
    return {
      ...leadSummary(lead),
      history: history.map((h) => ({
        status: h.status as CanonicalStatus,
        at: iso(h.at) as string,
        reason: h.reason ?? '',
        partnerId: h.partnerId ?? undefined,
        rawStatus: h.rawStatus ?? undefined,
      })),
      deliveries: deliveries.map((d) => ({
        partnerId: d.partnerId,
        attempt: d.attempt ?? 0,
        at: iso(d.at) as string,
        outcome: d.outcome as LeadView['deliveries'][number]['outcome'],
        httpStatus: d.httpStatus ?? undefined,
        latencyMs: d.latencyMs ?? undefined,
        reason: d.reason ?? undefined,
      })),
      notifications: notifications.map((n) => ({
        status: n.status as CanonicalStatus,
        eventId: n.eventId ?? '',
        attempt: n.attempt ?? 0,
        at: iso(n.at) as string,
        ok: Boolean(n.ok),
        httpStatus: n.httpStatus ?? undefined,
        latencyMs: n.latencyMs ?? undefined,
        error: n.error ?? undefined,
        exhausted: n.exhausted ?? undefined,
      })),
    };
  }
}

/** What a repeated POST /leads needs of the stored lead: whose it is, where it is, and its `received` event's facts. */
const REPEAT_FIELDS = { sourceId: 1, status: 1, createdAt: 1, duplicateOf: 1 } as const;

/** The lead's `received` status event (and its report copy); idempotent, so a retry may write it again. */
function recordReceived(leadId: string, sourceId: string, at: Date, duplicateOf?: string): Promise<boolean> {
  return insertStatusEvent(receivedEvent(leadId, sourceId, at, duplicateOf), at);
}
