// Where Temporal is and how to reach it, for every process (gateway, worker, CLI, `npm run dev`): the SDK's own
// client configuration (@temporalio/envconfig: TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY,
// TEMPORAL_TLS_*, TEMPORAL_PROFILE and its temporal.toml), read here and nowhere else.
import type { Metadata, TLSConfig } from '@temporalio/client';
import { loadClientConnectConfig } from '@temporalio/envconfig';

/** What both `Connection.connect` (client) and `NativeConnection.connect` (worker) take. */
export interface TemporalConnectionOptions {
  address: string;
  tls?: TLSConfig | boolean | null;
  apiKey?: string;
  metadata?: Metadata;
}

export interface TemporalTarget {
  connection: TemporalConnectionOptions;
  namespace: string;
  /** The address came from the environment or a profile, not from our default (`npm run dev` then starts no server). */
  configured?: boolean;
}

/** Our defaults where neither the environment nor a profile says: a local dev server. */
const DEFAULT_ADDRESS = '127.0.0.1:7233';
const DEFAULT_NAMESPACE = 'default';

export function temporalTarget(env: NodeJS.ProcessEnv = process.env): TemporalTarget {
  const vars = Object.fromEntries(
    Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''),
  );
  let loaded;
  try {
    loaded = loadClientConnectConfig({ overrideEnvVars: vars });
  } catch (err) {
    throw new Error(
      `Temporal client configuration (TEMPORAL_* variables, TEMPORAL_PROFILE, temporal.toml): ${(err as Error).message}`,
    );
  }
  const { address, tls, apiKey, metadata } = loaded.connectionOptions;
  if (typeof apiKey === 'function') throw new Error('TEMPORAL_API_KEY must be a string'); // never from env or toml
  return {
    connection: {
      address: address ?? DEFAULT_ADDRESS,
      ...(tls !== undefined ? { tls } : {}),
      ...(apiKey !== undefined ? { apiKey } : {}),
      ...(metadata && Object.keys(metadata).length ? { metadata } : {}),
    },
    namespace: loaded.namespace ?? DEFAULT_NAMESPACE,
    configured: address !== undefined,
  };
}

/** How the connection is secured, for logs: never a key or certificate. */
function security(target: TemporalTarget): string {
  const { tls, apiKey } = target.connection;
  const parts = [tls ? 'TLS' : 'plaintext'];
  if (typeof tls === 'object' && tls?.clientCertPair) parts.push('client certificate');
  if (apiKey) parts.push('API key');
  return parts.join(', ');
}

/** For logs and messages: where, which namespace, and how secured. */
export function describeTarget(target: TemporalTarget): string {
  return `${target.connection.address} namespace ${target.namespace} (${security(target)})`;
}

/**
 * A connection failure with the variable that most likely fixes it. The SDK's own message ("transport
 * error", a TLS alert) says what broke, not which setting is missing.
 */
export function explainConnectError(err: unknown, target: TemporalTarget): Error {
  const { tls, apiKey } = target.connection;
  const hints: string[] = [];
  if (!tls) {
    hints.push(
      'if the server speaks TLS, set TEMPORAL_TLS=true (and TEMPORAL_TLS_SERVER_CA_CERT_PATH for a private CA)',
    );
  } else if (!(typeof tls === 'object' && tls?.clientCertPair) && !apiKey) {
    hints.push(
      'if the server requires a client certificate (mTLS), set TEMPORAL_TLS_CLIENT_CERT_PATH and TEMPORAL_TLS_CLIENT_KEY_PATH; for Temporal Cloud with an API key, set TEMPORAL_API_KEY',
    );
  }
  hints.push('or select a temporal.toml profile with TEMPORAL_PROFILE');
  const message = err instanceof Error ? err.message : String(err);
  return new Error(
    `Temporal at ${target.connection.address} is unreachable (namespace ${target.namespace}, ${security(target)}): ${message}; ${hints.join('; ')}`,
    { cause: err },
  );
}
