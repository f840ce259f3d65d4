// pingPartner: one ping of a ping-post auction. Sends the partner only the lead fields its `ping.fields` lists,
// reads its bid exactly (integer cents and a currency), and stores the answer, whatever it was, in `bids`.
import type { mongo } from 'mongoose';
import { RE2JS } from 're2js';
import type { PartnerConfig } from '../shared/config';
import { Bid, PingClaim } from '../shared/bids';
import { readPath } from '../shared/lead-fields';
import { insertOnce, Lead, type LeadDoc } from '../shared/models';
import { toCents } from '../shared/money';
import { bidMark, recordMarks } from '../shared/reports';
import { insertNew } from '../shared/reports/events';
import { flattenDeliveryBody } from './delivery';
import type { ActivityDeps } from './deps';
import type { PingBiddersInput, PingResult, PingsSent, SentPing } from './types';
import { leadWorkflowId } from '../shared/temporal';

type PingConfig = NonNullable<PartnerConfig['ping']>;
type Answer = Omit<PingResult, 'partnerId' | 'latencyMs' | 'at'>;

/** The ping's body: the listed fields at their own paths (`geo.state` stays under `geo`), nothing else. */
export function buildPingBody(ping: PingConfig, lead: Record<string, unknown>): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  for (const path of ping.fields) {
    const value = readPath(lead, path);
    if (value === undefined || value === null) continue;
    const keys = path.split('.');
    let at = body;
    for (const key of keys.slice(0, -1)) at = (at[key] ??= {}) as Record<string, unknown>;
    at[keys.at(-1) as string] = value;
  }
  return JSON.parse(JSON.stringify(body)) as Record<string, unknown>;
}

const TRUE_WORDS = new Set(['true', 'yes', '1', 'accepted', 'accept', 'ok', 'bid']);

/** Reads a partner's answer to a ping: a bid with its ping id, or a refusal with the partner's reason. */
export function readPingAnswer(partner: PartnerConfig, ping: PingConfig, body: string): Answer {
  const r = ping.response;
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    json = undefined;
  }
  const text = (path: string | undefined) => {
    const v = path ? readPath(json, path) : undefined;
    return v === undefined || v === null || typeof v === 'object' ? undefined : String(v);
  };
  const reason = text(r.reasonPath)?.slice(0, 200);
  let accepted: boolean | undefined;
  if (r.acceptedPath) accepted = TRUE_WORDS.has((text(r.acceptedPath) ?? '').trim().toLowerCase());
  else if (r.acceptedPattern) accepted = RE2JS.compile(r.acceptedPattern).test(body);
  if (accepted === false) return { outcome: 'refused', reason: reason ?? 'partner declined to bid' };
  const rawBid = readPath(json, r.bidPath);
  if (rawBid === undefined || rawBid === null || rawBid === '')
    return { outcome: 'refused', reason: reason ?? 'no bid in the answer' };
  let bidCents: number;
  try {
    if (typeof rawBid !== 'string' && typeof rawBid !== 'number') throw new RangeError('not an amount');
    bidCents = toCents(rawBid);
  } catch {
    return { outcome: 'refused', reason: `unreadable bid "${String(rawBid).slice(0, 32)}"` };
  }
  if (bidCents < 0) return { outcome: 'refused', reason: 'negative bid' };
  if (bidCents === 0 && accepted === undefined) return { outcome: 'refused', reason: reason ?? 'bid of 0' };
  const pingId = text(r.pingIdPath);
  if (!pingId) return { outcome: 'refused', reason: 'bid without a ping id' };
  const currencyText = (text(r.currencyPath) ?? partner.currency).trim().toUpperCase();
  if (!/^[A-Z]{3}$/.test(currencyText))
    return { outcome: 'refused', reason: `unreadable currency "${currencyText.slice(0, 8)}"` };
  return { outcome: 'bid', bidCents, currency: currencyText, pingId: pingId.slice(0, 200) };
}

/** Which partner to ping for which lead, and what is left of the auction. */
type PingInput = { leadId: string; partnerId: string; timeoutMs: number };

/** Sending pings and storing their answers: the ping activities' work, and an inbound ping's first step's. */
export function auctionPinger({ config, http, now, logger }: ActivityDeps) {
  const log = (leadId: string, result: PingResult, httpStatus?: number) =>
    logger.info({ leadId, workflowId: leadWorkflowId(leadId), ...result, httpStatus }, 'ping');

  async function store(
    leadId: string,
    result: PingResult,
    httpStatus?: number,
    sourceId?: string,
  ): Promise<void> {
    log(leadId, result, httpStatus);
    // The report's copy first, as for status events (insertStatusEvent): a stop between leaves the copy.
    await recordMarks([bidMark({ leadId, sourceId, ...result, at: new Date(result.at) })]);
    await insertOnce(() =>
      Bid.create({ _id: `${leadId}:${result.partnerId}`, leadId, ...result, httpStatus, sourceId }),
    );
  }

  /** Sends one ping and reads its answer; stores nothing. */
  async function ping(
    leadId: string,
    partnerId: string,
    timeoutMs: number,
    lead: Record<string, unknown> | null,
  ): Promise<SentPing> {
    const at = now().toISOString();
    const answered = (answer: Answer, latencyMs: number, httpStatus?: number): SentPing => ({
      partnerId,
      ...answer,
      latencyMs,
      at,
      ...(httpStatus === undefined ? {} : { httpStatus }),
    });
    const partner = config().partners.get(partnerId);
    if (!partner?.ping) return answered({ outcome: 'error', reason: 'partner has no ping configured' }, 0);
    const ping = partner.ping;
    if (!lead) return answered({ outcome: 'error', reason: 'lead not found' }, 0);
    const fields = buildPingBody(ping, lead);
    let url = ping.url;
    let body: string | undefined;
    const headers: Record<string, string> = { 'user-agent': 'leadrouter', ...ping.headers };
    if (ping.method === 'GET') {
      const u = new URL(ping.url);
      for (const [k, v] of Object.entries(flattenDeliveryBody(fields, new Set()))) u.searchParams.set(k, v);
      url = u.toString();
    } else if (ping.format === 'form') {
      body = new URLSearchParams(flattenDeliveryBody(fields, new Set())).toString();
      headers['content-type'] = 'application/x-www-form-urlencoded';
    } else {
      body = JSON.stringify(fields);
      headers['content-type'] = 'application/json';
    }
    const limit = Math.max(1, Math.min(ping.timeoutMs, timeoutMs));
    const started = performance.now();
    let res;
    try {
      res = await http({ method: ping.method, url, headers, body, timeoutMs: limit });
    } catch (err) {
      const latencyMs = Math.round(performance.now() - started);
      const timedOut = latencyMs >= limit || /timeout/i.test(`${(err as Error).name} ${String(err)}`);
      return timedOut
        ? answered({ outcome: 'timeout', reason: `no answer within ${limit} ms` }, latencyMs)
        : answered({ outcome: 'error', reason: `transport error: ${(err as Error).message}` }, latencyMs);
    }
    const latencyMs = Math.round(performance.now() - started);
    // An answer after the deadline is not a bid, even if the transport let it through.
    if (latencyMs > limit)
      return answered({ outcome: 'timeout', reason: `answered after ${limit} ms` }, latencyMs, res.status);
    if (res.status >= 400)
      return answered({ outcome: 'refused', reason: `HTTP ${res.status}` }, latencyMs, res.status);
    return answered(readPingAnswer(partner, ping, res.body), latencyMs, res.status);
  }

  /** Stores an auction's answers, each in `bids` and its report mark: one insert of each for all. */
  async function storePings(leadId: string, sourceId: string | undefined, pings: SentPing[]): Promise<void> {
    // The report's copies first, as for status events (insertStatusEvent): a stop between leaves them.
    await recordMarks(pings.map((p) => bidMark({ leadId, sourceId, ...p, at: new Date(p.at) })));
    const bids = Bid.collection as unknown as mongo.Collection<{ _id: string }>;
    await insertNew(
      bids,
      pings.map((p) => ({
        _id: `${leadId}:${p.partnerId}`,
        leadId,
        ...p,
        at: new Date(p.at),
        ...(sourceId ? { sourceId } : {}),
      })),
    );
  }

  /** Takes the lead's one claim on pinging (decision 0018); false when a lost workflow task had taken it. */
  function claim(leadId: string): Promise<boolean> {
    const claims = PingClaim.collection as unknown as mongo.Collection<{ _id: string; at: Date }>;
    return insertOnce(() => claims.insertOne({ _id: leadId, at: now() }));
  }

  /**
   * A whole auction's pings (decision 0020): the claim, every bidder pinged at once, and the answers stored
   * together. A store that fails is left to the workflow's recordPings (retried until it lands): `stored` says
   * which. A retried workflow task finds the claim taken and pings no one; its answers say so. `read` is the
   * lead's document when the caller has just read it.
   */
  async function pingAll(
    { leadId, sourceId, partnerIds, timeoutMs }: PingBiddersInput,
    read?: LeadDoc,
  ): Promise<PingsSent> {
    const [claimed, lead] = await Promise.all([
      claim(leadId),
      read ?? Lead.collection.findOne<LeadDoc>({ _id: leadId as never }),
    ]);
    if (!claimed) {
      const reason = 'not pinged again: a lost workflow task had pinged it (worker stopped)';
      return notPinged({ leadId, sourceId, partnerIds, timeoutMs }, reason);
    }
    const pings = await Promise.all(partnerIds.map((partnerId) => ping(leadId, partnerId, timeoutMs, lead)));
    return storeOrHandBack(leadId, sourceId, pings);
  }

  /** Stores an auction's answers; a store that fails hands them back to the workflow (`stored: false`). */
  async function storeOrHandBack(
    leadId: string,
    sourceId: string | undefined,
    pings: SentPing[],
  ): Promise<PingsSent> {
    for (const { httpStatus, ...result } of pings) log(leadId, result, httpStatus);
    try {
      await storePings(leadId, sourceId, pings);
      return { pings, stored: true };
    } catch (err) {
      logger.warn({ leadId, err: String(err) }, 'auction answers not stored yet; the workflow retries');
      return { pings, stored: false };
    }
  }

  /** An auction's bidders, answered without a ping (why in `reason`), and the answers stored as pingAll's. */
  async function notPinged(input: PingBiddersInput, reason: string): Promise<PingsSent> {
    const at = now().toISOString();
    const pings: SentPing[] = input.partnerIds.map((partnerId) => ({
      partnerId,
      outcome: 'error',
      reason,
      latencyMs: 0,
      at,
    }));
    return storeOrHandBack(input.leadId, input.sourceId, pings);
  }

  return { ping, log, store, storePings, claim, pingAll, notPinged };
}

export function pingActivities(deps: ActivityDeps) {
  const { ping, log, store, storePings, claim, pingAll } = auctionPinger(deps);
  return {
    /**
     * One ping, one attempt (the workflow schedules it without retries): every outcome is a result, never a
     * throw, so the auction sees a refusal with its reason. `timeoutMs` is what is left of the auction.
     * Runs recorded before pings were local activities (patch `local-pings`) schedule this one, a regular
     * activity that stores its own answer.
     */
    async pingPartner({ leadId, partnerId, timeoutMs }: PingInput): Promise<PingResult> {
      const lead = await Lead.collection.findOne<LeadDoc>({ _id: leadId as never });
      const { httpStatus, ...result } = await ping(leadId, partnerId, timeoutMs, lead);
      await store(leadId, result, httpStatus, lead?.sourceId ?? undefined);
      return result;
    },

    /**
     * Claims the lead's pings before the first is sent (decision 0018). A workflow task lost after its local
     * pings (its worker killed) is retried and runs them again: the retry finds the claim taken and pings no
     * one. A claim whose answer was lost to a database error counts as taken too: never two pings.
     */
    async claimPings({ leadId }: { leadId: string }): Promise<{ claimed: boolean }> {
      return { claimed: await claim(leadId) };
    },

    /** An auction's pings in one local activity, one attempt (decision 0020): see auctionPinger's pingAll. */
    pingBidders(input: PingBiddersInput): Promise<PingsSent> {
      return pingAll(input);
    },

    /**
     * One ping as a local activity, one attempt: sends it and returns the answer, with no write (the
     * auction's answers are stored together by recordPings). `timeoutMs` is what is left of the auction.
     */
    async sendPing({ leadId, partnerId, timeoutMs }: PingInput): Promise<SentPing> {
      const lead = await Lead.collection.findOne<LeadDoc>({ _id: leadId as never });
      const sent = await ping(leadId, partnerId, timeoutMs, lead);
      const { httpStatus, ...result } = sent;
      log(leadId, result, httpStatus);
      return sent;
    },

    /** Stores an auction's answers, each in `bids` and its report mark: one insert of each for all. */
    async recordPings({
      leadId,
      sourceId,
      pings,
    }: {
      leadId: string;
      sourceId?: string;
      pings: SentPing[];
    }): Promise<void> {
      await storePings(leadId, sourceId, pings);
    },
  };
}
