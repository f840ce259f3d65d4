// Handles to what a suite's beforeAll starts, usable in the suite's tests and hooks: `useStack` and
// `useRoutingHarness` register the hooks and return these, so no suite repeats its own start and stop.

/** A stand-in for an object a beforeAll creates: every property read or write goes to it once it exists. */
export function lateBound<T extends object>(name: string, current: () => object | undefined): T {
  const target = (): T => {
    const value = current();
    if (!value) throw new Error(`'${name}' is not started (used outside a test or hook, or not requested)`);
    return value as T;
  };
  return new Proxy({} as T, {
    get(_, key) {
      // Not a promise: `await handle` and jest's matchers look for `then`.
      if (key === 'then') return undefined;
      const object = target();
      const value: unknown = Reflect.get(object, key, object);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(object) : value;
    },
    set: (_, key, value) => Reflect.set(target(), key, value),
    has: (_, key) => Reflect.has(target(), key),
  });
}

/** Registers beforeAll (start) and afterAll (stop) and returns a late-bound handle to what `start` made. */
export function useStarted<T extends { stop(): Promise<void> }>(
  name: string,
  start: () => Promise<T>,
  timeoutMs = 120_000,
): T {
  let started: T | undefined;
  beforeAll(async () => {
    started = await start();
  }, timeoutMs);
  afterAll(async () => {
    await started?.stop();
  }, timeoutMs);
  return lateBound<T>(name, () => started);
}
