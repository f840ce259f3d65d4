// The weighted choice among equal-priority partners, measured over many leads on the time-skipping server.
// The workflow's random source is the SDK's, seeded per run by Temporal, so it cannot be seeded here: each
// bound is chosen to fail less than once in 10^9 runs when the code is right (the exact split, with a seeded
// random source, is in test/unit/routing.test.ts).
import type { LeadWorkflowView } from '../../shared/temporal';
import { accepts, rejects, useRoutingHarness } from '../support/routing-harness';

const h = useRoutingHarness();

/** Partners a and b at the same priority with the given weights, each answering as given. */
function weighted(
  [weightA, answerA]: [number, typeof accepts],
  [weightB, answerB]: [number, typeof accepts],
): void {
  h.useConfig([
    { id: 'a', routing: { priority: 1, weight: weightA } },
    { id: 'b', routing: { priority: 1, weight: weightB } },
  ]);
  h.sims.a.setBehavior(answerA);
  h.sims.b.setBehavior(answerB);
}

test('weights: 200 leads over two equal-priority partners weighted 80/20 split within ±0.19 of 0.8', async () => {
  weighted([80, accepts], [20, accepts]);
  const leads = 200;
  const views: LeadWorkflowView[] = [];
  // One after the other: waiting on a result is what lets the test server skip time, so leads in flight
  // side by side would see each other's timers fire early.
  for (let i = 0; i < leads; i++) views.push((await h.runLead()).view);
  const toA = views.filter((v) => v.partnerId === 'a').length;
  expect(views.every((v) => v.status === 'accepted' && v.partnersTried.length === 1)).toBe(true);
  // Binomial(200, 0.8): outside ±0.19 (6.7 sigma) with probability 5.2e-10. Weights ignored (0.5 each), the
  // share falls outside it with probability 0.9993.
  expect(Math.abs(toA / leads - 0.8)).toBeLessThan(0.19);
  expect(toA).toBeLessThan(leads); // b is not starved either
}, 120_000);

test('weights only order partners: when the drawn partner refuses, the other still gets the lead', async () => {
  weighted([50, rejects], [50, accepts]);
  const views: LeadWorkflowView[] = [];
  // 31 leads: each partner is drawn first at least once but with probability 2 * 0.5^31 = 9.3e-10.
  for (let i = 0; i < 31; i++) views.push((await h.runLead()).view);
  expect(views.every((v) => v.status === 'accepted' && v.partnerId === 'b')).toBe(true);
  const firstTries = views.map((v) => v.partnersTried[0]);
  expect(firstTries).toContain('a');
  expect(firstTries).toContain('b');
});
