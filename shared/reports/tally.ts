// Counts and revenue per group, status and currency: what a bucket stores and a report adds up. Amounts of
// different currencies are never added (SPEC, Money): each currency is its own cell.
import { NONE, type Counted } from './events';

/**
 * A mark cell's "status": counted beside the event's own status so the buckets' running totals and compact
 * events carry it like any status (the report rows read it, the status counts skip it).
 */
export const DUPLICATE = '+duplicate';

/** [group, status, count, revenue cents, currency ('' for events without revenue)] */
export type Cell = [string, string, number, number, string?];
/** [ms into the hour, group, status, revenue cents, currency] */
export type CompactEvent = [number, string, string, number, string?];
/** One hour of one grouping: running totals at its end, and its own events. */
export interface HourRows {
  cum: Cell[];
  ev: CompactEvent[];
}

/** Counts and revenue per group, status and currency, keyed "group\u0000status\u0000currency". */
export class Tally {
  readonly cells = new Map<string, [number, number]>();

  add(group: string, status: string, n: number, cents: number, currency = ''): void {
    const key = `${group}\u0000${status}\u0000${currency}`;
    const cell = this.cells.get(key) ?? [0, 0];
    cell[0] += n;
    cell[1] += cents;
    this.cells.set(key, cell);
  }

  addCells(cells: Cell[], sign: 1 | -1): void {
    for (const [g, s, n, c, cur] of cells) this.add(g, s, sign * n, sign * c, cur);
  }

  toCells(): Cell[] {
    return [...this.cells.entries()]
      .filter(([, [n, c]]) => n !== 0 || c !== 0)
      .map(([key, [n, c]]) => {
        const [g = NONE, s = '', cur = ''] = key.split('\u0000');
        return cur ? [g, s, n, c, cur] : [g, s, n, c];
      });
  }
}

/** Adds `n` times one event: its status cell and its marks. */
export function addEvent(tally: Tally, group: string, e: Counted, n: 1 | -1 = 1): void {
  tally.add(group, e.status, n, n * e.cents, e.currency);
  if (e.duplicate) tally.add(group, DUPLICATE, n, 0);
}
