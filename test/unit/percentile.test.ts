// Decision-time percentiles from the fixed latency buckets of the report buckets: interpolated within a bucket,
// the lower bound in the open-ended last one, none from an empty histogram.
import { percentileMs } from '../../shared/reports/performance';
import { LATENCY_BOUNDS_MS, latencyMark } from '../../shared/reports/tally';

/** A histogram with `n` decisions in the bucket of `ms`. */
function histogram(...cells: [ms: number, n: number][]): number[] {
  const h = LATENCY_BOUNDS_MS.map(() => 0);
  for (const [ms, n] of cells) {
    const i = Number(latencyMark(ms).split(':')[1]);
    h[i] = (h[i] ?? 0) + n;
  }
  return h;
}

test('an empty histogram has no percentile', () => {
  expect(percentileMs([], 0.5)).toBeNull();
  expect(percentileMs(histogram(), 0.95)).toBeNull();
});

test('within the first bucket: from 0 to its bound', () => {
  // Four decisions under 1 s: the median is half way, the 95th near the bound.
  expect(percentileMs(histogram([200, 4]), 0.5)).toBe(500);
  expect(percentileMs(histogram([200, 4]), 0.95)).toBe(950);
});

test('in a later bucket: from the bound below to its own, by the rank within the bucket', () => {
  // 2 decisions in [1 s, 5 s) and 2 in [15 s, 30 s): the median is the last of the first bucket (5 s),
  // the 95th is 1.8 of 2 into [15 s, 30 s).
  const h = histogram([2000, 2], [20_000, 2]);
  expect(percentileMs(h, 0.5)).toBe(5000);
  expect(percentileMs(h, 0.95)).toBe(15_000 + Math.round((15_000 * 1.8) / 2));
  // Empty buckets between are skipped, not interpolated through.
  expect(percentileMs(h, 0.75)).toBe(22_500);
});

test('the open-ended last bucket gives its lower bound (over a week is not interpolated)', () => {
  const h = histogram([1000, 1], [30 * 86_400_000, 3]);
  expect(percentileMs(h, 0.95)).toBe(604_800_000);
  expect(percentileMs(h, 0.25)).toBe(5000);
});
