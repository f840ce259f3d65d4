// Operator endpoints behind the admin key: search leads, read one lead's whole journey, replay exhausted notifications.
import Router from '@koa/router';
import type { z } from 'zod';
import { AppError } from '../../shared/errors';
import {
  leadIdSchema,
  leadListQuerySchema,
  replayRequestSchema,
  type Journey,
  type LeadList,
  type replayFilterSchema,
  type ReplayResult,
  type ReplayTarget,
  type TimelineEntry,
} from '../../shared/http';
import type { Logger } from '../../shared/logger';
import { Bid } from '../../shared/bids';
import { Lead, Notification, PostbackLog } from '../../shared/models';
import { fromCents } from '../../shared/money';
import type { CanonicalStatus } from '../../shared/statuses';
import { leadWorkflowId } from '../../shared/temporal';
import { afterCursor, decodeCursor, pageOf, timeWindow } from './cursor';
import { leadSummary, type LeadService } from './leads';
import type { ConfigIndex } from '../../shared/config';
import { receivedPostback } from './admin-postbacks';
import { operatorRouter } from './middleware';
import type { TemporalClient } from './temporal';
import { parseInput } from './validation';

export interface AdminDeps {
  adminKey: string | undefined;
  /** To tell a source's key (403) from an unknown one (401). */
  config?: () => ConfigIndex;
  leads: LeadService;
  temporal: TemporalClient;
  logger: Logger;
  now?: () => Date;
}

export async function listLeads(query: z.infer<typeof leadListQuerySchema>): Promise<LeadList> {
  const filter: Record<string, unknown> = {};
  if (query.status) filter.status = query.status;
  if (query.partnerId) filter.partnerId = query.partnerId;
  if (query.sourceId) filter.sourceId = query.sourceId;
  const createdAt = timeWindow(query.from, query.to);
  if (createdAt) filter.createdAt = createdAt;
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    filter.$or = afterCursor('createdAt', c.at, c.id).$or;
    if (filter.createdAt) {
      // Keep the time window and the cursor condition both: $and, not an overwritten createdAt.
      filter.$and = [{ createdAt: filter.createdAt }];
      delete filter.createdAt;
    }
  }
  const rows = await Lead.find(filter, { contact: 0, data: 0 })
    .sort({ createdAt: -1, _id: -1 })
    .limit(query.limit + 1)
    .lean();
  const { page, nextCursor } = pageOf(rows, query.limit, (l) => [new Date(l.createdAt), l._id]);
  return { leads: page.map(leadSummary), nextCursor };
}

const KIND_ORDER: Record<TimelineEntry['kind'], number> = {
  status: 0,
  bid: 1,
  delivery: 2,
  postback: 3,
  notification: 4,
};
const latency = (ms: number | undefined) => (ms === undefined ? '' : ` in ${Math.round(ms)} ms`);

export async function leadJourney(leads: LeadService, leadId: string): Promise<Journey> {
  const lead = await leads.view(leadId, { admin: true });
  const [logs, bids] = await Promise.all([
    PostbackLog.find({ leadId }).sort({ receivedAt: 1 }).lean(),
    Bid.find({ leadId }).sort({ at: 1 }).lean(),
  ]);
  const postbacks = logs.map(receivedPostback);
  const timeline: TimelineEntry[] = [
    ...lead.history.map((h) => ({
      at: h.at,
      kind: 'status' as const,
      status: h.status,
      partnerId: h.partnerId,
      summary: `status ${h.status}: ${h.reason}${h.rawStatus ? ` (raw "${h.rawStatus}")` : ''}`,
    })),
    ...bids.map((b) => ({
      at: new Date(b.at).toISOString(),
      kind: 'bid' as const,
      partnerId: b.partnerId,
      httpStatus: b.httpStatus ?? undefined,
      latencyMs: b.latencyMs ?? undefined,
      ok: b.outcome === 'bid',
      summary: `ping to ${b.partnerId}: ${b.outcome === 'bid' && b.bidCents != null ? `bid ${fromCents(b.bidCents)} ${b.currency ?? ''}`.trimEnd() : b.outcome}${latency(b.latencyMs ?? undefined)}${b.pingId ? ` (ping id ${b.pingId})` : ''}${b.reason ? ` (${b.reason})` : ''}`,
    })),
    ...lead.deliveries.map((d) => ({
      at: d.at,
      kind: 'delivery' as const,
      partnerId: d.partnerId,
      httpStatus: d.httpStatus,
      latencyMs: d.latencyMs,
      summary: `delivery to ${d.partnerId} #${d.attempt}: ${d.outcome}${d.httpStatus ? ` HTTP ${d.httpStatus}` : ''}${latency(d.latencyMs)}${d.reason ? ` (${d.reason})` : ''}`,
    })),
    ...postbacks.map((p) => ({
      at: p.receivedAt,
      kind: 'postback' as const,
      partnerId: p.partnerId,
      status: p.status,
      httpStatus: p.httpStatus,
      latencyMs: p.latencyMs,
      ok: p.outcome !== 'rejected',
      summary: `postback from ${p.partnerId ?? 'unknown partner'}: ${p.rawStatus ? `"${p.rawStatus}"` : '(no status)'}${p.status ? ` -> ${p.status}` : ''}${p.payout ? ` payout ${p.payout} ${p.currency ?? lead.currency ?? ''}`.trimEnd() : ''}, ${p.outcome}${p.errorCode ? ` ${p.errorCode}` : ''}, answered HTTP ${p.httpStatus ?? '?'}${latency(p.latencyMs)}`,
    })),
    ...lead.notifications.map((n) => ({
      at: n.at,
      kind: 'notification' as const,
      status: n.status,
      httpStatus: n.httpStatus,
      latencyMs: n.latencyMs,
      ok: n.ok,
      summary: n.exhausted
        ? `notification "${n.status}" to source: retries exhausted (replayable)`
        : `notification "${n.status}" to source #${n.attempt}: ${n.ok ? 'delivered' : 'failed'}${n.httpStatus ? ` HTTP ${n.httpStatus}` : ''}${latency(n.latencyMs)}${n.error && !n.ok ? ` (${n.error})` : ''}`,
    })),
  ];
  timeline.sort((a, b) => a.at.localeCompare(b.at) || KIND_ORDER[a.kind] - KIND_ORDER[b.kind]);
  return { lead, postbacks, timeline };
}

/**
 * Notifications whose retries ran out and that no later attempt delivered, newest first.
 * Read as two plain queries and joined here: the portable subset every MongoDB-wire server runs alike.
 */
export async function exhaustedNotifications(
  filter: Omit<z.infer<typeof replayFilterSchema>, 'dryRun'> & { leadId?: string },
): Promise<ReplayTarget[]> {
  const q: Record<string, unknown> = { exhausted: true };
  if (filter.leadId) q.leadId = filter.leadId;
  if (filter.sourceId) q.sourceId = filter.sourceId;
  if (filter.status) q.status = filter.status;
  const at = timeWindow(filter.from, filter.to);
  if (at) q.at = at;
  const exhausted = await Notification.find(q, { leadId: 1, status: 1, at: 1 })
    .sort({ at: -1 })
    .limit(filter.limit * 4)
    .lean();
  if (!exhausted.length) return [];
  const leadIds = [...new Set(exhausted.map((n) => n.leadId))];
  const delivered = await Notification.find(
    { leadId: { $in: leadIds }, ok: true },
    { leadId: 1, status: 1, at: 1 },
  ).lean();
  const lastDelivered = new Map<string, number>();
  for (const d of delivered) {
    const key = `${d.leadId}\u0000${d.status}`;
    lastDelivered.set(key, Math.max(lastDelivered.get(key) ?? 0, new Date(d.at ?? 0).getTime()));
  }
  const seen = new Set<string>();
  const targets: ReplayTarget[] = [];
  for (const n of exhausted) {
    const key = `${n.leadId}\u0000${n.status}`;
    if (seen.has(key)) continue;
    seen.add(key);
    if ((lastDelivered.get(key) ?? 0) > new Date(n.at ?? 0).getTime()) continue;
    targets.push({ leadId: n.leadId, status: n.status as CanonicalStatus });
    if (targets.length >= filter.limit) break;
  }
  return targets;
}

async function replay(deps: AdminDeps, input: z.infer<typeof replayRequestSchema>): Promise<ReplayResult> {
  let targets: ReplayTarget[];
  let dryRun = false;
  if ('leadId' in input) {
    const lead = await Lead.findById(input.leadId, { _id: 1 }).lean();
    if (!lead) throw new AppError('unknown_lead', 'no such lead');
    targets = await exhaustedNotifications({ leadId: input.leadId, status: input.status, limit: 1 });
    if (!targets.length)
      throw new AppError('conflict', `lead has no exhausted "${input.status}" notification to replay`);
  } else {
    dryRun = input.dryRun;
    targets = await exhaustedNotifications(input);
  }
  const result: ReplayResult = { dryRun, matched: targets.length, targets, replayed: 0, failed: [] };
  if (dryRun) return result;
  const requestedAt = (deps.now?.() ?? new Date()).toISOString();
  // A few signals at a time: a bulk replay must not flood Temporal or hold one request for minutes.
  const queue = [...targets];
  await Promise.all(
    Array.from({ length: Math.min(8, queue.length) }, async () => {
      for (let t = queue.shift(); t; t = queue.shift()) {
        try {
          await deps.temporal.replayNotification(t.leadId, { status: t.status, requestedAt });
          result.replayed += 1;
          deps.logger.info(
            { leadId: t.leadId, workflowId: leadWorkflowId(t.leadId), status: t.status },
            'notification replay requested',
          );
        } catch (err) {
          result.failed.push({ ...t, error: String((err as Error).message ?? err).slice(0, 200) });
        }
      }
    }),
  );
  if ('leadId' in input && result.failed.length)
    throw new AppError('dependency_unavailable', 'Temporal is unreachable; retry the replay later');
  return result;
}

export function adminRouter(deps: AdminDeps): Router {
  const router = operatorRouter('/admin', deps.adminKey, deps.config);

  router.get('/leads', async (ctx) => {
    ctx.body = await listLeads(parseInput(leadListQuerySchema, ctx.query, 'lead query'));
  });

  router.get('/leads/:leadId/journey', async (ctx) => {
    const leadId = parseInput(leadIdSchema, ctx.params.leadId, 'leadId');
    ctx.body = await leadJourney(deps.leads, leadId);
  });

  router.post('/notifications/replay', async (ctx) => {
    ctx.body = await replay(deps, parseInput(replayRequestSchema, ctx.request.body ?? {}, 'replay request'));
  });

  return router;
}
