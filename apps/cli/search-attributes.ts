// Registers the custom search attributes (LeadStatus, PartnerId, SourceId) on a Temporal namespace, idempotently:
// the one-shot setup job of docker-compose and of a production rollout (`leadrouter temporal setup`).
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../shared/temporal';
import { describeTarget, explainConnectError, type TemporalTarget } from '../../shared/temporal-connection';
import { CliError } from './api';

const KEYWORD = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

export interface SetupOptions {
  /** From `temporalTarget()`: address, namespace, TLS, API key. */
  target: TemporalTarget;
  /** Keep trying to reach Temporal this long (a job started alongside the server waits for it). */
  waitMs: number;
  log: (line: string) => void;
}

async function connect(
  target: TemporalTarget,
  waitMs: number,
  log: (line: string) => void,
): Promise<Connection> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 1; ; attempt++) {
    try {
      const connection = await Connection.connect({ ...target.connection, connectTimeout: 5000 });
      await connection.workflowService.getSystemInfo({});
      return connection;
    } catch (err) {
      if (Date.now() > deadline) throw new CliError(explainConnectError(err, target).message);
      if (attempt === 1 || attempt % 10 === 0) log(`waiting for Temporal at ${describeTarget(target)} ...`);
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}

/** Returns the attributes it added; those already there with the right type are left alone. */
export async function registerSearchAttributes(options: SetupOptions): Promise<string[]> {
  const connection = await connect(options.target, options.waitMs, options.log);
  const namespace = options.target.namespace;
  try {
    const wanted = Object.values(SEARCH_ATTRIBUTES).map((k) => k.name);
    const deadline = Date.now() + options.waitMs;
    // A fresh server may still be registering its namespace: retry the listing too.
    let existing: Record<string, temporal.api.enums.v1.IndexedValueType> | undefined;
    while (!existing) {
      try {
        existing =
          (await connection.operatorService.listSearchAttributes({ namespace })).customAttributes ?? {};
      } catch (err) {
        if (Date.now() > deadline)
          throw new CliError(
            `cannot list search attributes of namespace "${namespace}": ${(err as Error).message}`,
          );
        await new Promise((r) => setTimeout(r, 2000));
      }
    }
    for (const name of wanted) {
      const type = existing[name];
      if (type !== undefined && type !== KEYWORD) {
        throw new CliError(
          `search attribute ${name} exists with type ${temporal.api.enums.v1.IndexedValueType[type]}, expected KEYWORD`,
        );
      }
    }
    const missing = wanted.filter((name) => existing[name] === undefined);
    if (missing.length) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(missing.map((name) => [name, KEYWORD])),
      });
    }
    for (const name of wanted)
      options.log(`${name} (Keyword): ${missing.includes(name) ? 'added' : 'already registered'}`);
    return missing;
  } finally {
    await connection.close();
  }
}
