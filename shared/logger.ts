// Structured logs (pino). Secrets are redacted here once, for every process.
import pino, { type Logger } from 'pino';

export type { Logger };

export const REDACT_PATHS = [
  'apiKey',
  'token',
  'secret',
  'hmacSecret',
  'headers["x-api-key"]',
  'headers.authorization',
  'headers["x-signature"]',
  'req.headers["x-api-key"]',
  'req.headers.authorization',
  'query.token',
  'body.token',
];

export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } });
}
