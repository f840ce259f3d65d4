// Counts and revenue per group and status: what a bucket stores and a report adds up.
import { NONE } from './events';

/** [group, status, count, revenue cents] */
export type Cell = [string, string, number, number];
/** [ms into the hour, group, status, revenue cents] */
export type CompactEvent = [number, string, string, number];
/** One hour of one grouping: running totals at its end, and its own events. */
export interface HourRows {
  cum: Cell[];
  ev: CompactEvent[];
}

/** Counts and revenue per group and status, keyed "group\u0000status". */
export class Tally {
  readonly cells = new Map<string, [number, number]>();

  add(group: string, status: string, n: number, cents: number): void {
    const key = `${group}\u0000${status}`;
    const cell = this.cells.get(key) ?? [0, 0];
    cell[0] += n;
    cell[1] += cents;
    this.cells.set(key, cell);
  }

  addCells(cells: Cell[], sign: 1 | -1): void {
    for (const [g, s, n, c] of cells) this.add(g, s, sign * n, sign * c);
  }

  toCells(): Cell[] {
    return [...this.cells.entries()]
      .filter(([, [n, c]]) => n !== 0 || c !== 0)
      .map(([key, [n, c]]) => {
        const [g = NONE, s = ''] = key.split('\u0000');
        return [g, s, n, c];
      });
  }
}
