// Operator endpoints for the postback log: every postback received, newest first, filtered and cursor-paged, and
// refusals counted by code per partner. Where an integration that breaks is debugged from: the postbacks that
// matter most then (a wrong subid, a bad token, an unmapped status) belong to no lead.
import Router from '@koa/router';
import { Types } from 'mongoose';
import { AppError } from '../../shared/errors';
import {
  postbackLogQuerySchema,
  refusalSummaryQuerySchema,
  type PostbackLogEntry,
  type PostbackLogPage,
  type PostbackLogQuery,
  type PostbackReceived,
  type RefusalSummary,
} from '../../shared/http';
import type { ConfigIndex } from '../../shared/config';
import { PostbackLog } from '../../shared/models';
import { fromCents } from '../../shared/money';
import { afterCursor, decodeCursor, invalidCursor, pageOf, timeWindow } from './cursor';
import { operatorRouter } from './middleware';
import { parseInput } from './validation';

export interface PostbackLogDeps {
  adminKey?: string;
  config?: () => ConfigIndex;
  now?: () => Date;
}

const DAY_MS = 86_400_000;

function window(from: string | undefined, to: string | undefined): Record<string, Date> {
  const range = timeWindow(from, to) ?? {};
  if (range.$gte && range.$lt && range.$gte > range.$lt)
    throw new AppError('invalid_request', 'invalid window', [
      { path: 'from', message: 'must not be after to' },
    ]);
  return range;
}

type StoredLine = Awaited<ReturnType<typeof readPage>>[number];

function readPage(filter: Record<string, unknown>, limit: number) {
  // Headers stay out: the journey and this list show what the partner sent, already redacted as stored.
  return PostbackLog.find(filter, { headers: 0, expiresAt: 0 })
    .sort({ receivedAt: -1, _id: -1 })
    .limit(limit)
    .lean();
}

/** A stored line as the journey shows it (`GET /admin/leads/:id/journey`). */
export const receivedPostback = (p: StoredLine): PostbackReceived => ({
  receivedAt: new Date(p.receivedAt).toISOString(),
  method: p.method ?? undefined,
  path: p.path ?? undefined,
  query: (p.query as Record<string, unknown> | undefined) ?? undefined,
  body: (p.body as Record<string, unknown> | undefined) ?? undefined,
  ip: p.ip ?? undefined,
  requestId: p.requestId ?? undefined,
  partnerId: p.partnerId ?? undefined,
  rawStatus: p.rawStatus ?? undefined,
  status: p.status ?? undefined,
  txid: p.txid ?? undefined,
  payout: p.payoutCents != null ? fromCents(p.payoutCents) : undefined,
  currency: p.currency ?? undefined,
  outcome: p.outcome,
  httpStatus: p.httpStatus ?? undefined,
  errorCode: p.errorCode ?? undefined,
  errorMessage: p.errorMessage ?? undefined,
  latencyMs: p.latencyMs ?? undefined,
});

/** A stored line as the postback log lists it: the journey's fields, its id, its lead and a test's verdict. */
const entry = (p: StoredLine): PostbackLogEntry => ({
  id: String(p._id),
  ...receivedPostback(p),
  leadId: p.leadId ?? undefined,
  wouldApply: p.wouldApply ?? undefined,
  reason: p.reason ?? undefined,
});

/**
 * One page, newest first. The cursor is the last row's (receivedAt, _id): rows inserted while someone pages are
 * newer than the first page and never shift the pages after it.
 */
export async function listPostbacks(query: PostbackLogQuery): Promise<PostbackLogPage> {
  const clauses: Record<string, unknown>[] = [];
  if (query.partnerId) clauses.push({ partnerId: query.partnerId });
  if (query.outcome) clauses.push({ outcome: query.outcome });
  if (query.code) clauses.push({ errorCode: query.code });
  const range = window(query.from, query.to);
  if (Object.keys(range).length) clauses.push({ receivedAt: range });
  if (query.cursor) {
    const c = decodeCursor(query.cursor);
    if (!/^[0-9a-f]{24}$/.test(c.id)) throw invalidCursor();
    clauses.push(afterCursor('receivedAt', c.at, new Types.ObjectId(c.id)));
  }
  const rows = await readPage(clauses.length ? { $and: clauses } : {}, query.limit + 1);
  const { page, nextCursor } = pageOf(rows, query.limit, (p) => [new Date(p.receivedAt), String(p._id)]);
  return { postbacks: page.map(entry), nextCursor };
}

/** Refused postbacks in a window (default: the last 24 h) counted per partner and code. */
export async function refusalSummary(
  query: { partnerId?: string; from?: string; to?: string },
  now: Date,
): Promise<RefusalSummary> {
  const to = query.to ? new Date(query.to) : now;
  const from = query.from ? new Date(query.from) : new Date(to.getTime() - DAY_MS);
  const range = window(from.toISOString(), to.toISOString());
  const match: Record<string, unknown> = { outcome: 'rejected', receivedAt: range };
  if (query.partnerId) match.partnerId = query.partnerId;
  const groups = await PostbackLog.aggregate<{ _id: { p: string | null; c: string | null }; n: number }>([
    { $match: match },
    { $group: { _id: { p: '$partnerId', c: '$errorCode' }, n: { $sum: 1 } } },
  ]);
  return {
    from: from.toISOString(),
    to: to.toISOString(),
    rows: groups
      .map((g) => ({ partnerId: g._id.p ?? '(unknown)', code: g._id.c ?? '(none)', count: g.n }))
      .sort(
        (a, b) => b.count - a.count || a.partnerId.localeCompare(b.partnerId) || a.code.localeCompare(b.code),
      ),
  };
}

export function postbackLogRouter(deps: PostbackLogDeps): Router {
  const router = operatorRouter('/admin/postbacks', deps.adminKey, deps.config);

  router.get('/', async (ctx) => {
    ctx.body = await listPostbacks(parseInput(postbackLogQuerySchema, ctx.query, 'postback query'));
  });

  router.get('/refusals', async (ctx) => {
    const query = parseInput(refusalSummaryQuerySchema, ctx.query, 'refusal query');
    ctx.body = await refusalSummary(query, deps.now?.() ?? new Date());
  });

  return router;
}
