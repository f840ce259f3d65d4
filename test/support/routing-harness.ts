// A small harness for routing tests on the time-skipping server: the real worker and activities, a Mongo-wire
// database of its own, three loopback partner APIs (a, b, c) and a routing config each test can replace.
import { randomBytes } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import {
  startPartnerSimulator,
  type PartnerBehavior,
  type PartnerSimulator,
  type ReceivedLead,
} from '../../scripts/simulators';
import { ConfigIndex, parseRoutingConfig } from '../../shared/config';
import { Delivery, Lead } from '../../shared/models';
import { leadWorkflowId, type LeadWorkflowView } from '../../shared/temporal';
import { simulatorPing } from './bidders';
import { useStarted } from './late-bound';
import { startLeadWorkerOnTestServer } from './workflow-harness';

export type PartnerName = 'a' | 'b' | 'c';
export interface PartnerSpec {
  id: PartnerName;
  routing?: Record<string, unknown>;
  delivery?: Record<string, unknown>;
  response?: Record<string, unknown>;
  /** A ping-post partner: `true` for the simulator's ping endpoint and answer shape, or overrides of it. */
  ping?: true | Record<string, unknown>;
}

/** The ping config a simulator answers ({bid, currency, pingId, accepted, reason}); only these fields are sent. */
export const PING_FIELDS = ['vertical', 'geo.state', 'data.loanAmount'];

export interface RoutingHarness {
  sims: Record<PartnerName, PartnerSimulator>;
  /** For runs started another way than runLead (an inbound ping's update-with-start). */
  env: TestWorkflowEnvironment;
  taskQueue: string;
  /** Partners answer synchronously ({"status":"accepted"|"rejected"} at `status`) unless a spec says otherwise. */
  useConfig(
    partners: PartnerSpec[],
    settings?: Record<string, unknown>,
    auction?: Record<string, unknown>,
  ): void;
  setConfig(config: ConfigIndex): void;
  config(): ConfigIndex;
  /** The clock planRoute sees (active hours), real time unless set. */
  setClock(now: (() => Date) | undefined): void;
  /**
   * Inserts a received lead (under `leadId` when given) and runs its workflow to the end (time skips through
   * waits and retry backoff).
   */
  runLead(
    fields?: Record<string, unknown>,
    leadId?: string,
  ): Promise<{ leadId: string; view: LeadWorkflowView }>;
  receivedBy(sim: PartnerSimulator, leadId: string): number;
  deliveries(
    leadId: string,
  ): Promise<{ partnerId: string; outcome?: string | null; httpStatus?: number | null }[]>;
  stop(): Promise<void>;
}

export const accepts = (): PartnerBehavior => ({ body: { status: 'accepted' } });
export const rejects = (): PartnerBehavior => ({ body: { status: 'rejected' } });
export type { ReceivedLead };

export async function startRoutingHarness(): Promise<RoutingHarness> {
  let sims!: Record<PartnerName, PartnerSimulator>;
  let config: ConfigIndex | undefined;
  let clock: (() => Date) | undefined;
  const { env, taskQueue, stop } = await startLeadWorkerOnTestServer({
    name: 'wf_routing',
    config: () => {
      if (!config) throw new Error('no routing config: call useConfig first');
      return config;
    },
    now: () => (clock ? clock() : new Date()),
    async start() {
      const [a, b, c] = await Promise.all([
        startPartnerSimulator(),
        startPartnerSimulator(),
        startPartnerSimulator(),
      ]);
      sims = { a, b, c };
      return () => Promise.all([a.stop(), b.stop(), c.stop()]);
    },
  });

  return {
    sims,
    env,
    taskQueue,
    useConfig(partners, settings = {}, auction = {}) {
      const ping = (p: PartnerSpec) =>
        p.ping && {
          ...simulatorPing(sims[p.id].url, PING_FIELDS),
          ...(p.ping === true ? {} : p.ping),
        };
      config = new ConfigIndex(
        parseRoutingConfig({
          settings,
          // A generous deadline: on a loaded machine a ping in time must not count as late (tests of lateness set theirs).
          routing: { auction: { timeoutMs: 10_000, ...auction } },
          partners: partners.map((p) => ({
            id: p.id,
            delivery: { url: `${sims[p.id].url}/leads`, timeoutMs: 2000, maxAttempts: 2, ...p.delivery },
            response: { statusPath: 'status', ...p.response },
            postback: { token: `token-${p.id}-123456`, timeout: '1h' },
            routing: p.routing ?? {},
            ...(p.ping ? { ping: ping(p) } : {}),
            payout: 10,
          })),
          sources: [{ id: 'src-1', apiKey: 'key-src-1-abcdef' }],
        }),
      );
    },
    setConfig: (c) => void (config = c),
    config: () => config as ConfigIndex,
    setClock: (now) => void (clock = now),
    async runLead(fields = {}, leadId = `wf${randomBytes(6).toString('hex')}`) {
      await Lead.create({ _id: leadId, sourceId: 'src-1', status: 'received', ...fields });
      const view = await env.client.workflow.execute('leadWorkflow', {
        workflowId: leadWorkflowId(leadId),
        taskQueue,
        args: [{ leadId }],
      });
      return { leadId, view: view as LeadWorkflowView };
    },
    receivedBy: (sim, leadId) => sim.received.filter((l) => l.subid === leadId).length,
    async deliveries(leadId) {
      const docs = await Delivery.find({ leadId }).sort({ at: 1, attempt: 1 }).lean();
      return docs.map((d) => ({ partnerId: d.partnerId, outcome: d.outcome, httpStatus: d.httpStatus }));
    },
    stop,
  };
}

/** Registers the suite's beforeAll and afterAll around one harness and returns it. */
export const useRoutingHarness = (): RoutingHarness => useStarted('routing harness', startRoutingHarness);
