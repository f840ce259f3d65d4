// The postback log: every request, good or bad, stored with its outcome and latency, secrets redacted;
// including the requests refused before their handler (body parser, content type, method, route).
import type { Context, Next } from 'koa';
import { type mongo, Types } from 'mongoose';
import { BatchedInserts } from '../../../shared/batched-inserts';
import type { ConfigIndex } from '../../../shared/config';
import { AppError, isAppError, isDependencyOutage } from '../../../shared/errors';
import type { Logger } from '../../../shared/logger';
import type { Metrics } from '../../../shared/metrics';
import { PostbackLog } from '../../../shared/models';
import { leadWorkflowId } from '../../../shared/temporal';
import { clientIp } from '../middleware';
import type { PostbackAnswer, PostbackContext, RawPostback } from './context';

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

/**
 * The log's `outcome`: what happened to the request. `rejected` carries its `errorCode` (an `ErrorCode` of
 * shared/errors.ts); `test` (a partner's `test=1`) carries `wouldApply` and `reason`.
 */
export type PostbackOutcome = 'applied' | 'duplicate' | 'queued' | 'rejected' | 'test';

const SECRET_HEADERS = new Set(['x-api-key', 'authorization', 'x-signature', 'cookie']);

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

function outcomeOf(answer: PostbackAnswer | undefined): PostbackOutcome {
  if (!answer) return 'rejected';
  if ('test' in answer.body) return 'test';
  if (answer.body.duplicate) return 'duplicate';
  return answer.body.queued ? 'queued' : 'applied';
}

export interface PostbackRecorderDeps {
  config: () => ConfigIndex;
  logger: Logger;
  metrics: Metrics;
  now: () => Date;
  /** Where the log lines go (default: the `postbacks` collection); a test gives one that fails. */
  logCollection?: () => mongo.Collection;
}

export class PostbackRecorder {
  private readonly secretNames = new WeakMap<ConfigIndex, ReadonlySet<string>>();
  /** Requests the handler logged, keyed by their headers object (one per request, seen by both the handler and the middleware). */
  private readonly handled = new WeakSet<object>();
  /** The log lines of concurrent requests go in together (docs/benchmarks.md, Ingest). */
  private readonly logs: BatchedInserts<mongo.Document>;

  constructor(private readonly deps: PostbackRecorderDeps) {
    this.logs = new BatchedInserts(
      deps.logCollection ?? (() => PostbackLog.collection as unknown as mongo.Collection),
    );
  }

  /** A new request's context, with the id its log line (and any status event it causes) will carry. */
  open(req: RawPostback): PostbackContext {
    this.handled.add(req.headers);
    return {
      req,
      cfg: this.deps.config(),
      receivedAt: this.deps.now(),
      postbackId: new Types.ObjectId().toHexString(),
      log: {},
    };
  }

  /** True when the handler logged this request itself (so the middleware does not log it again). */
  wasHandled(headers: object): boolean {
    return this.handled.has(headers);
  }

  /**
   * The outermost step: runs the others, then writes one log line with the outcome, before the answer (SPEC:
   * every postback is stored before the response). If it cannot be stored the answer is 503 and the partner
   * retries, even when the signal went out: the workflow applies the effect once, and the retry is answered
   * (and logged) as a duplicate.
   */
  readonly step = async (pc: PostbackContext, next: () => Promise<void>): Promise<void> => {
    const started = performance.now();
    let failure: AppError | undefined;
    try {
      await next();
    } catch (err) {
      failure = isAppError(err) ? err : unexpected(err);
      if (!isAppError(err))
        this.deps.logger.error({ err, requestId: pc.req.requestId }, 'postback handling failed');
    }
    const latencyMs = performance.now() - started;
    const { req, answer } = pc;
    const outcome = outcomeOf(failure ? undefined : answer);
    const secrets = this.secrets();
    try {
      await this.logs.insert({
        _id: new Types.ObjectId(pc.postbackId),
        receivedAt: pc.receivedAt,
        method: req.method,
        path: req.path,
        query: redactParams(req.query, secrets),
        body: redactParams(req.body, secrets),
        headers: redactHeaders(req.headers),
        ip: req.ip,
        requestId: req.requestId,
        ...pc.log,
        outcome,
        // Lines of requests that changed nothing expire (settings.refusedPostbackTtl): a flood must not fill the disk.
        expiresAt: outcome === 'rejected' || outcome === 'test' ? this.expiry(pc.receivedAt) : undefined,
        httpStatus: failure ? failure.status : answer?.httpStatus,
        errorCode: failure?.code,
        errorMessage: failure?.message,
        latencyMs: Math.round(latencyMs * 1000) / 1000,
      });
    } catch (err) {
      this.deps.logger.error(
        { err, requestId: req.requestId, postbackId: pc.postbackId, outcome },
        'postback could not be logged',
      );
      failure ??= new AppError('dependency_unavailable', 'the postback could not be recorded; retry later');
    }
    const label = failure ? failure.code : outcome;
    this.observe(pc.log.partnerId ?? 'unknown', label, failure ? 'rejected' : outcome, latencyMs);
    this.deps.logger.info(
      {
        requestId: req.requestId,
        postbackId: pc.postbackId,
        leadId: pc.log.leadId,
        workflowId: pc.log.leadId ? leadWorkflowId(pc.log.leadId) : undefined,
        partnerId: pc.log.partnerId,
        outcome: label,
        latencyMs,
      },
      'postback',
    );
    if (failure) throw failure;
  };

  /** Logs a postback request the gateway refused before the handler saw it (too large, wrong type, malformed). */
  async recordRefused(req: RefusedPostback): Promise<void> {
    const secrets = this.secrets();
    const receivedAt = new Date(this.deps.now().getTime() - req.latencyMs);
    try {
      await PostbackLog.create({
        receivedAt,
        expiresAt: this.expiry(receivedAt),
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

  private expiry(receivedAt: Date): Date {
    return new Date(receivedAt.getTime() + this.deps.config().config.settings.refusedPostbackTtl);
  }

  private observe(partner: string, label: string, outcome: string, latencyMs: number): void {
    this.deps.metrics.postbacks.inc({ partner, outcome: label });
    this.deps.metrics.postbackSeconds.observe({ outcome }, latencyMs / 1000);
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
}

const POSTBACK_PATH = /^\/postback(\/|$)/;

/**
 * Every postback request is logged, including those refused before the handler (body too large, wrong
 * content type, malformed JSON, wrong method): it sits outside the error mapper and reads the final answer.
 */
export function logRefusedPostbacks(recorder: Pick<PostbackRecorder, 'wasHandled' | 'recordRefused'>) {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    await next();
    if (!POSTBACK_PATH.test(ctx.path) || recorder.wasHandled(ctx.headers)) return;
    const error = (ctx.body as { error?: { code?: string; message?: string } } | undefined)?.error;
    await recorder.recordRefused({
      method: ctx.method,
      path: ctx.path,
      // A query refused for its size is not parsed here either: its start is kept as text.
      query:
        error?.code === 'query_too_large'
          ? { '(query)': ctx.querystring.slice(0, 512) }
          : (ctx.query as Record<string, unknown>),
      headers: ctx.headers,
      ip: clientIp(ctx),
      requestId: ctx.state.requestId,
      httpStatus: ctx.status,
      errorCode: error?.code,
      errorMessage: error?.message,
      latencyMs: performance.now() - started,
    });
  };
}
