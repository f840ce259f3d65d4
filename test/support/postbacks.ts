// Helpers for the postback end-to-end suites: a config with one partner per vertical, leads waited
// into `pending`, raw HTTP requests (any method, content type and body) and signed postback query strings.
import { MongoClient } from 'mongodb';
import { PostbackService } from '../../apps/gateway/postbacks';
import { createLogger } from '../../shared/logger';
import { createMetrics } from '../../shared/metrics';
import { Lead, Notification, StatusEvent } from '../../shared/models';
import { signParams } from '../../shared/signature';
import { testEnv } from './servers';
import { baseConfig, eventually, postJson, type Stack } from './stack';

export const SOURCE_KEY = { 'x-api-key': 'key-src-1-abcdef' };
export const ACME_TOKEN = 'acme-token-123';
export const HMAC_SECRET = 'signed-partner-secret-0123456789';

/** Partners told apart by vertical, so a test decides which one gets each lead. */
export function partnersConfig(
  partnerUrl: string,
  sourceUrl: string,
  acme: Record<string, unknown> = {},
): { partners: Record<string, unknown>[]; sources: Record<string, unknown>[] } {
  const cfg = baseConfig(partnerUrl, sourceUrl);
  const acmePartner = cfg.partners[0] as Record<string, unknown>;
  return {
    ...cfg,
    partners: [
      { ...acmePartner, routing: { filters: { vertical: ['auto'] } }, ...acme },
      verticalPartner(partnerUrl, 'signed', 'home', { hmacSecret: HMAC_SECRET }, { payout: 7 }),
      verticalPartner(
        partnerUrl,
        'fenced',
        'solar',
        { token: 'fenced-token-123', ipAllowlist: ['10.0.0.0/8'] },
        { payout: 3 },
      ),
      verticalPartner(
        partnerUrl,
        'net',
        'loans',
        {
          token: 'net-token-12345',
          params: { subid: 'clickid', status: 'st', token: 'key', txid: 'transaction_id' },
          statusMap: { '1': 'pending', '2': 'accepted', '3': 'rejected', lead: 'accepted' },
        },
        { payout: 9 },
      ),
    ],
  };
}

/** A partner at the simulator that gets the leads of one vertical only; its postbacks time out after 1 h. */
export function verticalPartner(
  partnerUrl: string,
  id: string,
  vertical: string,
  postback: Record<string, unknown>,
  extra: Record<string, unknown> = {},
): Record<string, unknown> {
  return {
    id,
    delivery: { url: `${partnerUrl}/leads`, timeoutMs: 2000, maxAttempts: 3 },
    postback: { timeout: '1h', ...postback },
    routing: { filters: { vertical: [vertical] } },
    ...extra,
  };
}

/** Submits a lead and waits until its workflow has delivered it and recorded `pending`. */
export async function pendingLead(stack: Stack, vertical: string, clickId?: string): Promise<string> {
  const created = await postJson(
    `${stack.baseUrl}/leads`,
    { clickId, vertical, geo: { country: 'US' } },
    SOURCE_KEY,
  );
  if (created.status !== 202)
    throw new Error(`lead not created: ${created.status} ${JSON.stringify(created.body)}`);
  const leadId = created.body.leadId as string;
  await waitForStatus(leadId, 'pending');
  return leadId;
}

/** What a postback taken in answers (200): the status it maps to, and whether it repeats one already taken. */
const okAnswer = (leadId: string, status: string, duplicate: boolean) => ({
  status: 200,
  body: { ok: true, leadId, status, duplicate },
});
/** A postback answered 200 and applied: the status it maps to for the lead. */
export const applied = (leadId: string, status = 'accepted') => okAnswer(leadId, status, false);
/** A postback answered 200 as a repeat of one already taken (`duplicate: true`): nothing changes. */
export const repeated = (leadId: string, status = 'accepted') => okAnswer(leadId, status, true);
/** A postback stored while Temporal is unreachable, answered 202: applied once it is back. */
export const queued = (leadId: string, status: string) => ({
  status: 202,
  body: { ok: true, leadId, status, duplicate: false, queued: true },
});

/** What a refused request answers: its HTTP status and error code (for `toMatchObject`). */
export const refusal = (status: number, code: string) => ({ status, body: { error: { code } } });

/** Waits until the lead has this status and its history event is written too (the lead document comes first). */
export async function waitForStatus(leadId: string, status: string, timeoutMs = 30_000) {
  return eventually(
    async () => {
      const lead = await Lead.findById(leadId).lean();
      if (lead?.status !== status) return undefined;
      return (await StatusEvent.exists({ _id: `${leadId}:${lead.seq}` })) ? lead : undefined;
    },
    timeoutMs,
    `lead ${leadId} ${status}`,
  );
}

/** The lead's history as stored: the statuses, oldest first. */
export async function historyOf(leadId: string): Promise<string[]> {
  return (await StatusEvent.find({ leadId }).sort({ at: 1, _id: 1 }).lean()).map((e) => e.status);
}

export async function notificationsOf(leadId: string, status: string) {
  return Notification.find({ leadId, status, ok: true }).lean();
}

export interface RawRequest {
  method?: string;
  path: string;
  query?: string;
  headers?: Record<string, string>;
  /** Bytes for a compressed body (`content-encoding`). */
  body?: string | Uint8Array;
  contentType?: string;
}

export interface RawResponse {
  status: number;
  body: Record<string, unknown>;
}

export async function send(baseUrl: string, req: RawRequest): Promise<RawResponse> {
  const headers: Record<string, string> = { ...req.headers };
  if (req.contentType) headers['content-type'] = req.contentType;
  const res = await fetch(`${baseUrl}${req.path}${req.query ? `?${req.query}` : ''}`, {
    method: req.method ?? (req.body !== undefined ? 'POST' : 'GET'),
    headers,
    body: req.body,
  });
  return { status: res.status, body: await bodyOf(res) };
}

/** An answer's JSON body, or `{ text }` when it is not JSON. */
export async function bodyOf(res: Response): Promise<Record<string, unknown>> {
  const text = await res.text();
  try {
    return JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { text };
  }
}

export function nowSeconds(offset = 0): string {
  return String(Math.floor(Date.now() / 1000) + offset);
}

/** A query string and its x-signature header, signed the way SPEC.md describes. */
export function signedQuery(
  params: Record<string, string>,
  secret = HMAC_SECRET,
): { query: string; headers: Record<string, string> } {
  return {
    query: new URLSearchParams(params).toString(),
    headers: { 'x-signature': signParams(secret, params) },
  };
}

/** A POST of `body` (a form or JSON) with `query`, and its x-signature over the two together. */
export function signedPost(
  path: string,
  body: Record<string, string>,
  encoding: 'form' | 'json',
  query: Record<string, string> = {},
  secret = HMAC_SECRET,
): RawRequest {
  return {
    path,
    query: new URLSearchParams(query).toString(),
    headers: { 'x-signature': signParams(secret, { ...body, ...query }) },
    body: encoding === 'form' ? new URLSearchParams(body).toString() : JSON.stringify(body),
    contentType: encoding === 'form' ? 'application/x-www-form-urlencoded' : 'application/json',
  };
}

/** Observations of the postback latency histogram in a /metrics text, summed over its labels. */
export function histogramCount(metricsText: string, name = 'leadrouter_postback_handling_seconds'): number {
  let total = 0;
  for (const line of metricsText.split('\n')) {
    if (line.startsWith(`${name}_count`)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

/** A second gateway's postback service whose log collection is gone (its client closed): the database failing after the signal. */
export async function unloggedPostbackService(stack: Stack): Promise<PostbackService> {
  const closed = new MongoClient(testEnv().mongoUri);
  await closed.connect();
  await closed.close();
  return new PostbackService({
    config: () => stack.config,
    temporal: stack.temporal,
    logger: createLogger('test', 'silent'),
    metrics: createMetrics(),
    logCollection: () => closed.db('gone').collection('postbacks'),
  });
}
