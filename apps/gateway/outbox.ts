// The reconciler: sends what the gateway stored while Temporal was unreachable (queued lead starts and
// postback signals). Safe to run in every gateway: the workflow ignores repeats. Each entry is tried on its
// own: one that fails waits with a backoff and, after its attempts, is dead-lettered (listed and retried
// through /admin/outbox) instead of holding up the entries behind it. Housekeeping is in housekeeping.ts.
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import { IntakeOutbox, Lead, PostbackClaim } from '../../shared/models';
import { canTransition, type CanonicalStatus } from '../../shared/statuses';
import { leadWorkflowId, type PostbackSignal } from '../../shared/temporal';
import { Lease } from './lease';
import type { TemporalClient } from './temporal';

export type OutboxKind = 'lead-start' | 'postback-signal';

export interface ReconcilerOptions {
  temporal: TemporalClient;
  logger: Logger;
  metrics: Metrics;
  intervalMs?: number;
  /** Entries younger than this are left to the request that wrote them. */
  graceMs?: number;
  /**
   * How often the postback claims are searched for unsent ones even when no Temporal call failed here (another
   * gateway may have died with some). Between those, only a failed call triggers the search: on a server without
   * an index for it (FerretDB) it reads every claim ever made.
   */
  fullScanIntervalMs?: number;
  /**
   * With several gateways: the leases that let one of them (`holder` names this one) do the periodic work each
   * term (decision 0012). A gateway whose own Temporal call failed still sends what it queued; without leases
   * every pass is periodic work, as for a lone gateway.
   */
  lease?: { holder: string; termMs?: number };
  /** Attempts of one entry, while Temporal answers, before it is dead-lettered. */
  maxAttempts?: number;
  /** The wait after a failed attempt: doubles from `backoffMs` up to `maxBackoffMs`. */
  backoffMs?: number;
  maxBackoffMs?: number;
  now?: () => Date;
}

/** Neither dead nor waiting out a backoff. */
const dueAt = (now: Date) => ({
  deadAt: { $exists: false },
  $or: [{ nextAttemptAt: { $exists: false } }, { nextAttemptAt: { $lte: now } }],
});

interface Entry {
  _id?: string | null;
  attempts?: number | null;
}

/** The error and its causes: the SDK wraps the server's reason ("Failed to start Workflow" / "id too long"). */
function describe(err: unknown): string {
  const parts: string[] = [];
  for (let e: unknown = err; e && parts.length < 4; e = (e as { cause?: unknown }).cause)
    parts.push(String(e));
  return parts.join(': ');
}

/** Records an attempt's outcome on the entry, in the collection its kind lives in. */
async function setOnEntry(kind: OutboxKind, id: string, fields: Record<string, unknown>): Promise<void> {
  if (kind === 'lead-start') await IntakeOutbox.updateOne({ _id: id }, { $set: fields });
  else await PostbackClaim.updateOne({ _id: id }, { $set: fields });
}

export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;
  private lastFullScan = 0;
  private readonly leader?: Lease;
  private readonly fullScan?: Lease;

  constructor(private readonly options: ReconcilerOptions) {
    const lease = options.lease;
    if (lease) {
      this.leader = new Lease('outbox', lease.termMs ?? 10_000, lease.holder);
      this.fullScan = new Lease('outbox-full-scan', this.fullScanIntervalMs(), lease.holder);
    }
  }

  private fullScanIntervalMs(): number {
    return this.options.fullScanIntervalMs ?? 5 * 60_000;
  }

  /** Whether the periodic search of every unsent claim is this gateway's to do now. */
  private async fullScanDue(now: Date): Promise<boolean> {
    if (this.fullScan) return this.fullScan.firstInTerm(now);
    const due = now.getTime() - this.lastFullScan >= this.fullScanIntervalMs();
    if (due) this.lastFullScan = now.getTime();
    return due;
  }

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

  /** One pass (none when one is under way); returns how many entries it delivered. */
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
    const { temporal } = this.options;
    const now = this.options.now?.() ?? new Date();
    const leader = this.leader ? await this.leader.holds(now) : true;
    // A failed Temporal call of this gateway: what it queued is its to send, lease or not.
    const told = temporal.takeBacklog();
    if (!leader && !told) return 0;
    try {
      return await this.send(now, leader, told);
    } catch (err) {
      // A pass that failed (the database away) still owes what it was told of: the next one searches the claims,
      // not the full scan minutes later (found by npm run chaos: five postbacks left unsent for minutes).
      if (told) temporal.markBacklog();
      throw err;
    }
  }

  private async send(now: Date, leader: boolean, told: boolean): Promise<number> {
    const { temporal, logger } = this.options;
    const cutoff = new Date(now.getTime() - (this.options.graceMs ?? 3000));
    // Oldest first: a lead's postbacks reach its workflow in the order they arrived (hold before approved).
    const intake = await IntakeOutbox.find({ createdAt: { $lt: cutoff }, ...dueAt(now) })
      .sort({ createdAt: 1 })
      .limit(200)
      .lean();
    const fullScan = leader && (await this.fullScanDue(now)); // asked even when told: it starts the interval
    const scan = told || fullScan;
    const unsent = { sentAt: { $exists: false }, deadAt: { $exists: false } };
    const claims = scan
      ? await PostbackClaim.find({ ...unsent, claimedAt: { $lt: cutoff }, ...dueAt(now) })
          .sort({ claimedAt: 1 })
          .limit(200)
          .lean()
      : [];
    // Claims younger than the grace period are still their request's: look again. Backed-off ones are the
    // leader's to come back to, so that N gateways do not all keep searching for them.
    const left = leader ? unsent : { ...unsent, ...dueAt(now) };
    if (scan && (claims.length || (await PostbackClaim.exists(left)))) temporal.markBacklog();
    if (!intake.length && !claims.length) return 0;
    // One cheap probe instead of a timeout per entry while Temporal is still down.
    if (!(await temporal.ping())) return 0;
    let delivered = 0;
    for (const entry of intake) {
      try {
        const leadId = String(entry._id);
        const lead = await Lead.findById(leadId, { sourceId: 1 }).lean();
        if (lead) await temporal.startLead(leadId, lead.sourceId);
        await IntakeOutbox.deleteOne({ _id: leadId });
        logger.info({ leadId, workflowId: leadWorkflowId(leadId) }, 'queued lead started');
        delivered++;
      } catch (err) {
        if (!(await this.failed('lead-start', entry, err, now))) return delivered;
      }
    }
    // A lead whose earlier signal waits out a backoff keeps its later ones back too, so the order holds.
    const held = new Set<string>();
    if (claims.length) {
      // (One waiting for its lead's status does not: the postback it waits for may be right behind it.)
      const waiting = await PostbackClaim.find(
        { ...unsent, waitsForLead: { $ne: true }, nextAttemptAt: { $gt: now } },
        { leadId: 1 },
      ).lean();
      for (const w of waiting) held.add(w.leadId);
    }
    for (const claim of claims) {
      if (held.has(claim.leadId)) continue;
      if (claim.waitsForLead && !(await this.leadAllows(claim, now))) continue;
      try {
        await temporal.signalPostback(claim.leadId, claim.signal as PostbackSignal);
        await PostbackClaim.updateOne({ _id: claim._id }, { $set: { sentAt: new Date() } });
        logger.info(
          { leadId: claim.leadId, workflowId: leadWorkflowId(claim.leadId), postbackId: claim.postbackId },
          'queued postback applied',
        );
        delivered++;
      } catch (err) {
        held.add(claim.leadId);
        if (!(await this.failed('postback-signal', claim, err, now))) return delivered;
      }
    }
    return delivered;
  }

  /**
   * Whether the lead's status now allows a claim that overtook the postback making it valid (a chargeback
   * before its approval). Until it does, each look counts as an attempt with its backoff, so one whose lead
   * never gets there (the approval never came) is dead-lettered like any entry that cannot be sent.
   */
  private async leadAllows(claim: Entry & { leadId: string; signal: unknown }, now: Date): Promise<boolean> {
    const { status, partnerId } = claim.signal as PostbackSignal;
    const lead = await Lead.findById(claim.leadId, { status: 1, buyers: 1 }).lean();
    // A shared lead's buyer moves from its own verdict (decision 0017).
    const buyers = lead?.buyers as Record<string, { status: string }> | null | undefined;
    const current = buyers?.[partnerId]?.status ?? lead?.status;
    if (current && canTransition(current as CanonicalStatus, status)) return true;
    const why = new Error(
      `the lead is ${lead?.status ?? 'missing'}: a ${status} waits for the postback it follows`,
    );
    await this.failed('postback-signal', claim, why, now);
    return false;
  }

  /**
   * Counts a failed attempt against the entry, unless Temporal itself went away (then the pass stops and the
   * entry is not to blame). Returns whether the pass goes on with the next entry.
   */
  private async failed(kind: OutboxKind, entry: Entry, err: unknown, now: Date): Promise<boolean> {
    const { temporal, logger, metrics } = this.options;
    if (!(await temporal.ping())) return false;
    const attempts = (entry.attempts ?? 0) + 1;
    const lastError = describe(err).slice(0, 1000);
    const id = String(entry._id);
    const log = { kind, entryId: id, attempts, err: lastError };
    if (attempts >= (this.options.maxAttempts ?? 10)) {
      await setOnEntry(kind, id, { attempts, lastError, deadAt: now });
      metrics.outboxDeadLetters.inc({ kind });
      logger.error(log, 'outbox entry dead-lettered; list with GET /admin/outbox?state=dead');
      return true;
    }
    const backoff = Math.min(
      (this.options.backoffMs ?? 2000) * 2 ** (attempts - 1),
      this.options.maxBackoffMs ?? 300_000,
    );
    const nextAttemptAt = new Date(now.getTime() + backoff);
    await setOnEntry(kind, id, { attempts, lastError, nextAttemptAt });
    logger.warn({ ...log, nextAttemptAt }, 'outbox entry failed; will retry');
    return true;
  }
}
