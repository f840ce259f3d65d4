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
  // The same names one and two levels down (a config, a partner, a request logged inside another object).
  ...['apiKey', 'adminApiKey', 'token', 'secret', 'hmacSecret', 'password'].flatMap((k) => [
    `*.${k}`,
    `*.*.${k}`,
  ]),
  '*.headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers["x-signature"]',
  '*.headers.cookie',
];

/** JSON lines on stdout by default; LOG_PRETTY=1 (set by `npm run dev`) prints them readably for a person. */
export function createLogger(name: string, level = process.env.LOG_LEVEL ?? 'info'): Logger {
  const options = { name, level, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  if (process.env.LOG_PRETTY === '1') {
    return pino({
      ...options,
      transport: { target: 'pino-pretty', options: { ignore: 'pid,hostname', translateTime: 'HH:MM:ss.l' } },
    });
  }
  // Asynchronous writes: lines written while one write is in flight go out together, instead of one blocking
  // write(2) per line on the request path. pino flushes what is buffered when the process exits.
  return pino(options, pino.destination({ sync: false }));
}
