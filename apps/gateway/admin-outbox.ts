// Operator endpoints for the outbox: list the entries the reconciler gave up on (or still has to send), and put
// a dead one back in line once its cause is fixed.
import Router from '@koa/router';
import { AppError } from '../../shared/errors';
import type { Logger } from '../../shared/logger';
import { IntakeOutbox, PostbackClaim } from '../../shared/models';
import {
  outboxEntryIdSchema,
  outboxQuerySchema,
  type OutboxEntryView,
  type OutboxQuery,
} from '../../shared/http';
import { operatorRouter } from './middleware';
import type { OutboxKind } from './outbox';
import type { TemporalClient } from './temporal';
import { parseInput } from './validation';

export interface OutboxAdminDeps {
  adminKey?: string;
  temporal: TemporalClient;
  logger: Logger;
}

interface StoredEntry {
  _id: string;
  leadId?: string;
  createdAt?: Date | null;
  claimedAt?: Date | null;
  attempts?: number | null;
  lastError?: string | null;
  nextAttemptAt?: Date | null;
  deadAt?: Date | null;
}

function view(kind: OutboxKind, e: StoredEntry): OutboxEntryView {
  return {
    id: e._id,
    kind,
    leadId: e.leadId ?? e._id,
    state: e.deadAt ? 'dead' : 'waiting',
    queuedAt: (e.createdAt ?? e.claimedAt ?? new Date(0)).toISOString(),
    attempts: e.attempts ?? 0,
    lastError: e.lastError ?? undefined,
    nextAttemptAt: e.nextAttemptAt?.toISOString(),
    deadAt: e.deadAt?.toISOString(),
  };
}

async function listOutbox(query: OutboxQuery): Promise<OutboxEntryView[]> {
  const dead = { deadAt: { $exists: query.state === 'dead' } };
  const fields = { signal: 0, postbackId: 0 };
  const [starts, signals] = await Promise.all([
    IntakeOutbox.find(dead).sort({ createdAt: 1 }).limit(query.limit).lean(),
    PostbackClaim.find({ sentAt: { $exists: false }, ...dead }, fields)
      .sort({ claimedAt: 1 })
      .limit(query.limit)
      .lean(),
  ]);
  return [
    ...starts.map((e) => view('lead-start', e as StoredEntry)),
    ...signals.map((e) => view('postback-signal', e as StoredEntry)),
  ]
    .sort((a, b) => a.queuedAt.localeCompare(b.queuedAt))
    .slice(0, query.limit);
}

/** Clears the entry's attempts and dead mark: the reconciler sends it on its next pass. */
async function retryEntry(deps: OutboxAdminDeps, id: string): Promise<OutboxEntryView> {
  const reset = { $set: { attempts: 0 }, $unset: { deadAt: 1, nextAttemptAt: 1, lastError: 1 } };
  const options = { returnDocument: 'after' } as const; // no projection: FerretDB's findAndModify takes none
  const start = await IntakeOutbox.findOneAndUpdate({ _id: id }, reset, options).lean();
  const signal = start
    ? undefined
    : await PostbackClaim.findOneAndUpdate({ _id: id, sentAt: { $exists: false } }, reset, options).lean();
  const entry = start ? view('lead-start', start as StoredEntry) : signal && view('postback-signal', signal);
  if (!entry) throw new AppError('not_found', `no unsent outbox entry ${id}`);
  // The reconciler searches the claims only when told; this gateway's next pass looks.
  deps.temporal.markBacklog();
  deps.logger.info(
    { entryId: id, kind: entry.kind, leadId: entry.leadId },
    'outbox entry put back by an operator',
  );
  return entry;
}

export function outboxAdminRouter(deps: OutboxAdminDeps): Router {
  const router = operatorRouter('/admin/outbox', deps.adminKey);
  router.get('/', async (ctx) => {
    ctx.body = { entries: await listOutbox(parseInput(outboxQuerySchema, ctx.query, 'outbox query')) };
  });
  router.post('/:id/retry', async (ctx) => {
    ctx.body = await retryEntry(deps, parseInput(outboxEntryIdSchema, ctx.params.id, 'outbox entry id'));
  });
  return router;
}
