// What a partner's postback does to a lead: the one postback -> status decision of the workflow. Pure (no
// Temporal, no I/O), so every pair of statuses is unit-tested against the transition table of shared/statuses.
import { canTransition, type CanonicalStatus, type PostbackStatus } from '../shared/statuses';

/** What the workflow knows when a postback arrives. */
export interface DecisionView {
  /** The lead's status as the workflow last recorded it. */
  status: CanonicalStatus;
  /**
   * Set while a partner's verdict is awaited (its deadline running); absent once the lead is decided, when
   * only late postbacks (chargebacks, answers after expiry) arrive.
   */
  awaiting?: { allowResale: boolean };
}

export type Decision =
  /** Nothing to record: not a transition the lead may make now. */
  | { kind: 'ignore'; why: string }
  /** The partner rejected a lead it may resell: offer it to the next partner, record nothing here. */
  | { kind: 'resell' }
  /** Record `status`; `final` when it ends the wait for the partner's verdict. */
  | { kind: 'record'; status: PostbackStatus; reason: string; final: boolean };

export function decide(view: DecisionView, postback: { status: PostbackStatus }): Decision {
  const next = postback.status;
  if (!canTransition(view.status, next)) return { kind: 'ignore', why: 'not a valid transition' };
  if (view.awaiting) {
    switch (next) {
      case 'pending':
        return { kind: 'record', status: 'pending', reason: 'partner reports pending', final: false };
      case 'accepted':
        return { kind: 'record', status: 'accepted', reason: 'accepted by partner postback', final: true };
      case 'rejected':
        if (view.awaiting.allowResale) return { kind: 'resell' };
        return { kind: 'record', status: 'rejected', reason: 'rejected by partner postback', final: true };
      default:
        return { kind: 'ignore', why: 'not a valid transition' };
    }
  }
  switch (next) {
    case 'returned':
      return { kind: 'record', status: 'returned', reason: 'returned by partner', final: true };
    case 'accepted':
      return { kind: 'record', status: next, reason: `late acceptance after ${view.status}`, final: true };
    case 'rejected':
      return { kind: 'record', status: next, reason: `late rejection after ${view.status}`, final: true };
    default:
      // A `pending` after the verdict would reopen a decided lead; nothing waits for it any more.
      return { kind: 'ignore', why: 'pending after the verdict' };
  }
}
