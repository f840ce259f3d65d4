// Admin route for the suppression list: clear emails and phones are normalized and hashed on arrival, so the
// list holds only identity hashes; a suppressed person is skipped by every partner (activities/duplicates.ts).
import Router from '@koa/router';
import type { ConfigIndex } from '../../shared/config';
import { addSuppressions } from '../../shared/duplicates';
import { AppError, type ErrorIssue } from '../../shared/errors';
import { suppressionRequestSchema, type SuppressionResult } from '../../shared/http';
import { identityHash, normalizeEmail, normalizePhone } from '../../shared/identity';
import { operatorRouter } from './middleware';
import { parseInput } from './validation';

export interface SuppressionDeps {
  adminKey: string | undefined;
  config: () => ConfigIndex;
  now?: () => Date;
}

export function suppressionsRouter(deps: SuppressionDeps): Router {
  const router = operatorRouter('/admin', deps.adminKey);
  router.post('/suppressions', async (ctx) => {
    const request = parseInput(suppressionRequestSchema, ctx.request.body ?? {}, 'suppression list');
    const settings = deps.config().config.settings.duplicates;
    if (!settings?.secret)
      throw new AppError(
        'conflict',
        'suppressions need identity hashes: set DUPLICATES_SECRET (or settings.duplicates.secret)',
      );
    const secret = settings.secret;
    const issues: ErrorIssue[] = [];
    const entries = new Map<string, string | undefined>();
    request.email.forEach((raw, i) => {
      const email = normalizeEmail(raw, { gmail: settings.gmail });
      if (email) entries.set(identityHash(secret, 'email', email), 'email');
      else issues.push({ path: `email[${i}]`, message: 'not an email address' });
    });
    request.phone.forEach((raw, i) => {
      const phone = normalizePhone(raw, request.country);
      if (phone) entries.set(identityHash(secret, 'phone', phone), 'phone');
      else
        issues.push({
          path: `phone[${i}]`,
          message: 'not a valid phone number (international, or give country)',
        });
    });
    for (const hash of request.hash) if (!entries.has(hash)) entries.set(hash, undefined);
    // All or nothing: a list with a bad entry is sent again whole once fixed.
    if (issues.length) throw new AppError('invalid_request', 'invalid suppression list', issues);
    const added = await addSuppressions(
      [...entries].map(([hash, kind]) => ({ hash, kind })),
      request.reason,
      deps.now?.() ?? new Date(),
    );
    const result: SuppressionResult = { received: entries.size, added };
    ctx.body = result;
  });
  return router;
}
