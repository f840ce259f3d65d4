// Probe answers: /healthz (liveness) and /readyz (readiness, for load balancers and orchestrators).
import { z } from 'zod';

export const livenessSchema = z.object({ ok: z.literal(true) });

export const readinessSchema = z.object({
  ok: z.boolean(),
  mongo: z.enum(['up', 'down']),
  temporal: z.enum(['up', 'down']),
  /** The process got SIGTERM: it finishes what it has and takes nothing new. */
  draining: z.boolean(),
});
export type Readiness = z.infer<typeof readinessSchema>;
