// The Koa gateway: middleware composed once, routes kept to a few lines each.
import Koa from 'koa';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { ConfigIndex } from '../../shared/config';
import { AppError } from '../../shared/errors';
import { sameSecret } from '../../shared/signature';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import { leadInputSchema } from '../../shared/http';
import { adminRouter } from './admin';
import { outboxAdminRouter } from './admin-outbox';
import { postbackLogRouter } from './admin-postbacks';
import { LeadService } from './leads';
import {
  accessLog,
  bearerOf,
  bodyParseError,
  clientIp,
  errorHandler,
  limitKeyFailures,
  limitQuery,
  mergeSlashes,
  requestId,
  requireBodyType,
  sourceAuth,
  sourceOrAdminAuth,
  sourceRateLimit,
} from './middleware';
import { logRefusedPostbacks, PostbackService } from './postbacks';
import { docsRouter } from './openapi';
import { pingRouter, PingService } from './ping';
import { closeWhenDraining, Draining, probesRouter } from './probes';
import { RateLimits } from './rate-limit';
import { reportsRouter } from './reports';
import { suppressionsRouter } from './suppressions';
import type { TemporalClient } from './temporal';
import { parseInput } from './validation';

export interface GatewayDeps {
  config: () => ConfigIndex;
  temporal: TemporalClient;
  logger: Logger;
  metrics: Metrics;
  adminKey?: string;
  /** Proxy hops in front of the gateway (SPEC "Client address"); `true` is 1. */
  trustProxy?: number | boolean;
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken?: string;
  now?: () => Date;
  /** Largest accepted request body. */
  bodyLimit?: string;
  /** Set on SIGTERM: /readyz answers 503 and connections close after their answer. */
  draining?: Draining;
}

export function createGateway(deps: GatewayDeps): Koa {
  const { config, temporal, logger, metrics } = deps;
  const hops = deps.trustProxy === true ? 1 : Number(deps.trustProxy ?? 0);
  // With N hops the client is the Nth address from the right of X-Forwarded-For; what is left of it was
  // written by the client itself (Koa keeps only the last `maxIpsCount` entries).
  const app = new Koa({ proxy: hops > 0, maxIpsCount: hops });
  const rateLimits = new RateLimits();
  const leads = new LeadService(deps);
  const postbacks = new PostbackService({ ...deps, rateLimits });
  const pings = new PingService(deps);
  const adminKey = deps.adminKey ?? config().config.settings.adminApiKey;
  const limit = deps.bodyLimit ?? '64kb';
  const draining = deps.draining ?? new Draining();

  app.use(requestId());
  app.use(mergeSlashes());
  app.use(closeWhenDraining(draining));
  app.use(logRefusedPostbacks(postbacks));
  // Outside the error mapper, so refused requests (4xx) are counted and logged with the status they got.
  app.use(accessLog(logger, metrics));
  app.use(errorHandler(logger));
  app.use(limitQuery());
  app.use(limitKeyFailures(rateLimits, config));
  app.use(requireBodyType());
  app.use(
    bodyParser({
      enableTypes: ['json', 'form'],
      jsonLimit: limit,
      formLimit: limit,
      jsonStrict: true,
      onError: (err) => {
        throw bodyParseError(err);
      },
    }),
  );

  const router = new Router();

  router.post('/leads', sourceAuth(config), sourceRateLimit(rateLimits), async (ctx) => {
    const input = parseInput(leadInputSchema, ctx.request.body ?? {}, 'lead');
    if (input.pingId) {
      ctx.status = 202;
      ctx.body = await pings.post(ctx.state.source, { ...input, pingId: input.pingId });
      return;
    }
    const result = await leads.intake(ctx.state.source, input);
    ctx.status = result.created ? 202 : 200;
    ctx.body = { leadId: result.leadId, workflowId: result.workflowId, status: result.status };
  });

  router.get('/leads/:leadId', sourceOrAdminAuth(config, adminKey), async (ctx) => {
    ctx.body = await leads.view(ctx.params.leadId as string, ctx.state);
  });

  const postback = async (ctx: Koa.Context & { params: Record<string, string> }) => {
    // The router answers HEAD with the GET route, effect and all; a link checker's or URL validator's HEAD of a
    // postback URL must not apply it.
    if (ctx.method === 'HEAD') {
      ctx.set('Allow', 'GET, POST');
      ctx.throw(405);
    }
    // A postback URL copied from an HTML page or an XML config keeps its escaped separators (`&amp;status=`):
    // a parameter name never holds ";", so `&amp;` can only be the separator it was written as.
    if (ctx.querystring.includes('&amp;')) ctx.querystring = ctx.querystring.replaceAll('&amp;', '&');
    const answer = await postbacks.receive({
      method: ctx.method,
      path: ctx.path,
      query: ctx.query as Record<string, unknown>,
      body: (ctx.request.body ?? {}) as Record<string, unknown>,
      headers: ctx.headers,
      ip: clientIp(ctx),
      requestId: ctx.state.requestId,
      partnerIdFromPath: ctx.params.partnerId,
    });
    ctx.status = answer.httpStatus;
    ctx.body = answer.body;
  };
  router.get('/postback', postback);
  router.post('/postback', postback);
  router.get('/postback/:partnerId', postback);
  router.post('/postback/:partnerId', postback);

  router.get('/metrics', async (ctx) => {
    // It names partners and sources: a deployment that exposes it can ask for a token.
    if (deps.metricsToken) {
      const given = bearerOf(ctx.headers);
      if (!given)
        throw new AppError('missing_credentials', 'Authorization: Bearer <METRICS_TOKEN> is required');
      if (!sameSecret(given, deps.metricsToken)) throw new AppError('bad_credentials', 'wrong metrics token');
    }
    ctx.type = metrics.registry.contentType;
    ctx.body = await metrics.registry.metrics();
  });

  app.use(pingRouter({ ...deps, rateLimits }, pings).routes());
  app.use(router.routes());
  app.use(router.allowedMethods({ throw: true }));
  app.use(probesRouter({ temporal, draining }).routes());
  const admin = adminRouter({ adminKey, config, leads, temporal, logger, now: deps.now });
  app.use(admin.routes()).use(admin.allowedMethods({ throw: true }));
  const reports = reportsRouter({ config, adminKey, now: deps.now });
  app.use(reports.routes()).use(reports.allowedMethods({ throw: true }));
  const outbox = outboxAdminRouter({ adminKey, temporal, logger });
  app.use(outbox.routes()).use(outbox.allowedMethods({ throw: true }));
  const postbackLog = postbackLogRouter({ adminKey, config, now: deps.now });
  app.use(postbackLog.routes()).use(postbackLog.allowedMethods({ throw: true }));
  app.use(suppressionsRouter({ adminKey, config, now: deps.now }).routes());
  app.use(docsRouter().routes());
  return app;
}
