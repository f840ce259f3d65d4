// A ping-post auction's verdict from its pings' answers: which bids are valid, in which order they are posted to.
// Pure and deterministic given its random source (in a workflow, the SDK's replay-safe Math.random).
import type { AuctionRules, PingResult, RouteCandidate } from '../activities/types';

/** A bid the lead may be posted against, best first; valid until `validUntil` (epoch ms). */
export interface RankedBid {
  candidate: RouteCandidate;
  bidCents: number;
  currency: string;
  pingId: string;
  validUntil: number;
}

export interface AuctionVerdict {
  /** Valid bids, highest first; ties by partner priority, then at random. */
  ranked: RankedBid[];
  /** Pings that brought no valid bid, and why. */
  refused: { partnerId: string; reason: string }[];
  /** The slowest ping's latency: how long the auction waited on its buyers. */
  waitedMs?: number;
}

/**
 * Ranks the answers; `pingedAt` is the workflow's time of the pings (bids hold from then, on its clock). A bid below the floor, in another currency than the auction's, or from a partner that is
 * not a candidate (its answer outlived a config change) is refused with the reason.
 */
export function rankBids(
  results: PingResult[],
  candidates: RouteCandidate[],
  rules: AuctionRules & { pingedAt: number },
  random: () => number,
): AuctionVerdict {
  const byId = new Map(candidates.map((c) => [c.partnerId, c]));
  const refused: AuctionVerdict['refused'] = [];
  const valid: (RankedBid & { draw: number })[] = [];
  // One draw per answer in the order given (the candidates' order), so a replay draws the same numbers.
  for (const r of results) {
    const draw = random();
    const candidate = byId.get(r.partnerId);
    const refuse = (reason: string) => void refused.push({ partnerId: r.partnerId, reason });
    if (!candidate?.ping) refuse('not a ping partner of this lead');
    else if (r.outcome !== 'bid') refuse(r.reason ?? r.outcome);
    else if (r.bidCents === undefined || !r.pingId) refuse('bid without an amount or ping id');
    else if (r.currency !== rules.currency)
      refuse(`bid in ${r.currency}, the auction is in ${rules.currency}`);
    else if (r.bidCents < rules.floorCents)
      refuse(`bid ${r.bidCents} below the floor of ${rules.floorCents}`);
    else
      valid.push({
        candidate,
        bidCents: r.bidCents,
        currency: r.currency,
        pingId: r.pingId,
        validUntil: rules.pingedAt + candidate.ping.bidValidityMs,
        draw,
      });
  }
  valid.sort(
    (a, b) => b.bidCents - a.bidCents || a.candidate.priority - b.candidate.priority || a.draw - b.draw,
  );
  return { ranked: valid.map(({ draw: _draw, ...bid }) => bid), refused };
}
