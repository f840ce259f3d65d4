// Admission of inbound pings under overload. A ping is worth answering only within its source's deadline; an
// auction started when the machines are already behind answers too late and takes CPU from the ones that could
// still answer in time, so a slow spell grows into a backlog no auction gets out of. The gateway therefore keeps
// a limit on the pings it runs at once, additive increase and multiplicative decrease on their answer times (as
// TCP does on round trips). What it watches is each answer's own time: the answer's less the auction's wait on
// its buyers, which is theirs and bounded by the deadline. Within OWN_TIME_SHARE of the deadline, the limit grows
// by one per limit's worth of answers; once answers over it are more than LATE_SHARE of the recent ones, it
// falls to 90% of what was in flight then, at most once per deadline. A ping over the limit is answered at once
// with 503 `overloaded`. Idle or healthy, the limit stays far above what is in flight and nothing is turned
// away: one slow answer now and then (a pause of the process) lowers nothing; a spell of them does. Per
// gateway process.

/**
 * An answer whose own time is over this share of the deadline is late: with buyers that take the whole
 * deadline it would come after 1.5 x the deadline, when a source has usually stopped waiting.
 */
export const OWN_TIME_SHARE = 0.5;
/** The limit of a gateway that has seen no late answer: a burst of this many pings is taken in at once. */
export const MAX_PINGS_IN_FLIGHT = 1000;
/** The least the limit falls to: some pings keep going through, so their answer times can raise it again. */
export const MIN_PINGS_IN_FLIGHT = 2;
const DECREASE = 0.9;
/** The share of late answers, among about the last 16 (a moving average), above which the limit is lowered. */
export const LATE_SHARE = 0.125;
const RECENT_WEIGHT = 1 / 16;

export interface AdmissionState {
  inFlight: number;
  limit: number;
}

export class PingAdmission {
  private inFlight = 0;
  private limit = MAX_PINGS_IN_FLIGHT;
  private loweredAt = -Infinity;
  /** Moving average of 1 for a late answer, 0 for one in time. */
  private lateShare = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  /** Takes a ping in, or returns false when as many as the limit are running. */
  admit(): boolean {
    if (this.inFlight >= this.limit) return false;
    this.inFlight += 1;
    return true;
  }

  /**
   * A ping taken in has been answered (or failed), `ownMs` of its time its own (not waiting on buyers), for an
   * auction deadline of `deadlineMs`.
   */
  settle(ownMs: number, deadlineMs: number): void {
    this.inFlight = Math.max(0, this.inFlight - 1);
    const late = ownMs > OWN_TIME_SHARE * deadlineMs;
    this.lateShare += RECENT_WEIGHT * ((late ? 1 : 0) - this.lateShare);
    if (!late) {
      this.limit = Math.min(MAX_PINGS_IN_FLIGHT, this.limit + 1 / this.limit);
      return;
    }
    if (this.lateShare <= LATE_SHARE) return;
    // The late answers of one spell are one signal: lowered once per deadline, from what was running.
    const t = this.now();
    if (t - this.loweredAt < deadlineMs) return;
    this.loweredAt = t;
    const running = Math.min(this.limit, this.inFlight + 1);
    this.limit = Math.max(MIN_PINGS_IN_FLIGHT, Math.floor(running * DECREASE));
  }

  state(): AdmissionState {
    return { inFlight: this.inFlight, limit: Math.floor(this.limit) };
  }
}
