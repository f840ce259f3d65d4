// The reconciler: sends what the gateway stored while Temporal was unreachable (queued lead starts and
// postback signals). Safe to run in every gateway: the workflow ignores repeats. Housekeeping is elsewhere
// (housekeeping.ts).
import type { Logger } from '../../shared/logger';
import { IntakeOutbox, Lead, PostbackEffect } from '../../shared/models';
import type { PostbackSignal } from '../../shared/temporal';
import type { TemporalGateway } from './temporal';

export interface ReconcilerOptions {
  temporal: TemporalGateway;
  logger: Logger;
  intervalMs?: number;
  /** Entries younger than this are left to the request that wrote them. */
  graceMs?: number;
  /**
   * How often the postback claims are searched for unsent ones even when no Temporal call failed here (another
   * gateway may have died with some). Between those, only a failed call triggers the search: on a server without
   * an index for it (FerretDB) it reads every claim ever made.
   */
  fullScanIntervalMs?: number;
  now?: () => Date;
}

export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastFullScan = 0;

  constructor(private readonly options: ReconcilerOptions) {}

  start(): void {
    const interval = this.options.intervalMs ?? 2000;
    this.timer = setInterval(() => void this.tick(), interval);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.idle();
  }

  /** Resolves when no pass is under way. */
  async idle(): Promise<void> {
    await this.running;
  }

  /** One pass; returns how many entries it delivered. */
  async tick(): Promise<number> {
    if (this.running) return 0;
    let delivered = 0;
    this.running = (async () => {
      try {
        delivered = await this.pass();
      } catch (err) {
        this.options.logger.warn({ err: String(err) }, 'reconciler pass failed; will retry');
      }
    })();
    await this.running;
    this.running = undefined;
    return delivered;
  }

  private async pass(): Promise<number> {
    const { temporal, logger } = this.options;
    const now = this.options.now?.() ?? new Date();
    const cutoff = new Date(now.getTime() - (this.options.graceMs ?? 3000));
    // Oldest first: a lead's postbacks reach its workflow in the order they arrived (hold before approved).
    const intake = await IntakeOutbox.find({ createdAt: { $lt: cutoff } })
      .sort({ createdAt: 1 })
      .limit(200)
      .lean();
    const due = now.getTime() - this.lastFullScan >= (this.options.fullScanIntervalMs ?? 5 * 60_000);
    const scan = temporal.takeBacklog() || due;
    if (due) this.lastFullScan = now.getTime();
    const effects = scan
      ? await PostbackEffect.find({ sentAt: { $exists: false }, claimedAt: { $lt: cutoff } })
          .sort({ claimedAt: 1 })
          .limit(200)
          .lean()
      : [];
    // Claims younger than the grace period are still their request's; look again next pass.
    if (scan && (effects.length || (await PostbackEffect.exists({ sentAt: { $exists: false } }))))
      temporal.markBacklog();
    if (!intake.length && !effects.length) return 0;
    // One cheap probe instead of a timeout per entry while Temporal is still down.
    if (!(await temporal.ping())) return 0;
    let delivered = 0;
    for (const entry of intake) {
      const leadId = String(entry._id);
      const lead = await Lead.findById(leadId, { sourceId: 1 }).lean();
      if (lead) await temporal.startLead(leadId, lead.sourceId);
      await IntakeOutbox.deleteOne({ _id: leadId });
      logger.info({ leadId, workflowId: `lead-${leadId}` }, 'queued lead started');
      delivered++;
    }
    for (const effect of effects) {
      await temporal.signalPostback(effect.leadId, effect.signal as PostbackSignal);
      await PostbackEffect.updateOne({ _id: effect._id }, { $set: { sentAt: new Date() } });
      logger.info(
        { leadId: effect.leadId, workflowId: `lead-${effect.leadId}`, postbackId: effect.postbackId },
        'queued postback applied',
      );
      delivered++;
    }
    return delivered;
  }
}
