// A lead's fields: the source's sub ids, and a field read by dot path ("geo.country", "data.loanAmount") for
// routing filters.

/** The source's own sub ids, sent with the lead: handed to the partner and echoed in the source's notifications. */
export const SUB_IDS = ['sub1', 'sub2', 'sub3', 'sub4', 'sub5'] as const;

export function readPath(value: unknown, path: string): unknown {
  let current: unknown = value;
  for (const key of path.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
