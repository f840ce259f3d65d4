// deliverLead: hands a lead to a partner's API and reads its synchronous answer, if it gives one.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { mongo } from 'mongoose';
import { RE2JS } from 're2js';
import { BatchedInserts } from '../shared/batched-inserts';
import type { PartnerConfig } from '../shared/config';
import { readPath, SUB_IDS } from '../shared/lead-fields';
import { Delivery, insertOnce, Lead, type LeadDoc } from '../shared/models';
import { toCents } from '../shared/money';
import { offerMark, recordMarks, refusedPostMark } from '../shared/reports';
import { buildStatusMap, normalizeRawStatus } from '../shared/status-map';
import type { ActivityDeps } from './deps';
import type { DeliveryResult } from './types';
import { leadWorkflowId } from '../shared/temporal';

type DeliveryOutcome = 'accepted' | 'rejected' | 'pending' | 'error';

/** A delivery log line, in the schema's shape (shared/models.ts). */
interface DeliveryLine {
  _id: string;
  leadId: string;
  partnerId: string;
  attempt: number;
  at: Date;
  outcome: DeliveryOutcome;
  httpStatus?: number;
  latencyMs?: number;
  reason?: string;
  rawStatus?: string;
  sourceId?: string;
  pingId?: string;
  lastAttempt?: boolean;
}

/** Delivery log lines through the driver, with the concurrent deliveries' in one insertMany. */
const deliveryInserts = new BatchedInserts<DeliveryLine>(
  () => Delivery.collection as unknown as mongo.Collection<DeliveryLine>,
);

/** The request a partner receives: our leadId under the partner's subid field, then the lead's fields. */
export function buildDeliveryBody(
  partner: PartnerConfig,
  lead: LeadDoc & { _id: string },
): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    [partner.delivery.subidField]: lead._id,
    vertical: lead.vertical,
    geo: lead.geo ? { country: lead.geo.country, state: lead.geo.state, zip: lead.geo.zip } : undefined,
    contact: lead.contact,
    data: lead.data,
  };
  for (const k of SUB_IDS) if (lead[k]) fields[k] = lead[k];
  return JSON.parse(JSON.stringify(fields)) as Record<string, unknown>;
}

/** Names leadrouter itself speaks in: a lead's own fields never take them over in a flat body. */
function reservedNames(partner: PartnerConfig): Set<string> {
  return new Set([partner.delivery.subidField, partner.delivery.pingIdField, 'leadId', 'sourceId']);
}

/**
 * Form bodies and query strings are flat: nested leaves keep their bare name (geo.country -> country), unless
 * that name is reserved or already sent (a top-level field or an earlier leaf): then they keep their prefix
 * (contact.subid), so a source can never change the subid a partner echoes back (SPEC "Field names").
 */
export function flattenDeliveryBody(
  body: Record<string, unknown>,
  reserved: ReadonlySet<string>,
): Record<string, string> {
  const out = new Map<string, string>();
  const nested: [prefix: string, value: object][] = [];
  for (const [k, v] of Object.entries(body)) {
    if (v && typeof v === 'object') nested.push([k, v]);
    else if (v !== undefined && v !== null) out.set(k, String(v));
  }
  for (let next = nested.shift(); next; next = nested.shift()) {
    const [prefix, value] = next;
    for (const [k, v] of Object.entries(value)) {
      const path = `${prefix}.${k}`;
      if (v && typeof v === 'object') nested.push([path, v as object]);
      else if (v !== undefined && v !== null) out.set(reserved.has(k) || out.has(k) ? path : k, String(v));
    }
  }
  return Object.fromEntries(out);
}

const compiled = new Map<string, RE2JS>();
/** RE2, not RegExp: a partner's body can't make a pattern from the config backtrack for seconds (linear time). */
function matches(pattern: string, body: string): boolean {
  let re = compiled.get(pattern);
  if (!re) compiled.set(pattern, (re = RE2JS.compile(pattern)));
  return re.test(body);
}

/** Reads a synchronous verdict: a JSON path mapped like a postback, a text pattern, else "pending". */
export function readPartnerAnswer(
  partner: PartnerConfig,
  body: string,
): Pick<DeliveryResult, 'outcome' | 'rawStatus' | 'payoutCents' | 'reason'> {
  const r = partner.response;
  let json: unknown;
  if (r.statusPath || r.payoutPath) {
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
  }
  let payoutCents: number | undefined;
  if (r.payoutPath) {
    const raw = readPath(json, r.payoutPath);
    try {
      if (raw !== undefined && raw !== null && raw !== '') payoutCents = toCents(raw as string | number);
    } catch {
      payoutCents = undefined;
    }
  }
  if (r.statusPath) {
    const raw = readPath(json, r.statusPath);
    if (raw !== undefined && raw !== null && raw !== '') {
      const map = buildStatusMap({ statusMap: { ...partner.postback.statusMap, ...r.statusMap } });
      const status = map.get(normalizeRawStatus(String(raw)));
      if (status === 'accepted' || status === 'rejected')
        return { outcome: status, rawStatus: String(raw), payoutCents };
      if (status === 'pending') return { outcome: 'pending', rawStatus: String(raw), payoutCents };
      return {
        outcome: 'pending',
        rawStatus: String(raw),
        payoutCents,
        reason: `unmapped synchronous status "${String(raw).slice(0, 64)}"; awaiting postback`,
      };
    }
  }
  if (r.acceptedPattern && matches(r.acceptedPattern, body)) return { outcome: 'accepted', payoutCents };
  if (r.rejectedPattern && matches(r.rejectedPattern, body)) return { outcome: 'rejected', payoutCents };
  return { outcome: 'pending', payoutCents };
}

export function deliveryActivities({ config, http, now, logger, metrics }: ActivityDeps) {
  async function record(
    leadId: string,
    partnerId: string,
    attempt: number,
    at: Date,
    outcome: DeliveryOutcome,
    extra: Omit<DeliveryLine, '_id' | 'leadId' | 'partnerId' | 'attempt' | 'at' | 'outcome'>,
  ) {
    metrics?.deliveries.inc({ partner: partnerId, outcome });
    if (extra.latencyMs !== undefined)
      metrics?.deliverySeconds.observe({ partner: partnerId }, extra.latencyMs / 1000);
    logger.info(
      { leadId, workflowId: leadWorkflowId(leadId), partnerId, attempt, outcome, ...extra },
      'delivery attempt',
    );
    // The report's copy first, as for status events (insertStatusEvent): a stop between leaves the copy.
    await recordMarks([refusedPostMark({ leadId, partnerId, attempt, at, outcome, ...extra })]);
    await insertOnce(() =>
      deliveryInserts.insert({
        _id: `${leadId}:${partnerId}:${attempt}`,
        leadId,
        partnerId,
        attempt,
        at,
        outcome,
        ...extra,
      }),
    );
  }

  return {
    /**
     * One HTTP attempt. Transport errors, timeouts, 429 and 5xx throw (Temporal retries with backoff);
     * any other 4xx is the partner saying no, returned as a rejection and never retried.
     */
    async deliverLead({
      leadId,
      partnerId,
      pingId,
    }: {
      leadId: string;
      partnerId: string;
      /** The winning bid's ping id (ping-post): posted in `delivery.pingIdField`. */
      pingId?: string;
    }): Promise<DeliveryResult> {
      const partner = config().partners.get(partnerId);
      if (!partner)
        throw ApplicationFailure.nonRetryable(`partner ${partnerId} is not configured`, 'PartnerConfigError');
      const at = now();
      // The lead read and marked offered to this partner in one command, before the request: the partner may
      // post back before it answers us (the gateway checks who holds the lead).
      const lead = (await Lead.collection.findOneAndUpdate(
        { _id: leadId as never },
        { $set: { offeredTo: partnerId, offeredAt: at } },
      )) as (LeadDoc & { _id: string }) | null;
      if (!lead) throw ApplicationFailure.nonRetryable(`lead ${leadId} not found`, 'PartnerConfigError');
      const { attempt, retryPolicy } = Context.current().info;
      const d = partner.delivery;
      // A failed attempt after which Temporal tries no more: for a winning bid, a post refused (reports).
      const lastAttempt = attempt >= (retryPolicy?.maximumAttempts || d.maxAttempts);
      const fields = buildDeliveryBody(partner, lead);
      if (pingId !== undefined) fields[d.pingIdField] = pingId;
      let url = d.url;
      let body: string | undefined;
      const headers: Record<string, string> = { 'user-agent': 'leadrouter', ...d.headers };
      if (d.method === 'GET') {
        const u = new URL(d.url);
        for (const [k, v] of Object.entries(flattenDeliveryBody(fields, reservedNames(partner))))
          u.searchParams.set(k, v);
        url = u.toString();
      } else if (d.format === 'form') {
        body = new URLSearchParams(flattenDeliveryBody(fields, reservedNames(partner))).toString();
        headers['content-type'] = 'application/x-www-form-urlencoded';
      } else {
        body = JSON.stringify(fields);
        headers['content-type'] = 'application/json';
      }
      const logged = { sourceId: lead.sourceId ?? undefined, ...(pingId !== undefined ? { pingId } : {}) };
      // Reports count the offer once, stamped with the first attempt's time (the one its log line has).
      if (attempt === 1) await recordMarks([offerMark({ leadId, partnerId, at, ...logged })]);
      const started = performance.now();
      let res;
      try {
        res = await http({ method: d.method, url, headers, body, timeoutMs: d.timeoutMs });
      } catch (err) {
        const latencyMs = Math.round(performance.now() - started);
        const reason = `transport error: ${(err as Error).message}`;
        await record(leadId, partnerId, attempt, at, 'error', {
          latencyMs,
          reason,
          ...logged,
          ...(lastAttempt ? { lastAttempt } : {}),
        });
        throw ApplicationFailure.retryable(reason, 'DeliveryTransportError');
      }
      const latencyMs = Math.round(performance.now() - started);
      const httpStatus = res.status;
      if (httpStatus >= 500 || httpStatus === 429 || httpStatus === 408) {
        await record(leadId, partnerId, attempt, at, 'error', {
          ...logged,
          httpStatus,
          latencyMs,
          reason: `HTTP ${httpStatus}`,
          ...(lastAttempt ? { lastAttempt } : {}),
        });
        throw ApplicationFailure.retryable(`partner answered HTTP ${httpStatus}`, 'DeliveryHttpError');
      }
      if (httpStatus >= 400) {
        const reason = `HTTP ${httpStatus}`;
        await record(leadId, partnerId, attempt, at, 'rejected', {
          httpStatus,
          latencyMs,
          reason,
          ...logged,
        });
        return { outcome: 'rejected', httpStatus, latencyMs, reason, offeredAt: at.toISOString() };
      }
      const answer = readPartnerAnswer(partner, res.body);
      await record(leadId, partnerId, attempt, at, answer.outcome, {
        ...logged,
        httpStatus,
        latencyMs,
        reason: answer.reason,
        rawStatus: answer.rawStatus,
      });
      return { ...answer, httpStatus, latencyMs, offeredAt: at.toISOString() };
    },
  };
}
