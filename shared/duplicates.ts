// Duplicate leads and suppressions in MongoDB: one claim per person (identity hash) and window, taken with a
// unique insert, atomic on MongoDB and FerretDB alike (decision 0002's method; decision 0012).
import mongoose, { Schema } from 'mongoose';
import type { DuplicatesSettings } from './config';
import { identityHash, identityKeys, type IdentityInput } from './identity';
import { insertOnce, isDuplicateKey, Lead } from './models';

/** `<scope>:<hash>#<n>` -> the lead that holds the person for the window that started at `at`. */
const identityClaimSchema = new Schema({
  _id: { type: String, required: true },
  leadId: { type: String, required: true },
  at: { type: Date, required: true },
});
identityClaimSchema.index({ leadId: 1 });
// The pruner finds claims long expired by their time (pruneIdentityClaims).
identityClaimSchema.index({ at: 1 });
export const IdentityClaim = mongoose.model('IdentityClaim', identityClaimSchema, 'identity_claims');

/** A person never to be delivered: the identity hash, what kind of key it is if known, why and when. */
const suppressionSchema = new Schema({
  _id: { type: String, required: true },
  kind: String,
  reason: String,
  at: { type: Date, required: true },
});
export const Suppression = mongoose.model('Suppression', suppressionSchema, 'suppressions');

/** The identity hashes of a lead's contact data (none without settings.duplicates or a secret). */
export function leadIdentity(lead: IdentityInput, settings: DuplicatesSettings | undefined): string[] {
  if (!settings?.secret) return [];
  const secret = settings.secret;
  return identityKeys(lead, settings.keys, { gmail: settings.gmail }).map((k) =>
    identityHash(secret, k.kind, k.value),
  );
}

/** Long past any request's lifetime: a claim this old without its lead was abandoned. */
const ABANDONED_CLAIM_MS = 5 * 60_000;

export type ClaimResult = { duplicateOf?: undefined } | { duplicateOf: string };

/**
 * Claims each hash for `leadId`, in order, until one is held by another lead within the window. Fixed order
 * matters: twenty copies of one person all contest the first hash, so exactly one of them gets past it.
 * On a duplicate, the claims this call took are given back, so the rejected lead blocks no one.
 */
export async function claimIdentity(options: {
  hashes: string[];
  scope: string;
  leadId: string;
  at: Date;
  windowMs: number;
}): Promise<ClaimResult> {
  const { leadId, at } = options;
  // A new person (the common case) in one round trip: link #0 of every key, in order; an ordered insert
  // stops at the first key someone holds, and the keys from there take the slow path below.
  const first = options.hashes.map((hash) => ({ _id: `${options.scope}:${hash}#0`, leadId, at }));
  let inserted = first.length;
  try {
    if (first.length) await IdentityClaim.insertMany(first, { ordered: true, lean: true });
  } catch (err) {
    // Not insertOnce: a batch, and the count it inserted before the duplicate is needed.
    if (!isDuplicateKey(err)) throw err;
    const bulk = err as { insertedCount?: number; result?: { insertedCount?: number } };
    inserted = bulk.insertedCount ?? bulk.result?.insertedCount ?? 0;
  }
  const taken = first.slice(0, inserted).map((c) => c._id);
  for (const hash of options.hashes.slice(inserted)) {
    const claim = await claimOne(`${options.scope}:${hash}`, options);
    if (claim.leadId === leadId) {
      taken.push(claim.id);
      continue;
    }
    await IdentityClaim.deleteMany({ _id: { $in: taken }, leadId });
    return { duplicateOf: claim.leadId };
  }
  return {};
}

/**
 * The leadId of a seal: the link a pruner inserts after a chain's last before deleting the chain. A claimer that
 * meets one starts over at `#0` (pruneIdentityClaims).
 */
export const CLAIM_SEAL = '(pruning)';
/** How many times a claimer starts over on a chain being pruned before it gives up (a pruner takes ms). */
const MAX_RESTARTS = 200;

/**
 * The lead holding the person after this call. A person's claims form a chain `<key>#0`, `<key>#1`, ...:
 * the first live link is the current holder; when the last one has expired (or was abandoned), the next link
 * is inserted. Only inserts on a unique `_id` decide, never an update: on FerretDB v1 a conditional update is
 * not atomic (decision 0002), an insert is. Twenty racers read the same chain and insert the same link: one
 * wins. A chain may be pruned while it is read (pruneIdentityClaims deletes its links from `#0` up): a claimer
 * that inserted a link after others checks they are still there, and starts over when they are not.
 */
async function claimOne(
  key: string,
  o: { leadId: string; at: Date; windowMs: number },
): Promise<{ id: string; leadId: string }> {
  for (let restart = 0; restart < MAX_RESTARTS; restart++) {
    const claim = await walkChain(key, o);
    if (claim) return claim;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  throw new Error(`identity claim ${key} stayed sealed for pruning; retry`);
}

/** One walk along a chain: the holder, or undefined when the chain was being pruned under the walk. */
async function walkChain(
  key: string,
  o: { leadId: string; at: Date; windowMs: number },
): Promise<{ id: string; leadId: string } | undefined> {
  const passed: { _id: string; leadId: string; at: Date }[] = [];
  for (let link = 0; ; link++) {
    const id = `${key}#${link}`;
    let held = await IdentityClaim.findById(id).lean();
    if (!held) {
      if (await insertOnce(() => IdentityClaim.create({ _id: id, leadId: o.leadId, at: o.at }))) {
        if (await stillThere(passed)) return { id, leadId: o.leadId };
        await IdentityClaim.deleteOne({ _id: id, leadId: o.leadId });
        return undefined;
      }
      held = await IdentityClaim.findById(id).lean();
      if (!held) {
        link--; // given back between our insert and our read: try this link again
        continue;
      }
    }
    if (held.leadId === CLAIM_SEAL) return undefined;
    if (held.leadId === o.leadId) return { id, leadId: o.leadId }; // our own earlier attempt (a retried request)
    if (await isLive(held, o)) return { id, leadId: held.leadId };
    passed.push(held);
  }
}

/** Whether the expired links a walk passed are all still there, as they were. */
async function stillThere(passed: { _id: string; leadId: string; at: Date }[]): Promise<boolean> {
  if (!passed.length) return true;
  const now = await IdentityClaim.find(
    { _id: { $in: passed.map((p) => p._id) } },
    { leadId: 1, at: 1 },
  ).lean();
  const byId = new Map(now.map((d) => [d._id, d]));
  return passed.every((p) => {
    const d = byId.get(p._id);
    return d?.leadId === p.leadId && d.at.getTime() === p.at.getTime();
  });
}

/** Past a claim's window, how long its chain is kept before pruning: far longer than any walk along it. */
export const CLAIM_PRUNE_MARGIN_MS = 86_400_000;

/**
 * Deletes the claim chains whose last link expired `CLAIM_PRUNE_MARGIN_MS` before `now` (up to `limit` old
 * links a call), so identity_claims holds the people of the last window, not every person ever received.
 * Deleting an expired chain changes no answer: a claimer finding no `#0` holds the person, as it would have
 * after walking the expired links. What must not happen is a claimer holding a link of a chain while the chain
 * is deleted under it, so a chain is pruned in three steps: a seal is inserted after its last link (an insert on
 * a unique `_id`: if a claimer extended the chain first, the chain is live and kept); its links are deleted
 * from `#0` up, each only if still old (a link inserted since by a claimer is never deleted); the seal goes
 * last. A claimer meeting the seal starts over; one that inserted a link checks the links it passed are still
 * there (claimOne). Run by one housekeeper at a time (the lease); a pruner stopped midway leaves a seal, which
 * the next prune finishes.
 */
export async function pruneIdentityClaims(
  now: Date,
  windowMs: number,
  limit = 10_000,
): Promise<{ chains: number; links: number }> {
  const cutoff = new Date(now.getTime() - windowMs - CLAIM_PRUNE_MARGIN_MS);
  const old = await IdentityClaim.find({ at: { $lt: cutoff } }, { _id: 1 })
    .limit(limit)
    .lean();
  const keys = new Set(old.map((d) => d._id.slice(0, d._id.lastIndexOf('#'))));
  const pruned = { chains: 0, links: 0 };
  for (const key of keys) {
    const links = await pruneChain(key, cutoff);
    if (links) {
      pruned.chains += 1;
      pruned.links += links;
    }
  }
  return pruned;
}

/** Prunes one chain if its last link is older than `cutoff`; returns the links deleted. */
async function pruneChain(key: string, cutoff: Date): Promise<number> {
  const links: { _id: string; leadId: string; at: Date }[] = [];
  for (let n = 0; ; n++) {
    const d = await IdentityClaim.findById(`${key}#${n}`).lean();
    if (!d) break;
    links.push(d);
    if (d.leadId === CLAIM_SEAL) break;
  }
  const last = links.at(-1);
  let seal = last?.leadId === CLAIM_SEAL ? last._id : undefined; // left by a pruner that stopped midway
  if (!seal) {
    if (!last) {
      // Links past a gap (claims given back below them): no walk reaches them; old ones are only dead weight.
      const { deletedCount } = await IdentityClaim.deleteMany({
        _id: { $regex: `^${escapeRegExp(key)}#[0-9]+$` },
        at: { $lt: cutoff },
      });
      return deletedCount;
    }
    if (last.at >= cutoff) return 0;
    seal = `${key}#${links.length}`;
    if (!(await insertOnce(() => IdentityClaim.create({ _id: seal, leadId: CLAIM_SEAL, at: new Date(0) }))))
      return 0; // a claimer extended the chain first: it is live
  }
  let deleted = 0;
  for (const link of links) {
    if (link._id === seal) break;
    deleted += (await IdentityClaim.deleteOne({ _id: link._id, at: { $lt: cutoff } })).deletedCount;
  }
  await IdentityClaim.deleteOne({ _id: seal, leadId: CLAIM_SEAL });
  return deleted;
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

async function isLive(
  held: { leadId: string; at: Date },
  o: { at: Date; windowMs: number },
): Promise<boolean> {
  const age = o.at.getTime() - held.at.getTime();
  if (age >= o.windowMs) return false;
  // A gateway that died between claiming and storing its lead left a claim nobody can be a duplicate of;
  // a young claim's lead may still be on its way to the database.
  return age < ABANDONED_CLAIM_MS || (await Lead.exists({ _id: held.leadId })) !== null;
}

/** Gives back every claim a lead holds (its post never happened), so the person's next lead is no duplicate of it. */
export async function releaseIdentity(leadId: string): Promise<void> {
  await IdentityClaim.deleteMany({ leadId });
}

/** True when any of the hashes is on the suppression list. */
export async function isSuppressed(hashes: string[]): Promise<boolean> {
  if (hashes.length === 0) return false;
  return (await Suppression.exists({ _id: { $in: hashes } })) !== null;
}

/** Adds hashes to the suppression list; returns how many were new. */
export async function addSuppressions(
  entries: { hash: string; kind?: string }[],
  reason: string | undefined,
  at: Date,
): Promise<number> {
  let added = 0;
  for (const e of entries) {
    if (await insertOnce(() => Suppression.create({ _id: e.hash, kind: e.kind, reason, at }))) added++;
  }
  return added;
}

/** Whether `partnerId` bought this person (pending, accepted or returned) in a lead created since `since`. */
export async function boughtBefore(
  partnerId: string,
  hashes: string[],
  since: Date,
  exceptLeadId: string,
): Promise<string | undefined> {
  if (hashes.length === 0) return undefined;
  const earlier = await Lead.findOne(
    {
      identity: { $in: hashes },
      partnerId,
      status: { $in: ['pending', 'accepted', 'returned'] },
      createdAt: { $gte: since },
      _id: { $ne: exceptLeadId },
    },
    { _id: 1 },
  ).lean();
  return earlier?._id;
}
