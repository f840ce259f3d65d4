// The one end-to-end fixture: partner and source simulators, an in-process stack on them (optionally on a
// Temporal dev server of the file's own) and their teardown, registered as the suite's beforeAll/afterAll.
import {
  startPartnerSimulator,
  startSourceSimulator,
  type PartnerSimulator,
  type PartnerSimulatorOptions,
  type SourceSimulator,
} from '../../scripts/simulators';
import { lateBound } from './late-bound';
import { connectMongo, disconnectMongo } from '../../shared/db';
import { startOwnTemporal, testDbUri, uniqueDbName, type OwnTemporalServer } from './servers';
import { startStack, type Stack, type StackOptions } from './stack';

/** What a suite works with: the stack, the source simulator, its own Temporal server, one partner per name. */
export type E2e<P extends string> = {
  stack: Stack;
  source: SourceSimulator;
  /** Only with `ownTemporal: true`. */
  temporal: OwnTemporalServer;
} & Record<P, PartnerSimulator>;

export interface E2eOptions<P extends string> {
  /** Partner simulators by name, each with its options; by default one, named `partner`. */
  partners?: Record<P, PartnerSimulatorOptions>;
  /** Start a source simulator (default true). */
  source?: boolean;
  /** Run on a Temporal dev server of this file's own, which its tests may stop and restart (outages). */
  ownTemporal?: boolean;
  /** The routing config, built once the simulators listen (their URLs are known). */
  config: (started: E2e<P>) => unknown;
  /** The rest of the stack's options (gateway settings, clock, reconciler interval, database). */
  stack?: Omit<StackOptions, 'config' | 'temporalAddress'>;
  /** Runs after the stack has started, before the first test (e.g. seeding leads). */
  ready?: (started: E2e<P>) => Promise<void> | void;
  timeoutMs?: number;
}

/**
 * Registers the suite's beforeAll (simulators, then the stack) and afterAll (all of it stopped, whatever failed)
 * and returns handles to them. The handles are usable from the hooks and tests that run after this
 * beforeAll; touching one earlier (at the file's top level) throws.
 */
export function useStack<P extends string = 'partner'>(options: E2eOptions<P>): E2e<P> {
  const started: Partial<Record<string, object>> = {};
  const names = Object.keys(options.partners ?? { partner: {} }) as P[];
  const handles = Object.fromEntries(
    [...names, 'stack', 'source', 'temporal'].map((name) => [name, lateBound(name, () => started[name])]),
  ) as E2e<P>;
  const timeout = options.timeoutMs ?? 90_000;

  beforeAll(async () => {
    if (options.ownTemporal) started.temporal = await startOwnTemporal();
    const partnerOptions = (options.partners ?? {}) as Partial<Record<P, PartnerSimulatorOptions>>;
    await Promise.all([
      ...names.map(async (name) => {
        started[name] = await startPartnerSimulator(partnerOptions[name]);
      }),
      (options.source ?? true) &&
        startSourceSimulator().then((source) => {
          started.source = source;
        }),
    ]);
    started.stack = await startStack({
      ...options.stack,
      config: options.config(handles),
      temporalAddress: started.temporal ? handles.temporal.address : undefined,
    });
    await options.ready?.(handles);
  }, timeout);

  afterAll(async () => {
    const stop = (name: string) => (started[name] as { stop(): Promise<void> } | undefined)?.stop();
    await stop('stack');
    await stop('temporal');
    await Promise.all([...names, 'source'].map(stop));
  }, timeout);

  return handles;
}

/** For suites that need only MongoDB: the models connected to a database of the file's own, then disconnected. */
export function useDatabase(prefix: string): void {
  beforeAll(() => connectMongo(testDbUri(uniqueDbName(prefix))));
  afterAll(() => disconnectMongo());
}
