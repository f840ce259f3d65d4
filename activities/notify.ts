// notifySource: the outbound postback to the traffic source, one attempt per call (Temporal retries with backoff).
import { ApplicationFailure, Context } from '@temporalio/activity';
import { Webhook } from 'standardwebhooks';
import { fillTemplate } from '../shared/macros';
import { SUB_IDS } from '../shared/lead-fields';
import type { mongo } from 'mongoose';
import { BatchedInserts } from '../shared/batched-inserts';
import { insertOnce, Lead, Notification, type LeadDoc } from '../shared/models';
import { fromCents } from '../shared/money';
import type { SourceConfig } from '../shared/config';
import type { ActivityDeps } from './deps';
import type { NotifyInput, NotifyResult } from './types';
import { leadWorkflowId } from '../shared/temporal';

function signer(source: SourceConfig): Webhook | undefined {
  if (!source.secret) return undefined;
  return source.secret.startsWith('whsec_')
    ? new Webhook(source.secret)
    : new Webhook(source.secret, { format: 'raw' });
}

/** Query parameters whose values are credentials, by name (api_key, token, sig, password, auth, ...). */
const SECRET_PARAM = /key|token|secret|pass|sig|auth|credential/i;

/**
 * The URL as stored with each attempt: a source may put its own credentials in its postbackUrl (a password, an
 * `api_key=` parameter); those are replaced, while the per-lead values (clickid, status, payout) stay readable.
 */
export function redactUrlSecrets(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return '[unparseable url]';
  }
  if (u.password) u.password = 'redacted';
  for (const name of new Set(u.searchParams.keys()))
    if (SECRET_PARAM.test(name)) u.searchParams.set(name, 'redacted');
  return u.toString();
}

/** What a notification tells of its lead. */
type NotifiedLead = Pick<
  LeadDoc,
  'sourceId' | 'clickId' | 'payoutCents' | 'currency' | 'partnerId' | (typeof SUB_IDS)[number]
>;

const NOTIFIED_FIELDS = {
  sourceId: 1,
  clickId: 1,
  payoutCents: 1,
  currency: 1,
  partnerId: 1,
  ...Object.fromEntries(SUB_IDS.map((k) => [k, 1])),
};
const BLANK_SUBS = Object.fromEntries(SUB_IDS.map((k) => [k, '']));

/** A notification attempt's log line, in the schema's shape (shared/models.ts). */
interface NotificationLine {
  _id: string;
  leadId: string;
  sourceId: string;
  status: string;
  eventId: string;
  attempt: number;
  at: Date;
  url: string;
  ok: boolean;
  httpStatus?: number;
  latencyMs: number;
  error?: string;
}

/** Attempt log lines through the driver, with the concurrent notifications' in one insertMany. */
const notificationInserts = new BatchedInserts<NotificationLine>(
  () => Notification.collection as unknown as mongo.Collection<NotificationLine>,
);

/** One attempt's outcome: delivered, skipped (no postbackUrl), or failed with the reason (`error`). */
export type NotifyAttempt = NotifyResult & { error?: string };

/**
 * The outbound postback, one attempt: sent, logged and stored, never thrown for the source's answer. notifySource
 * makes its attempts with it, and recordStatus its first (decision 0025).
 */
export function sourceNotifier({ config, http, now, logger, metrics }: ActivityDeps) {
  /** `logId`: the attempt's row in the notification log, when the caller must find it again (recordStatus's). */
  return async function attemptNotification(
    { leadId, status, eventId }: NotifyInput,
    attempt: number,
    logId?: string,
  ): Promise<NotifyAttempt> {
    const lead = await Lead.collection.findOne<NotifiedLead>(
      { _id: leadId as never },
      { projection: NOTIFIED_FIELDS },
    );
    if (!lead) throw ApplicationFailure.nonRetryable(`lead ${leadId} not found`, 'UnknownLead');
    const source = config().sources.get(lead.sourceId);
    if (!source?.postbackUrl) return { delivered: false, skipped: 'source has no postbackUrl' };
    const payout = status === 'accepted' || status === 'returned' ? fromCents(lead.payoutCents ?? 0) : '0.00';
    const values = {
      clickid: lead.clickId ?? '',
      lead_id: leadId,
      status,
      payout,
      currency: lead.currency ?? 'USD',
      partner: lead.partnerId ?? '',
      source: lead.sourceId,
      event_id: eventId,
    };
    // The source's sub ids as it sent them; in the URL a sub id it did not send is blank, a JSON body leaves it out.
    const subs = Object.fromEntries(SUB_IDS.flatMap((k) => (lead[k] ? [[k, lead[k]]] : [])));
    const url = fillTemplate(source.postbackUrl, { ...values, ...BLANK_SUBS, ...subs });
    const body = source.postbackMethod === 'POST' ? JSON.stringify({ ...values, ...subs }) : '';
    const headers: Record<string, string> = { 'user-agent': 'leadrouter' };
    if (body) headers['content-type'] = 'application/json';
    const wh = signer(source);
    const at = now();
    if (wh) {
      // The id is the event's, not the attempt's: receivers deduplicate retries by it.
      headers['webhook-id'] = eventId;
      headers['webhook-timestamp'] = String(Math.floor(at.getTime() / 1000));
      // A GET carries its data in the URL, so the URL is what is signed, as a JSON string because receivers'
      // Webhook.verify parses what it checked as JSON (docs/api.md, decision 0010); a POST signs its body.
      headers['webhook-signature'] = wh.sign(eventId, at, body || JSON.stringify(url));
    }
    const started = performance.now();
    let httpStatus: number | undefined;
    let error: string | undefined;
    try {
      const res = await http({
        method: source.postbackMethod,
        url,
        headers,
        body: body || undefined,
        timeoutMs: 10_000,
      });
      httpStatus = res.status;
      if (res.status < 200 || res.status >= 300) error = `HTTP ${res.status}`;
    } catch (err) {
      error = `transport error: ${(err as Error).message}`;
    }
    const latencyMs = Math.round(performance.now() - started);
    const ok = !error;
    metrics?.notifications.inc({ source: source.id, result: ok ? 'delivered' : 'failed' });
    logger.info(
      {
        leadId,
        workflowId: leadWorkflowId(leadId),
        sourceId: source.id,
        status,
        eventId,
        attempt,
        httpStatus,
        latencyMs,
        ok,
        error,
      },
      'source notification attempt',
    );
    await insertOnce(() =>
      notificationInserts.insert({
        _id: logId ?? `${eventId}:${at.getTime()}:${attempt}`,
        leadId,
        sourceId: source.id,
        status,
        eventId,
        attempt,
        at,
        url: redactUrlSecrets(url),
        ok,
        httpStatus,
        latencyMs,
        error,
      }),
    );
    return ok ? { delivered: true, httpStatus } : { delivered: false, httpStatus, error };
  };
}

export function notifyActivities(deps: ActivityDeps) {
  const { now, logger, metrics } = deps;
  const attemptNotification = sourceNotifier(deps);
  return {
    async notifySource(input: NotifyInput): Promise<NotifyResult> {
      const attempt = Context.current().info.attempt + (input.attemptsBefore ?? 0);
      const { error, ...result } = await attemptNotification(input, attempt);
      if (error) throw ApplicationFailure.retryable(`notification failed: ${error}`, 'NotificationFailed');
      return result;
    },

    /** Marks a notification whose retries ran out, so operators see it on the lead and can replay it. */
    async recordNotificationExhausted({ leadId, status, eventId }: NotifyInput): Promise<void> {
      const lead = await Lead.findById(leadId, { sourceId: 1 }).lean();
      const at = now();
      metrics?.notifications.inc({ source: lead?.sourceId ?? 'unknown', result: 'exhausted' });
      logger.warn(
        { leadId, workflowId: leadWorkflowId(leadId), status, eventId },
        'source notification exhausted',
      );
      await Notification.create({
        _id: `${eventId}:exhausted:${at.getTime()}`,
        leadId,
        sourceId: lead?.sourceId,
        status,
        eventId,
        attempt: 0,
        at,
        ok: false,
        exhausted: true,
        error: 'retries exhausted',
      });
    },
  };
}
