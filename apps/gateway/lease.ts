// Leases on the gateway's background jobs, so that N gateways do each about once, not N times: time is cut into
// terms, and whoever first inserts `<job>:<term>` holds the job for that term. An insert on a unique _id is atomic
// on every MongoDB-wire server, FerretDB included, the same guarantee cap slots and claims rest on; no
// conditional update is needed (decision 0012). A holder that dies leaves the job undone for at most one term.
import mongoose, { Schema } from 'mongoose';
import { insertOnce } from '../../shared/models';

const leaseSchema = new Schema({
  _id: { type: String, required: true },
  holder: { type: String, required: true },
  /** End of the term; housekeeping deletes leases long past it. */
  expiresAt: { type: Date, required: true },
});
export const JobLease = mongoose.model('JobLease', leaseSchema, 'leases');

export class Lease {
  private term = -1;
  private holding = false;

  /**
   * @param job the job's name (one lease per name)
   * @param termMs how long a term lasts: the longest a job waits when its holder died
   * @param holder this process (unique among the gateways: host, pid and a random part)
   */
  constructor(
    readonly job: string,
    readonly termMs: number,
    readonly holder: string,
  ) {}

  /** Whether this process holds the job for the term `now` falls in; one insert per term, after that a lookup. */
  async holds(now: Date): Promise<boolean> {
    const term = Math.floor(now.getTime() / this.termMs);
    if (term === this.term) return this.holding;
    const _id = `${this.job}:${term}`;
    const expiresAt = new Date((term + 1) * this.termMs);
    this.holding =
      (await insertOnce(() => JobLease.create({ _id, holder: this.holder, expiresAt }))) ||
      // Taken: by another gateway, or by our own insert answered late (a driver retry of the same write).
      (await JobLease.findById(_id, { holder: 1 }).lean())?.holder === this.holder;
    this.term = term;
    return this.holding;
  }

  /** True once per term, for the holder: for a job that runs once a term whoever holds it. */
  async firstInTerm(now: Date): Promise<boolean> {
    const term = Math.floor(now.getTime() / this.termMs);
    const fresh = term !== this.term;
    return (await this.holds(now)) && fresh;
  }
}

/** Leases of terms that ended more than a day ago: nothing reads them. */
export async function sweepLeases(now: Date): Promise<void> {
  await JobLease.deleteMany({ expiresAt: { $lt: new Date(now.getTime() - 86_400_000) } });
}
