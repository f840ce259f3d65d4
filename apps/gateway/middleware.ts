// Gateway middleware, one job each: request id, query size, error mapping, access log and metrics, content-type
// check, auth, rate limits.
import { randomUUID } from 'node:crypto';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type { ConfigIndex, SourceConfig } from '../../shared/config';
import { AppError, isAppError, isDependencyOutage } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import { sameSecret } from '../../shared/signature';
import type { RateLimits } from './rate-limit';

export interface GatewayState {
  requestId: string;
  source?: SourceConfig;
  admin?: boolean;
}

export function requestId() {
  return async (ctx: Context, next: Next) => {
    const given = ctx.get('x-request-id');
    ctx.state.requestId = /^[A-Za-z0-9_.-]{1,64}$/.test(given) ? given : randomUUID();
    ctx.set('x-request-id', ctx.state.requestId);
    await next();
  };
}

/**
 * A path's repeated slashes read as one, as nginx's `merge_slashes` has it: a partner's template that joins a base
 * URL ending in "/" with a path starting with one (`https://router//postback/acme?...`) reaches its route.
 */
export function mergeSlashes() {
  return async (ctx: Context, next: Next) => {
    if (ctx.path.includes('//')) ctx.path = ctx.path.replace(/\/{2,}/g, '/');
    await next();
  };
}

/** Maps every error to the JSON error shape; never a stack trace, never a 500 for bad input. */
export function errorHandler(logger: Logger) {
  return async (ctx: Context, next: Next) => {
    try {
      await next();
      if (ctx.status === 404 && ctx.body === undefined) throw new AppError('not_found', 'no such route');
    } catch (err) {
      let appError: AppError;
      if (isAppError(err)) appError = err;
      else {
        const e = err as {
          status?: number;
          statusCode?: number;
          type?: string;
          message?: string;
          expose?: boolean;
        };
        const status = e.status ?? e.statusCode ?? 500;
        // 501 is the router's answer to a method it does not know at all (TRACE, PROPFIND): still the client's choice.
        if (status === 405 || status === 501) {
          // Not an input error: the route exists, the method does not (no AppError code, so answered here).
          ctx.status = 405;
          ctx.body = {
            error: { code: 'method_not_allowed', message: `${ctx.method} is not allowed on this route` },
          };
          return;
        }
        if (status === 413) appError = new AppError('payload_too_large', 'request body is too large');
        else if (status === 415)
          appError = new AppError('unsupported_media_type', 'unsupported content type');
        else if (status >= 400 && status < 500)
          appError = new AppError(
            'invalid_request',
            e.expose && e.message ? e.message : 'malformed request body',
          );
        else if (isDependencyOutage(err)) {
          logger.warn({ err: String(err), requestId: ctx.state.requestId }, 'database unavailable');
          appError = new AppError('dependency_unavailable', 'the database is unavailable; retry later');
        } else {
          logger.error({ err, requestId: ctx.state.requestId }, 'unhandled error');
          appError = new AppError('internal', 'internal error');
        }
      }
      ctx.status = appError.status;
      if (appError.retryAfterSeconds !== undefined)
        ctx.set('retry-after', String(appError.retryAfterSeconds));
      ctx.body = {
        error: {
          code: appError.code,
          message: appError.message,
          ...(appError.issues.length ? { issues: appError.issues } : {}),
        },
      };
    }
  };
}

/** SPEC "Request size": a longer query string, or one with more parameters, is refused before it is parsed. */
export const MAX_QUERY_LENGTH = 8192;
export const MAX_QUERY_PARAMS = 100;

/**
 * Refuses a query string over the limits before anything reads `ctx.query`: parsing a flood of repeated names
 * costs far more than the request (issue: 437 ms of CPU for 16 KB). Counting "&" is linear.
 */
export function limitQuery() {
  return async (ctx: Context, next: Next) => {
    const qs = ctx.querystring;
    if (qs.length > MAX_QUERY_LENGTH)
      throw new AppError('query_too_large', `the query string is over ${MAX_QUERY_LENGTH} characters`);
    let params = 1;
    for (let i = qs.indexOf('&'); i !== -1; i = qs.indexOf('&', i + 1)) {
      if (++params > MAX_QUERY_PARAMS)
        throw new AppError(
          'query_too_large',
          `the query string has more than ${MAX_QUERY_PARAMS} parameters`,
        );
    }
    await next();
  };
}

export function accessLog(logger: Logger, metrics: Metrics) {
  return async (ctx: Context, next: Next) => {
    const started = performance.now();
    await next();
    const route = (ctx as Context & { _matchedRoute?: string })._matchedRoute ?? 'unmatched';
    metrics.httpRequests.inc({ route: String(route), code: String(ctx.status) });
    if (ctx.path !== '/healthz' && ctx.path !== '/metrics') {
      logger.debug(
        {
          requestId: ctx.state.requestId,
          method: ctx.method,
          path: ctx.path,
          status: ctx.status,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    }
  };
}

/**
 * Reading the body failed. Koa's parsers give every fault of the request itself (too large, malformed JSON,
 * cut short) an HTTP status; what fails without one is the stream inflating the body: bytes that are not the
 * gzip, deflate or brotli their `content-encoding` names. That is the client's mistake too: a 400.
 */
export function bodyParseError(err: unknown): unknown {
  const e = err as { status?: unknown; statusCode?: unknown } | null;
  if (typeof e?.status === 'number' || typeof e?.statusCode === 'number') return err;
  return new AppError('invalid_request', 'the body is not encoded as its content-encoding says');
}

/** Bodies must be JSON or a form; anything else is refused rather than silently read as empty. */
export function requireBodyType() {
  return async (ctx: Context, next: Next) => {
    const hasBody = ctx.request.length ? ctx.request.length > 0 : ctx.get('transfer-encoding') !== '';
    if (['POST', 'PUT', 'PATCH'].includes(ctx.method) && hasBody && !ctx.is('json', 'urlencoded')) {
      throw new AppError(
        'unsupported_media_type',
        'send application/json or application/x-www-form-urlencoded',
      );
    }
    await next();
  };
}

/** The client address without the IPv4-mapped IPv6 prefix, so allowlists can be written plainly. */
export function clientIp(ctx: Context): string {
  return ctx.ip.startsWith('::ffff:') ? ctx.ip.slice(7) : ctx.ip;
}

export function sourceAuth(config: () => ConfigIndex) {
  return async (ctx: Context, next: Next) => {
    const key = ctx.get('x-api-key');
    if (!key) throw new AppError('missing_credentials', 'x-api-key header is required');
    const source = config().sourceByKey(key);
    if (!source) throw new AppError('bad_credentials', 'unknown api key');
    ctx.state.source = source;
    await next();
  };
}

/**
 * Guessing keys: an address whose `x-api-key` requests keep being refused 401 is answered 429 for a while
 * (`settings.authFailureRateLimit`, the same budget postbacks have, counted apart from theirs).
 */
export function limitKeyFailures(limits: RateLimits, config: () => ConfigIndex) {
  return async (ctx: Context, next: Next) => {
    if (!ctx.get('x-api-key')) return next();
    const limit = config().config.settings.authFailureRateLimit;
    const key = `api-key:${clientIp(ctx)}`;
    await limits.refuseWhenEmpty(limit, key, 'too many refused keys from this address; slow down');
    try {
      await next();
    } catch (err) {
      if (isAppError(err) && err.status === 401) await limits.take(limit, key, '').catch(() => undefined);
      throw err;
    }
  };
}

/** The source's own rate (`sources[].rateLimit`), after `sourceAuth`. */
export function sourceRateLimit(limits: RateLimits) {
  return async (ctx: Context, next: Next) => {
    const source = (ctx.state as GatewayState).source;
    if (source?.rateLimit)
      await limits.take(source.rateLimit, source.id, 'this source sends leads faster than its rate limit');
    await next();
  };
}

/** A source's key or the admin key; routes decide what each may see. */
export function sourceOrAdminAuth(config: () => ConfigIndex, adminKey: string | undefined) {
  return async (ctx: Context, next: Next) => {
    const key = ctx.get('x-api-key');
    if (!key) throw new AppError('missing_credentials', 'x-api-key header is required');
    if (adminKey && sameSecret(key, adminKey)) ctx.state.admin = true;
    else {
      const source = config().sourceByKey(key);
      if (!source) throw new AppError('bad_credentials', 'unknown api key');
      ctx.state.source = source;
    }
    await next();
  };
}

/** A router whose every route is behind the admin key (see adminAuth). */
export function operatorRouter(
  prefix: string,
  adminKey: string | undefined,
  config?: () => ConfigIndex,
): Router {
  const router = new Router({ prefix });
  router.use(adminAuth(adminKey, config));
  return router;
}

/** The admin key only: a source's key is known but not allowed (403), any other key is a bad credential (401). */
export function adminAuth(adminKey: string | undefined, config?: () => ConfigIndex) {
  return async (ctx: Context, next: Next) => {
    const key = ctx.get('x-api-key');
    if (!key) throw new AppError('missing_credentials', 'x-api-key header is required');
    if (!adminKey || !sameSecret(key, adminKey)) {
      if (config?.().sourceByKey(key)) throw new AppError('forbidden', 'admin key required');
      throw new AppError('bad_credentials', 'unknown api key');
    }
    ctx.state.admin = true;
    await next();
  };
}

/**
 * The token of an `Authorization: Bearer <token>` header: a partner's postback token (its `token` parameter,
 * when sent, is the one read) or the metrics token.
 */
export function bearerOf(headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = headers.authorization;
  return typeof header === 'string' ? /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header)?.[1] : undefined;
}
