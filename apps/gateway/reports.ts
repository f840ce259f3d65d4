// Report routes, kept thin: the reports module (read model, bucket building, queries) is shared/reports.
import Router from '@koa/router';
import type { ConfigIndex } from '../../shared/config';
import { AppError } from '../../shared/errors';
import { performanceQuerySchema, reportQuerySchema } from '../../shared/http';
import { performanceReport, summaryReport } from '../../shared/reports';
import { sourceOrAdminAuth } from './middleware';
import { parseInput } from './validation';

export interface ReportsDeps {
  config: () => ConfigIndex;
  adminKey: string | undefined;
  now?: () => Date;
}

export function reportsRouter(deps: ReportsDeps): Router {
  const router = new Router({ prefix: '/reports' });
  // A source key is recognised (and refused with 403, not 401): reports are the operator's.
  router.use(sourceOrAdminAuth(deps.config, deps.adminKey), async (ctx, next) => {
    if (!ctx.state.admin) throw new AppError('forbidden', 'reports need the admin key');
    await next();
  });
  const now = () => deps.now?.() ?? new Date();

  router.get('/summary', async (ctx) => {
    ctx.body = await summaryReport(parseInput(reportQuerySchema, ctx.query, 'report query'), now());
  });

  router.get('/partners', async (ctx) => {
    ctx.body = await performanceReport(
      'partner',
      parseInput(performanceQuerySchema, ctx.query, 'report query'),
      now(),
    );
  });

  router.get('/sources', async (ctx) => {
    ctx.body = await performanceReport(
      'source',
      parseInput(performanceQuerySchema, ctx.query, 'report query'),
      now(),
    );
  });

  return router;
}
