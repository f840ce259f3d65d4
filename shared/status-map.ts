// Maps a partner's raw postback status to a canonical one: the partner's map merged over the default map.
import { AppError } from './errors';
import type { PostbackStatus } from './statuses';

/**
 * Only words that mean the same thing at every common network and tracker. Ambiguous words
 * ("lead", "open", "new") and numeric codes ("1", "2") mean different things at different
 * networks, so they belong in a partner's own `statusMap` and are never guessed here.
 */
export const DEFAULT_STATUS_MAP: Readonly<Record<string, PostbackStatus>> = Object.freeze({
  approved: 'accepted',
  approve: 'accepted',
  accepted: 'accepted',
  accept: 'accepted',
  confirmed: 'accepted',
  sale: 'accepted',
  sold: 'accepted',
  converted: 'accepted',
  paid: 'accepted',
  declined: 'rejected',
  decline: 'rejected',
  rejected: 'rejected',
  reject: 'rejected',
  denied: 'rejected',
  cancel: 'rejected',
  cancelled: 'rejected',
  canceled: 'rejected',
  trash: 'rejected',
  scrubbed: 'rejected',
  invalid: 'rejected',
  refused: 'rejected',
  duplicate: 'rejected',
  dupe: 'rejected',
  disqualified: 'rejected',
  fraud: 'rejected',
  disapproved: 'rejected',
  not_approved: 'rejected',
  unqualified: 'rejected',
  not_qualified: 'rejected',
  pending: 'pending',
  hold: 'pending',
  on_hold: 'pending',
  in_review: 'pending',
  under_review: 'pending',
  processing: 'pending',
  pending_approval: 'pending',
  awaiting_approval: 'pending',
  pending_review: 'pending',
  chargeback: 'returned',
  refund: 'returned',
  refunded: 'returned',
  returned: 'returned',
  reversed: 'returned',
  reversal: 'returned',
  charged_back: 'returned',
  charge_back: 'returned',
  chargedback: 'returned',
  clawback: 'returned',
});

/** "On Hold", "on-hold", "on_-hold" and " ON_HOLD " are one word to a partner's engineer, so they are one key here. */
export function normalizeRawStatus(raw: string): string {
  return raw
    .trim()
    .toLowerCase()
    .replace(/[\s_-]+/g, '_');
}

export interface StatusMapping {
  statusMap?: Record<string, PostbackStatus>;
  defaultStatus?: PostbackStatus;
}

export function buildStatusMap(partner: StatusMapping): Map<string, PostbackStatus> {
  const merged = new Map(Object.entries(DEFAULT_STATUS_MAP));
  for (const [raw, status] of Object.entries(partner.statusMap ?? {}))
    merged.set(normalizeRawStatus(raw), status);
  return merged;
}

/**
 * Returns the canonical status for a raw one. A missing status takes the partner's `defaultStatus`
 * (conversion-only trackers); an unknown one is an `unmapped_status` error, never a guess.
 */
export function mapPartnerStatus(
  raw: string | undefined,
  partner: StatusMapping,
  map: Map<string, PostbackStatus> = buildStatusMap(partner),
): PostbackStatus {
  if (raw === undefined || raw.trim() === '') {
    if (partner.defaultStatus) return partner.defaultStatus;
    throw new AppError('invalid_request', 'status is required', [{ path: 'status', message: 'Required' }]);
  }
  const status = map.get(normalizeRawStatus(raw));
  if (!status) {
    throw new AppError('unmapped_status', `status "${raw.slice(0, 64)}" is not mapped for this partner`, [
      { path: 'status', message: 'add it to the partner statusMap' },
    ]);
  }
  return status;
}
