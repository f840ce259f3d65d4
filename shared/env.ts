// Process settings from the environment, validated once.
import { z } from 'zod';

const envSchema = z.object({
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  HOST: z.string().default('0.0.0.0'),
  // The Temporal connection (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TLS, API key) is the SDK's to read: shared/temporal-connection.ts.
  TEMPORAL_TASK_QUEUE: z.string().default('leads'),
  /** After SIGTERM, how long a gateway keeps answering (with /readyz at 503) before it closes its port. */
  DRAIN_DELAY_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /**
   * How long the gateway keeps an idle keep-alive connection open. Above a load balancer's idle timeout (60 s
   * on the common ones), so the balancer always closes first and never sends on a socket the gateway is closing.
   */
  KEEP_ALIVE_TIMEOUT_MS: z.coerce.number().int().min(1000).max(600_000).default(65_000),
  MONGODB_URI: z.string().optional(),
  ROUTING_CONFIG: z.string().default('config/routing.yaml'),
  ADMIN_API_KEY: z.string().min(16).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  METRICS_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Proxy hops in front of the gateway (SPEC "Client address"): `true` is 1, `false` is 0. */
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d{1,2})$/, 'must be a number of proxy hops (0, 1, 2, ...), true (1) or false (0)')
    .default('0')
    .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v))),
  /** When set, GET /metrics answers only `Authorization: Bearer <METRICS_TOKEN>` (it names partners and sources). */
  METRICS_TOKEN: z.string().min(16).optional(),
  // Worker sizing (the SDK's options of the same meaning; unset keeps the defaults docs/operations.md gives).
  /** Runs kept in memory between their tasks; bounds the worker's memory with many leads waiting. */
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(0).optional(),
  /** Workflow tasks handled at once (at least 2; the SDK lowers more than the cache size to it, with a warning). */
  WORKER_MAX_CONCURRENT_WORKFLOW_TASKS: z.coerce.number().int().min(2).optional(),
  /** Deliveries and notifications in flight at once (regular activities; default 200). */
  WORKER_MAX_CONCURRENT_ACTIVITIES: z.coerce.number().int().min(1).optional(),
  /** MongoDB steps and pings in flight at once (local activities). */
  WORKER_MAX_CONCURRENT_LOCAL_ACTIVITIES: z.coerce.number().int().min(1).optional(),
  /** Threads running workflow code (the SDK's default is 1, its sandbox reused). */
  WORKER_WORKFLOW_THREADS: z.coerce.number().int().min(1).max(64).optional(),
});

export type Env = z.infer<typeof envSchema>;

export function readEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const result = envSchema.safeParse(source);
  if (!result.success) {
    const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid environment: ${problems}`);
  }
  return result.data;
}
