// The one place an HTTP postback becomes a workflow signal: resolve, authenticate, validate, map,
// deduplicate, signal (or queue when Temporal is down), and log every request with its outcome.
import { BlockList, isIPv6 } from 'node:net';
import { type mongo, Types } from 'mongoose';
import { BatchedInserts } from '../../shared/batched-inserts';
import type { ConfigIndex, PartnerConfig } from '../../shared/config';
import { AppError, isAppError, isDependencyOutage } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import {
  Delivery,
  isDuplicateKey,
  Lead,
  PostbackEffect,
  PostbackLog,
  SignatureNonce,
  StatusEvent,
} from '../../shared/models';
import { toCents } from '../../shared/money';
import { postbackParamsSchema, type PostbackParams } from '../../shared/schemas';
import { SIGNATURE_WINDOW_SECONDS, safeEqual, signParams } from '../../shared/signature';
import { buildStatusMap, mapPartnerStatus } from '../../shared/status-map';
import {
  canTransition,
  POSTBACK_STATUSES,
  type CanonicalStatus,
  type PostbackStatus,
} from '../../shared/statuses';
import type { PostbackSignal } from '../../shared/temporal';
import { zodIssues } from './validation';
import type { TemporalGateway } from './temporal';

export interface RawPostback {
  method: string;
  path: string;
  query: Record<string, unknown>;
  body: unknown;
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  requestId: string;
  partnerIdFromPath?: string;
}

export interface PostbackAnswer {
  httpStatus: 200 | 202;
  body: { ok: true; leadId: string; status: PostbackStatus; duplicate: boolean; queued?: boolean };
}

/** A postback request refused before it reached the handler (body parser, content type, method, route). */
export interface RefusedPostback {
  method: string;
  path: string;
  query: Record<string, unknown>;
  headers: Record<string, string | string[] | undefined>;
  ip: string;
  requestId: string;
  httpStatus: number;
  errorCode?: string;
  errorMessage?: string;
  latencyMs: number;
}

const PARAM_NAMES = ['subid', 'status', 'payout', 'currency', 'txid', 'token', 'ts'] as const;
const SECRET_HEADERS = new Set(['x-api-key', 'authorization', 'x-signature', 'cookie']);
/** Partners add their own parameters (offer ids, sub ids); more than this is not a postback. */
const MAX_PARAMS = 50;
const MAX_PARAM_LENGTH = 2048;
/** Plain names only: `subid[$ne]`, `a.b` and `__proto__` are query-operator and prototype shapes, never a partner's. */
const PARAM_NAME = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;

/** What the postback path reads of a lead. */
interface LeadHolder {
  partnerId?: string | null;
  offeredTo?: string | null;
  status: string;
  seq?: number;
}

interface Claim {
  _id: string;
  leadId: string;
  postbackId: string;
  signal: PostbackSignal;
  claimedAt: Date;
  sentAt?: Date;
}

export interface PostbackServiceDeps {
  config: () => ConfigIndex;
  temporal: TemporalGateway;
  logger: Logger;
  metrics: Metrics;
  now?: () => Date;
  /** Where the log lines go (default: the `postbacks` collection); a test gives one that fails. */
  logCollection?: () => mongo.Collection;
}

function invalid(message: string, path: string, issue: string): AppError {
  return new AppError('invalid_request', message, [{ path: path.slice(0, 64), message: issue }]);
}

/** Query and body merged into one flat map of strings; anything else is refused, never coerced. */
function mergeParams(query: Record<string, unknown>, body: unknown): Record<string, string> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw invalid('the body must be a JSON object or a form', '(body)', 'expected an object of parameters');
  }
  // No prototype: a body key "__proto__" or "constructor" must stay a plain (refused) key.
  const merged: Record<string, string> = Object.create(null) as Record<string, string>;
  let count = 0;
  for (const source of [query, body as Record<string, unknown>]) {
    for (const [k, v] of Object.entries(source)) {
      if (!PARAM_NAME.test(k)) {
        throw invalid(
          `parameter name "${k.slice(0, 40)}" is not allowed`,
          k,
          'names are letters, digits, "_" and "-"; operator-shaped or nested names are refused',
        );
      }
      if (typeof v !== 'string') {
        throw invalid(
          `parameter "${k}" must be a single string value`,
          k,
          'arrays, objects, numbers and repeated parameters are refused',
        );
      }
      if (v.length > MAX_PARAM_LENGTH)
        throw invalid(`parameter "${k}" is too long`, k, `at most ${MAX_PARAM_LENGTH} characters`);
      if (k in merged) {
        if (merged[k] !== v)
          throw invalid(`parameter "${k}" is given twice with different values`, k, 'conflicting values');
        continue;
      }
      if (++count > MAX_PARAMS)
        throw invalid(`more than ${MAX_PARAMS} parameters`, '(root)', 'too many parameters');
      merged[k] = v;
    }
  }
  return merged;
}

/** The partner's names for our parameters (subid -> clickid, ...), ours as the fallback. */
function resolveParams(
  params: Record<string, string>,
  partner: PartnerConfig | undefined,
): Record<string, string> {
  const aliases: Partial<Record<string, string>> = partner?.postback.params ?? {};
  const out: Record<string, string> = {};
  for (const name of PARAM_NAMES) {
    const alias = aliases[name];
    const value = (alias !== undefined ? params[alias] : undefined) ?? params[name];
    if (value !== undefined) out[name] = value;
  }
  return out;
}

/** A field name MongoDB stores as given: "$" and "." are escaped as in a URL, so a hostile name cannot break the log write. */
function logKey(k: string): string {
  return encodeURIComponent(k.slice(0, 64)).replace(/\./g, '%2E') || '(empty)';
}

function redactHeaders(headers: RawPostback['headers']): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers).slice(0, 50)) {
    if (v === undefined) continue;
    out[logKey(k)] = SECRET_HEADERS.has(k.toLowerCase()) ? '[redacted]' : String(v).slice(0, 512);
  }
  return out;
}

/** A copy with secret-named keys blanked at any depth (a token can hide in a nested or array-wrapped body). */
function redactDeep(value: unknown, secretNames: ReadonlySet<string>, depth = 0): unknown {
  if (typeof value !== 'object' || value === null) return value;
  if (depth > 4) return '[nested too deep]';
  if (Array.isArray(value)) return value.slice(0, 20).map((v) => redactDeep(v, secretNames, depth + 1));
  return Object.fromEntries(
    Object.entries(value)
      .slice(0, 50)
      .map(([k, v]) => [k, secretNames.has(k) ? '[redacted]' : redactDeep(v, secretNames, depth + 1)]),
  );
}

function redactParams(params: unknown, secretNames: ReadonlySet<string>): Record<string, unknown> {
  if (typeof params !== 'object' || params === null) return {};
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(params).slice(0, 50)) {
    // Refused shapes are kept as text, so operators see what was sent without the database reading it as a query.
    out[logKey(k)] = secretNames.has(k)
      ? '[redacted]'
      : typeof v === 'string'
        ? v.slice(0, 512)
        : `[${Array.isArray(v) ? 'array' : typeof v}] ${String(JSON.stringify(redactDeep(v, secretNames))).slice(0, 500)}`;
  }
  return out;
}

/** The database going away or too busy mid-request is a 503 the partner should retry, not our bug (500). */
function unexpected(err: unknown): AppError {
  if (isDependencyOutage(err))
    return new AppError('dependency_unavailable', 'the database is unavailable; retry later');
  return new AppError('internal', 'internal error');
}

function parseParams(resolved: Record<string, string>): PostbackParams {
  const parsed = postbackParamsSchema.safeParse(resolved);
  if (!parsed.success)
    throw new AppError('invalid_request', 'invalid postback parameters', zodIssues(parsed.error));
  return parsed.data;
}

export class PostbackService {
  private readonly allowlists = new WeakMap<PartnerConfig, BlockList>();
  private readonly statusMaps = new WeakMap<PartnerConfig, Map<string, PostbackStatus>>();
  private readonly secretNames = new WeakMap<ConfigIndex, ReadonlySet<string>>();
  /** Requests the handler logged, keyed by their headers object (one per request, seen by both the handler and the middleware). */
  private readonly handled = new WeakSet<object>();
  private readonly now: () => Date;
  /**
   * The postback path writes and reads through the driver, not mongoose documents (half the client CPU per
   * operation), and the claims and log lines of concurrent requests go in together (docs/benchmarks.md,
   * Ingest). The documents are built here field by field, in the schemas' shapes.
   */
  private readonly claims = new BatchedInserts<Claim>(
    () => PostbackEffect.collection as unknown as mongo.Collection<Claim>,
  );
  private readonly logs: BatchedInserts<mongo.Document>;

  constructor(private readonly deps: PostbackServiceDeps) {
    this.now = deps.now ?? (() => new Date());
    this.logs = new BatchedInserts(
      deps.logCollection ?? (() => PostbackLog.collection as unknown as mongo.Collection),
    );
  }

  /** Parameter names that carry a secret under any partner's aliases: never stored. */
  private secrets(): ReadonlySet<string> {
    const cfg = this.deps.config();
    let names = this.secretNames.get(cfg);
    if (!names) {
      names = new Set([
        'token',
        'signature',
        ...cfg.config.partners.flatMap((p) => (p.postback.params.token ? [p.postback.params.token] : [])),
      ]);
      this.secretNames.set(cfg, names);
    }
    return names;
  }

  /** True when `receive` logged this request itself (so the middleware does not log it again). */
  wasHandled(headers: object): boolean {
    return this.handled.has(headers);
  }

  async receive(req: RawPostback): Promise<PostbackAnswer> {
    const started = performance.now();
    const receivedAt = this.now();
    const logId = new Types.ObjectId();
    // The log id is the postback id: StatusEvent.postbackId leads back to the request that caused it.
    const postbackId = logId.toHexString();
    this.handled.add(req.headers);
    const log: Record<string, unknown> = {};
    let answer: PostbackAnswer | undefined;
    let failure: AppError | undefined;
    try {
      answer = await this.apply(req, receivedAt, postbackId, log);
    } catch (err) {
      failure = isAppError(err) ? err : unexpected(err);
      if (!isAppError(err))
        this.deps.logger.error({ err, requestId: req.requestId }, 'postback handling failed');
    }
    const latencyMs = performance.now() - started;
    const outcome = answer
      ? answer.body.duplicate
        ? 'duplicate'
        : answer.body.queued
          ? 'queued'
          : 'applied'
      : 'rejected';
    const secrets = this.secrets();
    // One insert per request, with its outcome, before the answer (SPEC: every postback is stored before the
    // response). If it cannot be stored the answer is 503 and the partner retries, even when the signal went
    // out: the workflow applies the effect once, and the retry is answered (and logged) as a duplicate.
    try {
      await this.logs.insert({
        _id: logId,
        receivedAt,
        method: req.method,
        path: req.path,
        query: redactParams(req.query, secrets),
        body: redactParams(req.body, secrets),
        headers: redactHeaders(req.headers),
        ip: req.ip,
        requestId: req.requestId,
        ...log,
        outcome,
        httpStatus: answer?.httpStatus ?? failure?.status,
        errorCode: failure?.code,
        errorMessage: failure?.message,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
      });
    } catch (err) {
      this.deps.logger.error(
        { err, requestId: req.requestId, postbackId, outcome },
        'postback could not be logged',
      );
      failure ??= new AppError('dependency_unavailable', 'the postback could not be recorded; retry later');
      answer = undefined;
    }
    const label = answer ? outcome : (failure?.code ?? 'internal');
    this.observe(String(log.partnerId ?? 'unknown'), label, answer ? outcome : 'rejected', latencyMs);
    this.deps.logger.info(
      {
        requestId: req.requestId,
        postbackId,
        leadId: log.leadId,
        workflowId: log.leadId ? `lead-${String(log.leadId)}` : undefined,
        partnerId: log.partnerId,
        outcome: label,
        latencyMs,
      },
      'postback',
    );
    if (failure) throw failure;
    return answer as PostbackAnswer;
  }

  /** Logs a postback request the gateway refused before the handler saw it (too large, wrong type, malformed). */
  async recordRefused(req: RefusedPostback): Promise<void> {
    const secrets = this.secrets();
    try {
      await PostbackLog.create({
        receivedAt: new Date(this.now().getTime() - req.latencyMs),
        method: req.method,
        path: req.path,
        query: redactParams(req.query, secrets),
        headers: redactHeaders(req.headers),
        ip: req.ip,
        requestId: req.requestId,
        outcome: 'rejected',
        httpStatus: req.httpStatus,
        errorCode: req.errorCode,
        errorMessage: req.errorMessage,
        latencyMs: Math.round(req.latencyMs * 1000) / 1000,
      });
    } catch (err) {
      this.deps.logger.error({ err, requestId: req.requestId }, 'refused postback could not be logged');
    }
    this.observe('unknown', req.errorCode ?? `http_${req.httpStatus}`, 'rejected', req.latencyMs);
  }

  private observe(partner: string, label: string, outcome: string, latencyMs: number): void {
    this.deps.metrics.postbacks.inc({ partner, outcome: label });
    this.deps.metrics.postbackSeconds.observe({ outcome }, latencyMs / 1000);
  }

  private async apply(
    req: RawPostback,
    receivedAt: Date,
    postbackId: string,
    log: Record<string, unknown>,
  ): Promise<PostbackAnswer> {
    const cfg = this.deps.config();
    let partner: PartnerConfig | undefined;
    if (req.partnerIdFromPath !== undefined) {
      partner = cfg.partners.get(req.partnerIdFromPath);
      if (!partner) throw new AppError('unknown_partner', 'unknown partner');
      log.partnerId = partner.id;
      this.checkIp(partner, req.ip);
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
    // A partner named in the path proves who it is before we say anything about the lead.
    if (partner) await this.authenticate(partner, req, raw, params, receivedAt);

    const lead = await Lead.collection.findOne<LeadHolder>(
      { _id: params.subid as never },
      { projection: { partnerId: 1, offeredTo: 1, status: 1, seq: 1 } },
    );
    if (!lead) throw new AppError('unknown_lead', 'no lead with this subid');
    // The partner holding the lead is the one it was handed to last (`offeredTo` is written before the
    // delivery request; `partnerId` only with the next status). Only that partner decides it: a partner
    // earlier in the waterfall is not credited.
    const currentPartnerId = lead.offeredTo ?? lead.partnerId ?? undefined;
    if (!partner) {
      partner = currentPartnerId ? cfg.partners.get(currentPartnerId) : undefined;
      if (!partner) throw new AppError('conflict', 'this lead has not been delivered to a partner yet');
      log.partnerId = partner.id;
      this.checkIp(partner, req.ip);
      // Now that the partner is known, read the parameters under its own names.
      params = parseParams(resolveParams(raw, partner));
      log.txid = params.txid;
      log.rawStatus = params.status;
      await this.authenticate(partner, req, raw, params, receivedAt);
    } else if (partner.id !== currentPartnerId) {
      const deliveredHere = await Delivery.exists({ leadId: params.subid, partnerId: partner.id });
      if (
        currentPartnerId === undefined &&
        !deliveredHere &&
        (lead.status === 'received' || lead.status === 'pending')
      ) {
        // The partner answered before the worker recorded the delivery (a slow or restarting worker; found by
        // npm run chaos): not a refusal, a "retry shortly", which partners do on a 5xx.
        throw new AppError(
          'dependency_unavailable',
          'the delivery of this lead is not recorded yet; retry shortly',
        );
      }
      // Recorded between the two reads: this partner holds the lead. Otherwise it is not (or no longer) its to decide.
      if (currentPartnerId !== undefined || !deliveredHere) {
        if (deliveredHere) throw new AppError('conflict', 'this lead has moved on to another partner');
        throw new AppError('forbidden', 'this lead was not delivered to this partner');
      }
    }

    const status = mapPartnerStatus(params.status, partner.postback, this.statusMap(partner));
    log.status = status;
    const payoutCents = params.payout !== undefined ? toCents(params.payout) : undefined;
    log.payoutCents = payoutCents;
    log.currency = params.currency?.toUpperCase();

    const effectId = `${params.subid}:${partner.id}:${status}`;
    const duplicate: PostbackAnswer = {
      httpStatus: 200,
      body: { ok: true, leadId: params.subid, status, duplicate: true },
    };
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
    const claim = { _id: effectId, leadId: params.subid, postbackId, signal, claimedAt: receivedAt };
    let behindQueued = false;
    if (!canTransition(lead.status as CanonicalStatus, status)) {
      // A repeat is a repeat even after the lead moved on (approved twice after the lead is accepted): 200, not
      // 409. A repeat of a valid transition needs no read here: its claim below finds the first one.
      if (await PostbackEffect.collection.findOne({ _id: effectId as never }, { projection: { _id: 1 } }))
        return duplicate;
      // Applied, but its claim was not written (the database went away after the signal; the partner was
      // answered 503 and retries): the lead already has this status from this partner.
      if (lead.status === status && lead.partnerId === partner.id) {
        await this.claim({ ...claim, sentAt: receivedAt }).catch(() => false); // the record made whole
        return duplicate;
      }
      // lead.status lags the workflow (a worker restart, a Temporal outage): an earlier postback that makes
      // this one valid (approved, then a chargeback) may be claimed and not recorded yet. Then this one is
      // valid too; and while that one still waits in the outbox, this one queues behind it (order kept).
      const enabling = await this.unrecordedClaimsEnabling(params.subid, partner.id, status, lead.seq ?? 0);
      if (!enabling.length)
        throw new AppError('conflict', `a lead that is ${lead.status} cannot become ${status}`);
      behindQueued = enabling.some((c) => !c.sentAt);
    }

    const queued: PostbackAnswer = {
      httpStatus: 202,
      body: { ok: true, leadId: params.subid, status, duplicate: false, queued: true },
    };
    if (behindQueued) {
      if (!(await this.claim(claim))) return duplicate;
      this.deps.temporal.markBacklog(); // the reconciler looks for unsent claims only when told (or every 5 min)
      return queued;
    }
    // Temporal first: once the signal is accepted the effect is durable in the lead's history, and the
    // workflow applies a partner's status once however many copies reach it. The claim then records it.
    try {
      await this.deps.temporal.signalPostback(params.subid, signal);
    } catch (err) {
      // Temporal is unavailable: the claim, without `sentAt`, is the outbox entry the reconciler sends.
      this.deps.logger.warn(
        { err: String(err), leadId: params.subid, workflowId: `lead-${params.subid}` },
        'Temporal unavailable; postback queued',
      );
      if (!(await this.claim(claim))) return duplicate;
      this.deps.temporal.markBacklog();
      return queued;
    }
    try {
      // A copy that raced this one in was signalled too (and ignored by the workflow): whichever claims first is the original.
      if (!(await this.claim({ ...claim, sentAt: this.now() }))) return duplicate;
    } catch (err) {
      // Applied already; a repeat will be signalled again and ignored by the workflow.
      this.deps.logger.error(
        { err, leadId: params.subid, postbackId },
        'applied postback could not be claimed',
      );
    }
    return { httpStatus: 200, body: { ok: true, leadId: params.subid, status, duplicate: false } };
  }

  /** Inserts a claim; false when this effect is claimed already. */
  private async claim(doc: Claim): Promise<boolean> {
    try {
      await this.claims.insert(doc);
      return true;
    } catch (err) {
      if (isDuplicateKey(err)) return false;
      throw err;
    }
  }

  /** This partner's claims for this lead not yet reflected in the lead document, from which `status` is a valid transition. */
  private async unrecordedClaimsEnabling(
    leadId: string,
    partnerId: string,
    status: PostbackStatus,
    leadSeq: number,
  ) {
    const ids = POSTBACK_STATUSES.filter((s) => canTransition(s, status)).map(
      (s) => `${leadId}:${partnerId}:${s}`,
    );
    const claims = ids.length
      ? await PostbackEffect.find({ _id: { $in: ids } }, { postbackId: 1, sentAt: 1 }).lean()
      : [];
    const unrecorded = [];
    for (const claim of claims) {
      // The status event (`<leadId>:<seq>`) is written before the lead document: compare its seq with the lead's.
      const event = await StatusEvent.findOne({ leadId, postbackId: claim.postbackId }, { _id: 1 }).lean();
      const eventSeq = event ? Number(String(event._id).slice(leadId.length + 1)) : Number.POSITIVE_INFINITY;
      if (eventSeq > leadSeq) unrecorded.push(claim);
    }
    return unrecorded;
  }

  private statusMap(partner: PartnerConfig): Map<string, PostbackStatus> {
    let map = this.statusMaps.get(partner);
    if (!map) {
      map = buildStatusMap(partner.postback);
      this.statusMaps.set(partner, map);
    }
    return map;
  }

  private checkIp(partner: PartnerConfig, ip: string): void {
    if (
      partner.postback.ipAllowlist?.length &&
      !this.allowlist(partner).check(ip, isIPv6(ip) ? 'ipv6' : 'ipv4')
    ) {
      throw new AppError('ip_not_allowed', 'this address may not send postbacks for this partner');
    }
  }

  /** Signature (when sent and configured), else the shared token; the IP allowlist is checked before. */
  private async authenticate(
    partner: PartnerConfig,
    req: RawPostback,
    raw: Record<string, string>,
    params: PostbackParams,
    receivedAt: Date,
  ): Promise<void> {
    const pb = partner.postback;
    const signatureHeader = req.headers['x-signature'];
    if (pb.hmacSecret && signatureHeader !== undefined) {
      const signature = String(signatureHeader).toLowerCase();
      if (!/^[0-9a-f]{64}$/.test(signature))
        throw new AppError('bad_signature', 'x-signature must be 64 hex characters');
      if (!params.ts)
        throw new AppError('bad_signature', 'signed postbacks need a ts parameter (unix seconds)');
      const skew = Math.abs(receivedAt.getTime() / 1000 - Number(params.ts));
      if (skew > SIGNATURE_WINDOW_SECONDS)
        throw new AppError(
          'bad_signature',
          `ts is ${Math.round(skew)} s away from now (window ${SIGNATURE_WINDOW_SECONDS} s)`,
        );
      // The signed string joins k=v with "&" as received (SPEC): a name or value holding "&" or "=" would sign
      // the same as another set of parameters, so such a request cannot be vouched for.
      if (Object.entries(raw).some(([k, v]) => /[&=]/.test(k) || /[&=]/.test(v)))
        throw new AppError('bad_signature', 'signed parameters may not contain "&" or "="');
      if (!safeEqual(signParams(pb.hmacSecret, raw), signature))
        throw new AppError('bad_signature', 'signature does not match');
      try {
        await SignatureNonce.create({
          _id: `${partner.id}:${signature}`,
          expiresAt: new Date(receivedAt.getTime() + 2 * SIGNATURE_WINDOW_SECONDS * 1000),
        });
      } catch (err) {
        if (isDuplicateKey(err))
          throw new AppError('replayed_signature', 'this signed postback was already received');
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
