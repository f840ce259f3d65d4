// Inbound ping-post: a source's ping (a lead without contact data) and the auction's answer.
import { z } from 'zod';
import { leadInputSchema } from './leads';
import { moneySchema } from './common';

/** The lead's non-personal fields: what buyers are pinged with. Contact data comes with the post. */
export const pingInputSchema = leadInputSchema.omit({ leadId: true, contact: true });
export type PingInput = z.infer<typeof pingInputSchema>;

/** A bid reserved until `expiresAt` for a POST /leads with this `pingId`, or no bid and why. */
export const pingAnswerSchema = z.union([
  z.object({
    leadId: z.string(),
    pingId: z.string(),
    bid: moneySchema,
    currency: z.string(),
    expiresAt: z.string(),
  }),
  z.object({ leadId: z.string(), bid: z.null(), reason: z.string() }),
]);
export type PingAnswerBody = z.infer<typeof pingAnswerSchema>;
