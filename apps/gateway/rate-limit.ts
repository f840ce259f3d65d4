// Token buckets per gateway process (SPEC "Rate limits"), kept in memory by rate-limiter-flexible: a cluster
// of N gateways allows up to N times each limit.
import { BurstyRateLimiter, RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateLimit } from '../../shared/config';
import { rateLimited } from '../../shared/errors';

/**
 * A token bucket of `burst` tokens refilled at `perSecond`, as two fixed windows: the steady rate (one second's
 * tokens) and, beyond it, the rest of the burst, refilled over the time the steady rate takes to fill it.
 */
class Bucket {
  private readonly steady: RateLimiterMemory;
  private readonly extra?: RateLimiterMemory;
  private readonly both?: BurstyRateLimiter;

  constructor(limit: RateLimit) {
    const points = Math.max(1, Math.floor(limit.perSecond));
    this.steady = new RateLimiterMemory({
      points,
      duration: Math.max(1, Math.round(points / limit.perSecond)),
    });
    const extra = limit.burst - points;
    if (extra > 0) {
      this.extra = new RateLimiterMemory({
        keyPrefix: 'burst',
        points: extra,
        duration: Math.max(1, Math.ceil(limit.burst / limit.perSecond)),
      });
      this.both = new BurstyRateLimiter(this.steady, this.extra);
    }
  }

  /** Takes a token; the milliseconds until the next one when none is left. */
  async take(key: string): Promise<number | undefined> {
    try {
      await (this.both ?? this.steady).consume(key);
      return undefined;
    } catch (err) {
      if (err instanceof RateLimiterRes) return err.msBeforeNext;
      throw err;
    }
  }

  /** The milliseconds until a token is back when none is left now (nothing is taken). */
  async emptyFor(key: string): Promise<number | undefined> {
    const [steady, extra] = await Promise.all([this.steady.get(key), this.extra?.get(key)]);
    if (!steady || steady.remainingPoints > 0) return undefined;
    if (this.extra && (!extra || extra.remainingPoints > 0)) return undefined;
    return Math.min(steady.msBeforeNext, extra?.msBeforeNext ?? Number.POSITIVE_INFINITY);
  }
}

export class RateLimits {
  /** One bucket set per limit object: a reloaded config starts with full buckets. */
  private readonly buckets = new WeakMap<RateLimit, Bucket>();

  /** Takes a token from `key`'s bucket, or throws 429 `rate_limited` with the wait. */
  async take(limit: RateLimit, key: string, message: string): Promise<void> {
    const waitMs = await this.bucket(limit).take(key);
    if (waitMs !== undefined) throw rateLimited(message, waitMs);
  }

  /** Throws 429 when `key`'s bucket is empty, without taking a token (failures are counted with `take`). */
  async refuseWhenEmpty(limit: RateLimit, key: string, message: string): Promise<void> {
    const waitMs = await this.bucket(limit).emptyFor(key);
    if (waitMs !== undefined) throw rateLimited(message, waitMs);
  }

  private bucket(limit: RateLimit): Bucket {
    let bucket = this.buckets.get(limit);
    if (!bucket) {
      bucket = new Bucket(limit);
      this.buckets.set(limit, bucket);
    }
    return bucket;
  }
}
