// Counts and revenue per group, status and currency: what a bucket stores and a report adds up. Amounts of
// different currencies are never added (SPEC, Money): each currency is its own cell.
import { NONE, type Counted } from './events';

/**
 * A mark cell's "status": counted beside the event's own status so the buckets' running totals and compact
 * events carry it like any status (the report rows read it, the status counts skip it).
 */
export const DUPLICATE = '+duplicate';

// Marks of the delivery and bid logs (./marks.ts), counted per group like statuses, never as revenue.
/** A lead offered to a partner outside an auction (its first delivery attempt). */
export const OFFERED = '+offered';
/** A lead posted to a partner on its winning bid: offered too. */
export const WON = '+won';
/** A ping answered with a bid: its amount and currency are the mark's. */
export const BID = '+bid';
/** A ping answered without a bid: refused, timed out or failed. */
export const PING = '+ping';
/** The post after a winning bid, refused by the partner. */
export const POST_REFUSED = '+postRefused';

/**
 * Upper bounds (ms) of the delivery-to-decision latency buckets, the last open-ended: each deciding postback
 * is a mark `+lat:<index>`, so an hour's bucket document holds a fixed histogram per partner and a window's
 * percentiles are interpolated from it (./performance.ts).
 */
export const LATENCY_BOUNDS_MS = [
  1_000,
  5_000,
  15_000,
  30_000,
  60_000,
  120_000,
  300_000,
  600_000,
  1_800_000,
  3_600_000,
  7_200_000,
  21_600_000,
  43_200_000,
  86_400_000,
  259_200_000,
  604_800_000,
  Infinity,
] as const;
export const LATENCY = '+lat:';
export const latencyMark = (ms: number) => `${LATENCY}${LATENCY_BOUNDS_MS.findIndex((b) => ms < b)}`;

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
  if (e.decisionMs !== undefined) tally.add(group, latencyMark(e.decisionMs), n, 0);
}

/** The compact events of an event's marks, so "this hour's events from t on" subtracts them too. */
export function markEvents(dt: number, group: string, e: Counted): CompactEvent[] {
  const marks: CompactEvent[] = [];
  if (e.duplicate) marks.push([dt, group, DUPLICATE, 0]);
  if (e.decisionMs !== undefined) marks.push([dt, group, latencyMark(e.decisionMs), 0]);
  return marks;
}
