// Liveness (/healthz: the process answers) and readiness (/readyz: MongoDB and Temporal answer, and the
// gateway is not draining), plus the draining state a SIGTERM sets (docs/operations.md, "Probes").
import type Koa from 'koa';
import Router from '@koa/router';
import { pingMongo } from '../../shared/db';
import type { Readiness } from '../../shared/http';
import type { TemporalClient } from './temporal';

/** Seconds a client should wait before trying this gateway again (another one, at once). */
const RETRY_AFTER_S = 5;

export class Draining {
  private since?: number;
  start(): void {
    this.since ??= Date.now();
  }
  get active(): boolean {
    return this.since !== undefined;
  }
}

/** While draining, every answer asks the client to close its connection, so keep-alive sockets end with it. */
export function closeWhenDraining(draining: Draining): Koa.Middleware {
  return async (ctx, next) => {
    await next();
    if (draining.active) ctx.set('Connection', 'close');
  };
}

export function probesRouter(deps: { temporal: TemporalClient; draining: Draining }): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.body = { ok: true };
  });
  router.get('/readyz', async (ctx) => {
    const [mongo, temporal] = await Promise.all([pingMongo(), deps.temporal.ping()]);
    const draining = deps.draining.active;
    const ok = mongo && temporal && !draining;
    ctx.status = ok ? 200 : 503;
    if (!ok) ctx.set('Retry-After', String(RETRY_AFTER_S));
    ctx.body = {
      ok,
      mongo: mongo ? 'up' : 'down',
      temporal: temporal ? 'up' : 'down',
      draining,
    } satisfies Readiness;
  });
  return router;
}
