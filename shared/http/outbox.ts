// HTTP shapes of the outbox's admin endpoints (GET /admin/outbox, POST /admin/outbox/:id/retry).
import { z } from 'zod';

export const outboxKindSchema = z.enum(['lead-start', 'postback-signal']).meta({
  description: 'A queued workflow start (intake) or a queued postback signal (a claim not yet sent)',
});

export const outboxStateSchema = z
  .enum(['dead', 'waiting'])
  .meta({ description: '`dead`: given up after its attempts, until retried; `waiting`: to be sent' });

export const outboxQuerySchema = z.object({
  state: outboxStateSchema.default('dead'),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
export type OutboxQuery = z.infer<typeof outboxQuerySchema>;

/** An entry id: a leadId (lead-start) or `<leadId>:<partnerId>:<status>` (postback-signal); matched as a plain string. */
export const outboxEntryIdSchema = z.string().min(1).max(2048);

export const outboxEntrySchema = z.object({
  id: outboxEntryIdSchema,
  kind: outboxKindSchema,
  leadId: z.string(),
  state: outboxStateSchema,
  queuedAt: z.string(),
  attempts: z.number().int(),
  lastError: z.string().optional(),
  nextAttemptAt: z.string().optional(),
  deadAt: z.string().optional(),
});
export type OutboxEntryView = z.infer<typeof outboxEntrySchema>;

export const outboxListSchema = z.object({ entries: z.array(outboxEntrySchema) });
