// Report routes, kept thin: the reports module (read model, bucket building, queries) is shared/reports.
import Router from '@koa/router';
import { z } from 'zod';
import type { ConfigIndex } from '../../shared/config';
import { AppError } from '../../shared/errors';
import { performanceQuerySchema, reportQuerySchema } from '../../shared/http';
import { partnerDailyCounts, performanceReport, renderDailyChart, summaryReport } from '../../shared/reports';
import { sourceOrAdminAuth } from './middleware';
import { parseInput } from './validation';

const chartPartnerSchema = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a partner id');

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

  // accepted / rejected / expired per day as an SVG image: for a browser, a wiki page or `leadrouter report --chart`.
  router.get('/partners/:partnerId/chart.svg', async (ctx) => {
    const partnerId = parseInput(chartPartnerSchema, ctx.params.partnerId, 'partnerId');
    const query = parseInput(performanceQuerySchema, ctx.query, 'chart query');
    const to = query.to ? Date.parse(query.to) : now().getTime();
    const from = query.from ? Date.parse(query.from) : to - 30 * 86_400_000;
    if (!(from < to) || to - from > 93 * 86_400_000)
      throw new AppError('invalid_request', 'invalid chart window', [
        { path: 'from', message: 'must be before to, at most 93 days' },
      ]);
    const days = await partnerDailyCounts(partnerId, from, to, now());
    ctx.type = 'image/svg+xml';
    ctx.body = renderDailyChart(`${partnerId}: leads per day`, days);
  });

  return router;
}
