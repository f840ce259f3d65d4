// Registers the custom search attributes (LeadStatus, PartnerId, SourceId, WinningBidCents, WinningBidCurrency) on a
// Temporal namespace, idempotently:
// the one-shot setup job of docker-compose and of a production rollout (`leadrouter temporal setup`).
import { Connection } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../shared/temporal';
import { describeTarget, explainConnectError, type TemporalTarget } from '../../shared/temporal-connection';
import { CliError } from './api';

type IndexedValueType = temporal.api.enums.v1.IndexedValueType;

/** Each search attribute the workflow upserts, by name, with its indexed type (also what the test servers get). */
export function searchAttributeTypes(): Map<string, IndexedValueType> {
  const types = temporal.api.enums.v1.IndexedValueType;
  return new Map(
    Object.values(SEARCH_ATTRIBUTES).map((k) => [k.name, types[`INDEXED_VALUE_TYPE_${k.type}`]]),
  );
}

/** `Keyword`, `Int`: as the Temporal CLI and UI spell a type. */
function typeName(type: IndexedValueType): string {
  const name = temporal.api.enums.v1.IndexedValueType[type].replace('INDEXED_VALUE_TYPE_', '');
  return name.charAt(0) + name.slice(1).toLowerCase();
}

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
    const wanted = searchAttributeTypes();
    const deadline = Date.now() + options.waitMs;
    // A fresh server may still be registering its namespace: retry the listing too.
    let existing: Record<string, IndexedValueType> | undefined;
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
    for (const [name, type] of wanted) {
      const found = existing[name];
      if (found !== undefined && found !== type) {
        throw new CliError(
          `search attribute ${name} exists with type ${typeName(found)}, expected ${typeName(type)}`,
        );
      }
    }
    const missing = [...wanted.keys()].filter((name) => existing[name] === undefined);
    if (missing.length) {
      await connection.operatorService.addSearchAttributes({
        namespace,
        searchAttributes: Object.fromEntries(
          missing.map((name) => [name, wanted.get(name) as IndexedValueType]),
        ),
      });
    }
    for (const [name, type] of wanted)
      options.log(`${name} (${typeName(type)}): ${missing.includes(name) ? 'added' : 'already registered'}`);
    return missing;
  } finally {
    await connection.close();
  }
}
