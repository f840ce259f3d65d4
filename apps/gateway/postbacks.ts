// The one place an HTTP postback becomes a workflow signal: resolve, authenticate, validate, map,
// deduplicate, signal (or queue when Temporal is down), and log every request with its outcome.
import { BlockList, isIPv6 } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { ConfigIndex, PartnerConfig } from '../../shared/config';
import { AppError, isAppError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import { Delivery, isDuplicateKey, Lead, PostbackEffect, PostbackLog, SignatureNonce } from '../../shared/models';
import { toCents } from '../../shared/money';
import { postbackParamsSchema, type PostbackParams } from '../../shared/schemas';
import { SIGNATURE_WINDOW_SECONDS, safeEqual, signParams } from '../../shared/signature';
import { mapPartnerStatus } from '../../shared/status-map';
import { canTransition, type CanonicalStatus, type PostbackStatus } from '../../shared/statuses';
import type { PostbackSignal } from '../../shared/temporal';
import { zodIssues } from './validation';
import type { TemporalGateway } from './temporal';

export interface RawPostback {
  method: string;
  path: string;
  query: Record<string, unknown>;
  body: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  requestId: string;
  partnerIdFromPath?: string;
}

export interface PostbackAnswer {
  httpStatus: 200 | 202;
  body: { ok: true; leadId: string; status: PostbackStatus; duplicate: boolean; queued?: boolean };
}

const PARAM_NAMES = ['subid', 'status', 'payout', 'currency', 'txid', 'token', 'ts'] as const;
const SECRET_HEADERS = new Set(['x-api-key', 'authorization', 'x-signature', 'cookie']);

export interface PostbackServiceDeps {
  config: () => ConfigIndex;
  temporal: TemporalGateway;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
}

/** Query and body merged; a parameter given twice with different values is ambiguous, so it is refused. */
function mergeParams(query: Record<string, unknown>, body: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...query };
  for (const [k, v] of Object.entries(body)) {
    if (k in merged && merged[k] !== v) {
      throw new AppError('invalid_request', `parameter "${k}" is given twice with different values`, [{ path: k, message: 'conflicting values' }]);
    }
    merged[k] = v;
  }
  for (const k of Object.keys(merged)) {
    if (/[[\]$]/.test(k) || k.startsWith('__')) {
      throw new AppError('invalid_request', `parameter name "${k.slice(0, 40)}" is not allowed`, [{ path: k.slice(0, 40), message: 'operator-shaped or nested names are refused' }]);
    }
    if (typeof merged[k] !== 'string') {
      throw new AppError('invalid_request', `parameter "${k.slice(0, 40)}" must be a single string value`, [{ path: k.slice(0, 40), message: 'arrays, objects and repeated parameters are refused' }]);
    }
  }
  return merged;
}

/** The partner's names for our parameters (subid -> clickid, ...), ours as the fallback. */
function resolveParams(params: Record<string, unknown>, partner: PartnerConfig | undefined): Record<string, unknown> {
  const aliases = partner?.postback.params ?? {};
  const out: Record<string, unknown> = {};
  for (const name of PARAM_NAMES) {
    const alias = (aliases as Record<string, string | undefined>)[name];
    const value = (alias !== undefined ? params[alias] : undefined) ?? params[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

function redactHeaders(headers: RawPostback['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) {
    if (v === undefined) continue;
    out[k] = SECRET_HEADERS.has(k.toLowerCase()) ? '[redacted]' : String(v).slice(0, 512);
  }
  return out;
}

function redactParams(params: Record<string, unknown>, partner?: PartnerConfig): Record<string, unknown> {
  const secretNames = new Set(['token', 'signature', partner?.postback.params.token].filter(Boolean) as string[]);
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params).slice(0, 50)) out[k.slice(0, 64)] = secretNames.has(k) ? '[redacted]' : typeof v === 'string' ? v.slice(0, 512) : '[non-string]';
  return out;
}

function parseParams(resolved: Record<string, unknown>): PostbackParams {
  const parsed = postbackParamsSchema.safeParse(resolved);
  if (!parsed.success) throw new AppError('invalid_request', 'invalid postback parameters', zodIssues(parsed.error));
  return parsed.data;
}

export class PostbackService {
  private readonly allowlists = new WeakMap<PartnerConfig, BlockList>();
  private readonly now: () => Date;

  constructor(private readonly deps: PostbackServiceDeps) {
    this.now = deps.now ?? (() => new Date());
  }

  async receive(req: RawPostback): Promise<PostbackAnswer> {
    const started = performance.now();
    const receivedAt = this.now();
    const postbackId = randomUUID();
    const log: Record<string, unknown> = {
      _id: undefined,
      receivedAt,
      method: req.method,
      path: req.path,
      query: redactParams(req.query),
      body: redactParams(req.body),
      headers: redactHeaders(req.headers),
      ip: req.ip,
      requestId: req.requestId,
    };
    let answer: PostbackAnswer | undefined;
    let failure: AppError | undefined;
    try {
      answer = await this.apply(req, receivedAt, postbackId, log);
    } catch (err) {
      failure = isAppError(err) ? err : new AppError('internal', 'internal error');
      if (!isAppError(err)) this.deps.logger.error({ err, requestId: req.requestId }, 'postback handling failed');
    }
    const latencyMs = performance.now() - started;
    const outcome = answer ? (answer.body.duplicate ? 'duplicate' : answer.body.queued ? 'queued' : 'applied') : `rejected:${failure?.code}`;
    Object.assign(log, {
      outcome: answer ? outcome : 'rejected',
      httpStatus: answer?.httpStatus ?? failure?.status,
      errorCode: failure?.code,
      errorMessage: failure?.message,
      latencyMs: Math.round(latencyMs * 1000) / 1000,
    });
    delete log._id;
    // Log before answering: a postback we cannot log is one we cannot vouch for, so the partner must retry.
    try {
      await PostbackLog.create(log);
    } catch (err) {
      this.deps.logger.error({ err, requestId: req.requestId }, 'postback log write failed');
      throw new AppError('dependency_unavailable', 'postback could not be recorded; retry later');
    }
    const label = answer ? outcome : (failure?.code ?? 'internal');
    this.deps.metrics.postbacks.inc({ partner: String(log.partnerId ?? 'unknown'), outcome: label });
    this.deps.metrics.postbackSeconds.observe({ outcome: answer ? outcome : 'rejected' }, latencyMs / 1000);
    this.deps.logger.info(
      { requestId: req.requestId, leadId: log.leadId, workflowId: log.leadId ? `lead-${String(log.leadId)}` : undefined, partnerId: log.partnerId, outcome: label, latencyMs },
      'postback',
    );
    if (failure) throw failure;
    return answer as PostbackAnswer;
  }

  private async apply(req: RawPostback, receivedAt: Date, postbackId: string, log: Record<string, unknown>): Promise<PostbackAnswer> {
    const cfg = this.deps.config();
    let partner: PartnerConfig | undefined;
    if (req.partnerIdFromPath !== undefined) {
      partner = cfg.partners.get(req.partnerIdFromPath);
      if (!partner) throw new AppError('unknown_partner', 'unknown partner');
      log.partnerId = partner.id;
    }
    const raw = mergeParams(req.query, req.body);
    // Without a partner in the path, the subid may come under any partner's alias.
    let resolved = resolveParams(raw, partner);
    if (!partner && resolved.subid === undefined) {
      for (const p of cfg.config.partners) {
        const alias = p.postback.params.subid;
        if (alias && raw[alias] !== undefined) {
          resolved = resolveParams(raw, p);
          break;
        }
      }
    }
    let params = parseParams(resolved);
    log.leadId = params.subid;
    log.txid = params.txid;
    log.rawStatus = params.status;

    const lead = await Lead.findById(params.subid, { sourceId: 1, partnerId: 1, status: 1 }).lean();
    if (!lead) throw new AppError('unknown_lead', 'no lead with this subid');
    if (!partner) {
      const partnerId = lead.partnerId ?? (await Delivery.findOne({ leadId: params.subid, outcome: { $ne: 'skipped' } }, { partnerId: 1 }).sort({ at: -1 }).lean())?.partnerId;
      partner = partnerId ? cfg.partners.get(partnerId) : undefined;
      if (!partner) throw new AppError('conflict', 'this lead has not been delivered to a partner yet');
      log.partnerId = partner.id;
    } else if (lead.partnerId && lead.partnerId !== partner.id) {
      const delivered = await Delivery.exists({ leadId: params.subid, partnerId: partner.id });
      if (!delivered) throw new AppError('forbidden', 'this lead was not delivered to this partner');
    }
    // Now that the partner is known, read the parameters under its own names.
    params = parseParams(resolveParams(raw, partner));
    log.query = redactParams(req.query, partner);
    log.body = redactParams(req.body, partner);

    await this.authenticate(partner, req, raw as Record<string, string>, params, receivedAt);

    const status = mapPartnerStatus(params.status, partner.postback);
    log.status = status;
    const payoutCents = params.payout !== undefined ? toCents(params.payout) : undefined;
    log.payoutCents = payoutCents;
    log.currency = params.currency?.toUpperCase();
    if (!canTransition(lead.status as CanonicalStatus, status)) {
      throw new AppError('conflict', `a lead that is ${lead.status} cannot become ${status}`);
    }

    const signal: PostbackSignal = {
      postbackId,
      partnerId: partner.id,
      status,
      rawStatus: params.status,
      payoutCents,
      currency: params.currency?.toUpperCase(),
      txid: params.txid,
      receivedAt: receivedAt.toISOString(),
    };
    const effectId = `${params.subid}:${partner.id}:${status}`;
    try {
      await PostbackEffect.create({ _id: effectId, leadId: params.subid, postbackId, signal, claimedAt: receivedAt });
    } catch (err) {
      if (!isDuplicateKey(err)) throw err;
      return { httpStatus: 200, body: { ok: true, leadId: params.subid, status, duplicate: true } };
    }
    try {
      await this.deps.temporal.signalPostback(params.subid, signal);
    } catch (err) {
      // The claim is the outbox entry: the reconciler sends it once Temporal answers again.
      this.deps.logger.warn({ err: String(err), leadId: params.subid, workflowId: `lead-${params.subid}` }, 'Temporal unavailable; postback queued');
      return { httpStatus: 202, body: { ok: true, leadId: params.subid, status, duplicate: false, queued: true } };
    }
    await PostbackEffect.updateOne({ _id: effectId }, { $set: { sentAt: this.now() } });
    return { httpStatus: 200, body: { ok: true, leadId: params.subid, status, duplicate: false } };
  }

  /** IP allowlist, then signature (when sent and configured), else the shared token. */
  private async authenticate(partner: PartnerConfig, req: RawPostback, raw: Record<string, string>, params: PostbackParams, receivedAt: Date): Promise<void> {
    const pb = partner.postback;
    if (pb.ipAllowlist?.length && !this.allowlist(partner).check(req.ip, isIPv6(req.ip) ? 'ipv6' : 'ipv4')) {
      throw new AppError('ip_not_allowed', 'this address may not send postbacks for this partner');
    }
    const signatureHeader = req.headers['x-signature'];
    if (pb.hmacSecret && signatureHeader !== undefined) {
      const signature = String(signatureHeader).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(signature)) throw new AppError('bad_signature', 'x-signature must be 64 hex characters');
      if (!params.ts) throw new AppError('bad_signature', 'signed postbacks need a ts parameter (unix seconds)');
      const skew = Math.abs(receivedAt.getTime() / 1000 - Number(params.ts));
      if (skew > SIGNATURE_WINDOW_SECONDS) throw new AppError('bad_signature', `ts is ${Math.round(skew)} s away from now (window ${SIGNATURE_WINDOW_SECONDS} s)`);
      if (!safeEqual(signParams(pb.hmacSecret, raw), signature)) throw new AppError('bad_signature', 'signature does not match');
      try {
        await SignatureNonce.create({ _id: `${partner.id}:${signature}`, expiresAt: new Date(receivedAt.getTime() + 2 * SIGNATURE_WINDOW_SECONDS * 1000) });
      } catch (err) {
        if (isDuplicateKey(err)) throw new AppError('replayed_signature', 'this signed postback was already received');
        throw err;
      }
      return;
    }
    if (pb.token) {
      if (params.token === undefined) throw new AppError('missing_credentials', 'token is required');
      if (!safeEqual(params.token, pb.token)) throw new AppError('bad_credentials', 'token does not match');
      return;
    }
    if (pb.hmacSecret) throw new AppError('missing_credentials', 'x-signature header is required');
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
