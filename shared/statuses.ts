// The canonical lead status vocabulary and the transitions a lead may make (no I/O: workflows import it).
export const CANONICAL_STATUSES = [
  'received',
  'pending',
  'accepted',
  'rejected',
  'expired',
  'failed',
  'returned',
] as const;

export type CanonicalStatus = (typeof CANONICAL_STATUSES)[number];

/** Statuses a partner's postback may carry once mapped (received and failed are ours alone). */
export const POSTBACK_STATUSES = ['pending', 'accepted', 'rejected', 'returned'] as const;
export type PostbackStatus = (typeof POSTBACK_STATUSES)[number];

export const TERMINAL_STATUSES: ReadonlySet<CanonicalStatus> = new Set([
  'accepted',
  'rejected',
  'expired',
  'failed',
  'returned',
]);

export function isTerminal(status: CanonicalStatus): boolean {
  return TERMINAL_STATUSES.has(status);
}

/**
 * What a postback may do to a lead that already has a final status (the late-postback policy).
 * A chargeback reverses a sale; a partner that answers after our deadline, or re-approves a lead
 * it scrubbed, still decides the lead, because that is money the source is owed.
 */
const LATE_TRANSITIONS: Record<CanonicalStatus, readonly PostbackStatus[]> = {
  received: ['pending', 'accepted', 'rejected'],
  pending: ['pending', 'accepted', 'rejected'],
  expired: ['accepted', 'rejected'],
  rejected: ['accepted'],
  accepted: ['returned'],
  returned: [],
  failed: [],
};

/** True when a postback carrying `next` may change a lead currently at `current`. */
export function canTransition(current: CanonicalStatus, next: PostbackStatus): boolean {
  return LATE_TRANSITIONS[current].includes(next);
}

/**
 * True when a postback carrying `next` cannot change a lead at `current` now but could once an earlier postback
 * of the same partner reaches it: a chargeback that overtook its approval while the lead still awaits the
 * partner's verdict. A lead already decided (rejected, expired) had no sale to reverse: that stays a conflict.
 */
export function canFollowLater(current: CanonicalStatus, next: PostbackStatus): boolean {
  if (isTerminal(current)) return false;
  return POSTBACK_STATUSES.some((between) => canTransition(current, between) && canTransition(between, next));
}
