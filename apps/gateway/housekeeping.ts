// Housekeeping: sweeps what no one needs any more (expired signature nonces, cap slots of periods long over,
// duplicate-identity claims long expired) and
// keeps the reports' read model current (buckets of hours just closed, recent events they no longer need).
// Every step is idempotent (deletes of what is past, insert-only buckets and markers), so a repeat costs only time.
import { pruneIdentityClaims } from '../../shared/duplicates';
import type { Logger } from '../../shared/logger';
import { CapSlot, PostbackLog, SignatureNonce } from '../../shared/models';
import { keepReportHouse } from '../../shared/reports';
import { Lease, sweepLeases } from './lease';

export interface HousekeeperOptions {
  logger: Logger;
  /** How often house is kept. */
  intervalMs?: number;
  now?: () => Date;
  /**
   * With several gateways: house is kept once per interval by whichever holds that term's lease (`holder`
   * names this one; decision 0012). Without, every round keeps house.
   */
  lease?: { holder: string };
  /** settings.duplicates.window, read each round (a reload may change it); undefined: no claims are taken. */
  duplicatesWindowMs?: () => number | undefined;
}

/** Claims expire in weeks: pruning them (a read of every old claim on FerretDB) once an hour is plenty. */
const CLAIM_PRUNE_EVERY_MS = 3_600_000;

/** Daily and hourly cap periods are over after a day; their slots only slow down the next reservation. */
const CAP_SLOT_AGE_MS = 26 * 3_600_000;

export class Housekeeper {
  private timer?: NodeJS.Timeout;
  private running?: Promise<boolean>;
  private readonly lease?: Lease;
  private claimsPrunedAt = -Infinity;

  constructor(private readonly options: HousekeeperOptions) {
    if (options.lease) this.lease = new Lease('housekeeping', this.intervalMs(), options.lease.holder);
  }

  private intervalMs(): number {
    return this.options.intervalMs ?? 60_000;
  }

  /** Keeps house now (a gateway that starts builds the buckets it missed), then every interval. */
  start(): void {
    void this.run();
    this.timer = setInterval(() => void this.run(), this.intervalMs());
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }

  /**
   * One round; a round still under way is joined, not doubled. Building the first report buckets over a large
   * history takes a while: it runs on its own timer so the outbox passes never wait for it. Resolves to whether
   * this round kept house (false: another gateway holds the term, or it failed and is retried next round).
   */
  run(): Promise<boolean> {
    this.running ??= this.keepHouse().finally(() => (this.running = undefined));
    return this.running;
  }

  private async keepHouse(): Promise<boolean> {
    const now = this.options.now?.() ?? new Date();
    try {
      if (this.lease && !(await this.lease.firstInTerm(now))) return false;
      await SignatureNonce.deleteMany({ expiresAt: { $lt: now } });
      // Refused postbacks carry an expiry (settings.refusedPostbackTtl): a flood of them must not fill the disk.
      await PostbackLog.deleteMany({ expiresAt: { $lt: now } });
      await CapSlot.deleteMany({ takenAt: { $lt: new Date(now.getTime() - CAP_SLOT_AGE_MS) } });
      await sweepLeases(now);
      await this.pruneClaims(now);
      await keepReportHouse(now);
      return true;
    } catch (err) {
      this.options.logger.warn({ err: String(err) }, 'housekeeping failed; will retry');
      return false;
    }
  }

  private async pruneClaims(now: Date): Promise<void> {
    const windowMs = this.options.duplicatesWindowMs?.();
    if (windowMs === undefined || now.getTime() - this.claimsPrunedAt < CLAIM_PRUNE_EVERY_MS) return;
    const pruned = await pruneIdentityClaims(now, windowMs);
    this.claimsPrunedAt = now.getTime();
    if (pruned.links) this.options.logger.info(pruned, 'expired identity claims pruned');
  }
}
