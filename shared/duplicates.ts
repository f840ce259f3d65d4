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
 * The lead holding the person after this call. A person's claims form a chain `<key>#0`, `<key>#1`, ...:
 * the last one is the current holder; when it has expired (or was abandoned), the next link is inserted.
 * Only inserts on a unique `_id` decide, never an update: on FerretDB v1 a conditional update is not atomic
 * (decision 0002), an insert is. Twenty racers read the same chain and insert the same link: one wins.
 */
async function claimOne(
  key: string,
  o: { leadId: string; at: Date; windowMs: number },
): Promise<{ id: string; leadId: string }> {
  for (let link = 0; ; link++) {
    const id = `${key}#${link}`;
    let held = await IdentityClaim.findById(id).lean();
    if (!held) {
      if (await insertOnce(() => IdentityClaim.create({ _id: id, leadId: o.leadId, at: o.at })))
        return { id, leadId: o.leadId };
      held = await IdentityClaim.findById(id).lean();
      if (!held) {
        link--; // given back between our insert and our read: try this link again
        continue;
      }
    }
    if (held.leadId === o.leadId) return { id, leadId: o.leadId }; // our own earlier attempt (a retried request)
    if (await isLive(held, o)) return { id, leadId: held.leadId };
  }
}

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
