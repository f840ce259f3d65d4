// Partner order for one lead: priority waterfall, weighted random among equal priorities. Pure and
// deterministic given its random source, which in a workflow is the SDK's replay-safe Math.random.
import type { RouteCandidate } from '../activities/types';

/** Efraimidis-Spirakis weighted shuffle: key = u^(1/w); sorting by key draws without replacement by weight. */
function weightedShuffle<T extends { weight: number }>(items: T[], random: () => number): T[] {
  return items
    .map((item) => ({ item, key: item.weight > 0 ? Math.pow(random(), 1 / item.weight) : -1 }))
    .sort((a, b) => b.key - a.key)
    .map((k) => k.item);
}

export function orderCandidates(candidates: RouteCandidate[], random: () => number): RouteCandidate[] {
  const byPriority = new Map<number, RouteCandidate[]>();
  for (const c of candidates) byPriority.set(c.priority, [...(byPriority.get(c.priority) ?? []), c]);
  return [...byPriority.keys()]
    .sort((a, b) => a - b)
    .flatMap((p) => weightedShuffle(byPriority.get(p) ?? [], random));
}
