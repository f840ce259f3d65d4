// POST /admin/suppressions: people never to be delivered, as clear values (hashed on arrival) or hashes.
import { z } from 'zod';

const MAX_ENTRIES = 10_000;

export const suppressionRequestSchema = z
  .object({
    email: z.array(z.string().min(3).max(320)).max(MAX_ENTRIES).default([]),
    phone: z.array(z.string().min(3).max(40)).max(MAX_ENTRIES).default([]),
    /** Region of national phone numbers (ISO 3166 alpha-2); international ones (+...) need none. */
    country: z
      .string()
      .regex(/^[A-Za-z]{2}$/, 'must be a two-letter country code')
      .optional(),
    /** Identity hashes as leadrouter stores them (hex HMAC-SHA256 with the same secret). */
    hash: z
      .array(z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lower-case hex digits'))
      .max(MAX_ENTRIES)
      .default([]),
    reason: z.string().max(200).optional(),
  })
  .strict()
  .refine((r) => r.email.length + r.phone.length + r.hash.length > 0, {
    message: 'give at least one email, phone or hash',
  });
export type SuppressionRequest = z.infer<typeof suppressionRequestSchema>;

export const suppressionResultSchema = z.object({
  /** Entries received, after normalization (two spellings of one address count once). */
  received: z.number().int(),
  /** Entries not on the list before. */
  added: z.number().int(),
});
export type SuppressionResult = z.infer<typeof suppressionResultSchema>;
