// Replays the committed histories of finished lead workflows (test/workflow/histories/*.json) with the
// current workflow bundle: a change to workflows/ that running workflows could not replay (a non-deterministic
// change) fails here instead of in production.
//
// The rule (decision 0009): from the first release on, a change of the commands a workflow issues is a patched()
// branch, with a scenario recorded with the new code added here; the old histories stay and keep replaying. A
// patch is deprecated, and its histories retired, only once no run of the old shape can be open. Before that
// release the histories were re-recorded once, with the patch versions nothing ran collapsed.
// RECORD_HISTORIES=<scenario>[,<scenario>...] npx jest test/workflow/replay.test.ts records just those (on the
// time-skipping server); then commit the JSON files.
import fs from 'node:fs';
import path from 'node:path';
import { WithStartWorkflowOperation, type WorkflowHandle } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../../apps/worker/worker';
import { leadWorkflowId, pingUpdate, postbackSignal, postPingedUpdate } from '../../shared/temporal';
import { buyersPending, eventually, quietTemporalRuntime } from '../support/stack';
import { historyFromJson, historyToJson } from './history-json';
import {
  leadTestConfig,
  postbackFor,
  startWorkflowHarness,
  type LeadHandle,
  type WorkflowHarness,
} from '../support/workflow-harness';

const HISTORIES_DIR = path.join(__dirname, 'histories');
const REPO_ROOT = path.resolve(__dirname, '..', '..');

type Run = Pick<WorkflowHandle, 'fetchHistory'>;
/** Plays one case through and returns its finished runs by history file name. */
type Scenario = (h: WorkflowHarness) => Promise<Record<string, Run>>;

/** A handle on one run: a handle from start() follows the chain to a later run started with a signal. */
function firstRun(h: WorkflowHarness, handle: LeadHandle): Run {
  return h.env.client.workflow.getHandle(handle.workflowId, handle.firstExecutionRunId);
}

/** A scenario played again with the code of the day, its runs saved under new names: a path in a later shape. */
function playedAgain(scenario: string, names: Record<string, string>): Scenario {
  return async (h) => {
    const runs = await (SCENARIOS[scenario] as Scenario)(h);
    return Object.fromEntries(Object.entries(names).map(([from, to]) => [to, runs[from] as Run]));
  };
}

/** Finished runs covering each path through the workflow. */
const SCENARIOS: Record<string, Scenario> = {
  async accepted(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-accepted' });
    await h.waitForStatus(leadId, 'pending');
    await handle.signal(postbackSignal, postbackFor(leadId, 'pending', { rawStatus: 'lead' }));
    // Recorded before the verdict arrives, so the two postbacks reach the workflow in separate tasks.
    await eventually(
      async () => ((await h.record(leadId)).history.length === 3 ? true : undefined),
      30_000,
      'pending postback',
    );
    await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { payoutCents: 2050 }));
    await handle.result();
    return { accepted: firstRun(h, handle) };
  },
  async rejected(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-rejected' });
    await h.waitForStatus(leadId, 'pending');
    await handle.signal(postbackSignal, postbackFor(leadId, 'rejected'));
    await handle.result();
    return { rejected: firstRun(h, handle) };
  },
  async expired(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-expired' });
    await h.waitForStatus(leadId, 'pending');
    await handle.result();
    return { expired: firstRun(h, handle) };
  },
  /** A chargeback signalled with start after the accepted run had completed: the second run. */
  async returned(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-returned' });
    await h.waitForStatus(leadId, 'pending');
    await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { payoutCents: 3000 }));
    await handle.result();
    const late = await h.signalWithStart(leadId, { postback: postbackFor(leadId, 'returned') });
    await late.handle.result();
    return { returned: late.handle };
  },
  /** acme refuses (4xx), bravo takes it; then the source's notification fails once and is retried. */
  async 'waterfall-then-notification-retry'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true }));
    h.acme.setBehavior(() => ({ httpStatus: 422 }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-waterfall' });
      await h.waitForStatus(leadId, 'pending');
      h.source.failNext(1);
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { partnerId: 'bravo' }));
      await handle.result();
      return { 'waterfall-then-notification-retry': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setBehavior(() => ({}));
    }
  },
  /** acme refuses (4xx; its cap slot is released), bravo takes the lead, holds it, then accepts. */
  async 'waterfall-hold-accepted'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true }));
    h.acme.setBehavior(() => ({ httpStatus: 422 }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-waterfall-hold' });
      await h.waitForStatus(leadId, 'pending');
      const bravo = { partnerId: 'bravo' };
      await handle.signal(postbackSignal, postbackFor(leadId, 'pending', { ...bravo, rawStatus: 'hold' }));
      await eventually(
        async () => ((await h.record(leadId)).history.length === 3 ? true : undefined),
        30_000,
        'pending postback',
      );
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { ...bravo, payoutCents: 1500 }));
      await handle.result();
      return { 'waterfall-hold-accepted': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setBehavior(() => ({}));
    }
  },
  /** The first run was ended by hand while pending; the partner's acceptance starts a run that resumes the wait. */
  async 'resumed-pending'(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-resumed' });
    await h.waitForStatus(leadId, 'pending');
    await handle.terminate('ended by an operator');
    const resumed = await h.signalWithStart(leadId, {
      postback: postbackFor(leadId, 'accepted', { payoutCents: 1800 }),
    });
    await resumed.handle.result();
    return { 'resumed-pending': resumed.handle };
  },
  /** acme may resell: its postback rejection sends the lead on to bravo, which accepts. */
  async 'allow-resale'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true, acmeAllowsResale: true }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-resale' });
      await h.waitForStatus(leadId, 'pending');
      await handle.signal(postbackSignal, postbackFor(leadId, 'rejected'));
      await eventually(
        async () => ((await h.record(leadId)).lead.partnerId === 'bravo' ? true : undefined),
        30_000,
        'resold to bravo',
      );
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { partnerId: 'bravo' }));
      await handle.result();
      return { 'allow-resale': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
    }
  },
  /** The only partner refuses the lead (4xx): failed. */
  async failed(h) {
    h.acme.setBehavior(() => ({ httpStatus: 422 }));
    try {
      const { handle } = await h.submitLead({ clickId: 'clk-failed' });
      await handle.result();
      return { failed: firstRun(h, handle) };
    } finally {
      h.acme.setBehavior(() => ({}));
    }
  },
  /** The partner accepts in its answer to the delivery: no wait for a postback. */
  async 'accepted-on-delivery'(h) {
    h.useConfig((e) => leadTestConfig(e, { synchronousAnswers: true }));
    h.acme.setBehavior(() => ({ body: { status: 'accepted' } }));
    try {
      const { handle } = await h.submitLead({ clickId: 'clk-sync' });
      await handle.result();
      return { 'accepted-on-delivery': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setBehavior(() => ({}));
    }
  },
  /** No postback before the deadline (expired), then the partner's rejection arrives: a second run records it. */
  async 'late-rejection-after-expiry'(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-late-rejection' });
    await h.waitForStatus(leadId, 'pending');
    await handle.result();
    const late = await h.signalWithStart(leadId, { postback: postbackFor(leadId, 'rejected') });
    await late.handle.result();
    return { 'late-rejection-after-expiry': late.handle };
  },
  /** An auction: acme bids highest but refuses the post (4xx), bravo's bid takes the lead and it accepts later. */
  async 'auction-winner-refuses'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true, auction: true }));
    h.acme.setPingBehavior(() => ({ bid: '9.00', pingId: 'acme-ping-1' }));
    h.bravo.setPingBehavior(() => ({ bid: '7.50', pingId: 'bravo-ping-1' }));
    h.acme.setBehavior(() => ({ httpStatus: 422 }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-auction', vertical: 'auto' });
      await h.waitForStatus(leadId, 'pending');
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { partnerId: 'bravo' }));
      await handle.result();
      return { 'auction-winner-refuses': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setBehavior(() => ({}));
      h.acme.setPingBehavior(() => ({ bid: null }));
      h.bravo.setPingBehavior(() => ({ bid: null }));
    }
  },
  /** An auction acme wins and accepts by postback: its bid upserted as the WinningBidCents search attribute. */
  async 'auction-won'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true, auction: true }));
    h.acme.setPingBehavior(() => ({ bid: '9.00', pingId: 'acme-ping-3' }));
    h.bravo.setPingBehavior(() => ({ bid: '7.50', pingId: 'bravo-ping-3' }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-auction-won', vertical: 'auto' });
      await h.waitForStatus(leadId, 'pending');
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted'));
      await handle.result();
      return { 'auction-won': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setPingBehavior(() => ({ bid: null }));
      h.bravo.setPingBehavior(() => ({ bid: null }));
    }
  },
  /**
   * Multisell (winners 2): acme and bravo both get the post and await their postbacks; bravo rejects, acme
   * accepts: the lead is accepted at acme's bid.
   */
  async 'auction-multisell'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true, auction: true, winners: 2 }));
    h.acme.setPingBehavior(() => ({ bid: '9.00', pingId: 'acme-ping-4' }));
    h.bravo.setPingBehavior(() => ({ bid: '7.50', pingId: 'bravo-ping-4' }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-multisell', vertical: 'auto' });
      await buyersPending(leadId, ['acme', 'bravo']);
      await handle.signal(postbackSignal, postbackFor(leadId, 'rejected', { partnerId: 'bravo' }));
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted'));
      await handle.result();
      return { 'auction-multisell': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setPingBehavior(() => ({ bid: null }));
      h.bravo.setPingBehavior(() => ({ bid: null }));
    }
  },
  /** An inbound ping (update-with-start): acme's bid is reserved, the post goes to it, no second ping. */
  async 'inbound-ping'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true, auction: true }));
    h.acme.setPingBehavior(() => ({ bid: '9.00', pingId: 'acme-ping-2' }));
    h.bravo.setPingBehavior(() => ({ bid: '7.50', pingId: 'bravo-ping-2' }));
    try {
      const leadId = await h.insertLead({ clickId: 'clk-ping', vertical: 'auto' });
      const startWorkflowOperation = new WithStartWorkflowOperation('leadWorkflow', {
        workflowId: leadWorkflowId(leadId),
        taskQueue: h.taskQueue,
        args: [{ leadId, ping: true }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      await h.env.client.workflow.executeUpdateWithStart(pingUpdate, { startWorkflowOperation });
      const handle = await startWorkflowOperation.workflowHandle();
      await handle.executeUpdate(postPingedUpdate, { args: [{}] });
      await h.waitForStatus(leadId, 'pending');
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted'));
      await handle.result();
      return { 'inbound-ping': handle };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setPingBehavior(() => ({ bid: null }));
      h.bravo.setPingBehavior(() => ({ bid: null }));
    }
  },
  /** inbound-ping with the pings as local activities (patch `local-pings`): markers in one task, no activities. */
  'inbound-ping-local-pings': playedAgain('inbound-ping', { 'inbound-ping': 'inbound-ping-local-pings' }),
  /** auction-won with the pings as local activities (patch `local-pings`). */
  'auction-won-local-pings': playedAgain('auction-won', { 'auction-won': 'auction-won-local-pings' }),
  /**
   * Read and planned in one step (lean-start): acme, capped, refuses the post (4xx) and its cap slot is given
   * back; bravo, uncapped, takes the lead without a cap step and accepts by postback.
   */
  async 'lean-start-waterfall'(h) {
    h.useConfig((e) => leadTestConfig(e, { withBravo: true, acmeDailyCap: 1000 }));
    h.acme.setBehavior(() => ({ httpStatus: 422 }));
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-lean-waterfall' });
      await h.waitForStatus(leadId, 'pending');
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { partnerId: 'bravo' }));
      await handle.result();
      return { 'lean-start-waterfall': firstRun(h, handle) };
    } finally {
      h.useConfig((e) => leadTestConfig(e));
      h.acme.setBehavior(() => ({}));
    }
  },
  /** inbound-ping in the lean-start shape: the plan comes with the lead's first read, then the local pings. */
  'lean-start-inbound-ping': playedAgain('inbound-ping', { 'inbound-ping': 'lean-start-inbound-ping' }),
  /** lean-start's later run: a chargeback after the accepted run completed reads the lead, then waits a timer. */
  async 'lean-start-returned'(h) {
    const { leadId, handle } = await h.submitLead({ clickId: 'clk-lean-returned' });
    await h.waitForStatus(leadId, 'pending');
    await handle.signal(postbackSignal, postbackFor(leadId, 'accepted', { payoutCents: 3000 }));
    await handle.result();
    const late = await h.signalWithStart(leadId, { postback: postbackFor(leadId, 'returned') });
    await late.handle.result();
    return { 'lean-start-accepted': firstRun(h, handle), 'lean-start-returned': late.handle };
  },
  // The release patch (decision 0020): one marker for the run's shape; an auction's pings in one local activity,
  // an inbound ping's in its first step.
  'release-waterfall': playedAgain('lean-start-waterfall', { 'lean-start-waterfall': 'release-waterfall' }),
  'release-returned': playedAgain('lean-start-returned', {
    'lean-start-accepted': 'release-accepted',
    'lean-start-returned': 'release-returned',
  }),
  'release-inbound-ping': playedAgain('inbound-ping', { 'inbound-ping': 'release-inbound-ping' }),
  'release-auction-won': playedAgain('auction-won', { 'auction-won': 'release-auction-won' }),
  'release-auction-multisell': playedAgain('auction-multisell', {
    'auction-multisell': 'release-auction-multisell',
  }),
  // The current release (decision 0025): a status step makes the source's first notification attempt itself.
  'release-2026-12-2-waterfall': playedAgain('lean-start-waterfall', {
    'lean-start-waterfall': 'release-2026-12-2-waterfall',
  }),
  'release-2026-12-2-returned': playedAgain('lean-start-returned', {
    'lean-start-accepted': 'release-2026-12-2-accepted',
    'lean-start-returned': 'release-2026-12-2-returned',
  }),
  'release-2026-12-2-expired': playedAgain('expired', { expired: 'release-2026-12-2-expired' }),
  'release-2026-12-2-inbound-ping': playedAgain('inbound-ping', {
    'inbound-ping': 'release-2026-12-2-inbound-ping',
  }),
  'release-2026-12-2-auction-won': playedAgain('auction-won', {
    'auction-won': 'release-2026-12-2-auction-won',
  }),
  'release-2026-12-2-auction-multisell': playedAgain('auction-multisell', {
    'auction-multisell': 'release-2026-12-2-auction-multisell',
  }),
  'release-2026-12-2-notification-exhausted': playedAgain('notification-exhausted', {
    'notification-exhausted': 'release-2026-12-2-notification-exhausted',
    'notification-replayed': 'release-2026-12-2-notification-replayed',
  }),
  /** The source is down past the notification's max duration, then an operator replays it (a new run). */
  async 'notification-exhausted'(h) {
    h.useConfig((e) =>
      leadTestConfig(e, { notify: { initialInterval: 100, maxInterval: 500, maxDuration: '2s' } }),
    );
    try {
      const { leadId, handle } = await h.submitLead({ clickId: 'clk-exhausted' });
      await h.waitForStatus(leadId, 'pending');
      h.source.failNext(1_000_000);
      await handle.signal(postbackSignal, postbackFor(leadId, 'accepted'));
      await handle.result();
      h.source.failNext(0);
      const replay = await h.signalWithStart(leadId, {
        replayNotification: { status: 'accepted', requestedAt: new Date().toISOString() },
      });
      await replay.handle.result();
      return { 'notification-exhausted': firstRun(h, handle), 'notification-replayed': replay.handle };
    } finally {
      h.source.failNext(0);
      h.useConfig((e) => leadTestConfig(e));
    }
  },
};

/** A shape recorded with the release patch (decision 0020): its one marker, whatever the path. */
function releaseShape(status: string, regular: string[]) {
  return { status, regular, patches: ['release-2026-12'] };
}

/** A shape recorded with the current release's patch (decision 0025). */
function currentShape(status: string, regular: string[]) {
  return { status, regular, patches: ['release-2026-12-2'] };
}

/**
 * Each history: the status its run ends with, and the regular activities it schedules: the calls to third parties, and the expiry's status
 * write (it races the postback, so its decision must be in the history first; decision 0008). Every other
 * MongoDB step is a local activity (a marker).
 */
const SHAPES: Record<string, { status: string; regular: string[]; patches?: string[] }> = {
  accepted: { status: 'accepted', regular: ['deliverLead', 'notifySource'] },
  rejected: { status: 'rejected', regular: ['deliverLead', 'notifySource'] },
  expired: { status: 'expired', regular: ['deliverLead', 'recordStatus'] },
  returned: { status: 'returned', regular: ['notifySource'] },
  'waterfall-then-notification-retry': {
    status: 'accepted',
    regular: ['deliverLead', 'deliverLead', 'notifySource'],
  },
  'waterfall-hold-accepted': { status: 'accepted', regular: ['deliverLead', 'deliverLead', 'notifySource'] },
  'notification-exhausted': { status: 'accepted', regular: ['deliverLead', 'notifySource'] },
  'notification-replayed': { status: 'accepted', regular: ['notifySource'] },
  'resumed-pending': { status: 'accepted', regular: ['notifySource'] },
  'allow-resale': { status: 'accepted', regular: ['deliverLead', 'deliverLead', 'notifySource'] },
  failed: { status: 'failed', regular: ['deliverLead'] },
  'accepted-on-delivery': { status: 'accepted', regular: ['deliverLead', 'notifySource'] },
  'late-rejection-after-expiry': { status: 'rejected', regular: ['notifySource'] },
  'auction-winner-refuses': {
    status: 'accepted',
    regular: ['pingPartner', 'pingPartner', 'deliverLead', 'deliverLead', 'notifySource'],
  },
  // Recorded after the first release: its new branch is a patch (decision 0009).
  'inbound-ping': {
    status: 'accepted',
    regular: ['pingPartner', 'pingPartner', 'deliverLead', 'notifySource'],
    patches: ['inbound-ping'],
  },
  'auction-won': {
    status: 'accepted',
    regular: ['pingPartner', 'pingPartner', 'deliverLead', 'notifySource'],
    patches: ['winning-bid-search-attribute'],
  },
  'auction-multisell': {
    status: 'accepted',
    regular: ['pingPartner', 'pingPartner', 'deliverLead', 'deliverLead', 'notifySource'],
    patches: ['auction-multisell', 'winning-bid-search-attribute'],
  },
  // Recorded after the pings became local activities (decision 0018): each ping a marker, not an activity.
  'inbound-ping-local-pings': {
    status: 'accepted',
    regular: ['deliverLead', 'notifySource'],
    patches: ['inbound-ping', 'local-pings', 'winning-bid-search-attribute'],
  },
  'auction-won-local-pings': {
    status: 'accepted',
    regular: ['deliverLead', 'notifySource'],
    patches: ['local-pings', 'winning-bid-search-attribute'],
  },
  // One read and plan, cap steps only for a capped partner (lean-start, decision 0019).
  'lean-start-waterfall': {
    status: 'accepted',
    regular: ['deliverLead', 'deliverLead', 'notifySource'],
    patches: ['lean-start'],
  },
  'lean-start-accepted': {
    status: 'accepted',
    regular: ['deliverLead', 'notifySource'],
    patches: ['lean-start'],
  },
  'lean-start-inbound-ping': {
    status: 'accepted',
    regular: ['deliverLead', 'notifySource'],
    patches: ['lean-start', 'inbound-ping', 'local-pings', 'winning-bid-search-attribute'],
  },
  'lean-start-returned': { status: 'returned', regular: ['notifySource'], patches: ['lean-start'] },
  // The release patch alone (decision 0020), whatever the path.
  'release-waterfall': releaseShape('accepted', ['deliverLead', 'deliverLead', 'notifySource']),
  'release-accepted': releaseShape('accepted', ['deliverLead', 'notifySource']),
  'release-returned': releaseShape('returned', ['notifySource']),
  'release-inbound-ping': releaseShape('accepted', ['deliverLead', 'notifySource']),
  'release-auction-won': releaseShape('accepted', ['deliverLead', 'notifySource']),
  'release-auction-multisell': releaseShape('accepted', ['deliverLead', 'deliverLead', 'notifySource']),
  // The current release (decision 0025): a notification the status step got through schedules no notifySource;
  // one it did not (the source down) does, and an operator's replay is always one.
  'release-2026-12-2-waterfall': currentShape('accepted', ['deliverLead', 'deliverLead']),
  'release-2026-12-2-accepted': currentShape('accepted', ['deliverLead']),
  'release-2026-12-2-returned': currentShape('returned', []),
  'release-2026-12-2-expired': currentShape('expired', ['deliverLead', 'recordStatus']),
  'release-2026-12-2-inbound-ping': currentShape('accepted', ['deliverLead']),
  'release-2026-12-2-auction-won': currentShape('accepted', ['deliverLead']),
  'release-2026-12-2-auction-multisell': currentShape('accepted', [
    'deliverLead',
    'deliverLead',
    'notifySource',
  ]),
  'release-2026-12-2-notification-exhausted': currentShape('accepted', ['deliverLead', 'notifySource']),
  'release-2026-12-2-notification-replayed': currentShape('accepted', ['notifySource']),
};

const EXPECTED_FILES = Object.keys(SHAPES)
  .map((name) => `${name}.json`)
  .sort();

type History = ReturnType<typeof historyFromJson>;

function committedHistory(name: string): History {
  return historyFromJson(fs.readFileSync(path.join(HISTORIES_DIR, `${name}.json`), 'utf8'));
}

/** The patch ids a history's markers record (the SDK's `core_patch` marker carries `{ id, deprecated }`). */
function patchesIn(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const marker = e.markerRecordedEventAttributes;
    const payload =
      marker?.markerName === 'core_patch' ? marker.details?.['patch-data']?.payloads?.[0] : undefined;
    return payload?.data
      ? [(JSON.parse(Buffer.from(payload.data).toString('utf8')) as { id: string }).id]
      : [];
  });
}

/** The status in the view the run returned (its completion event's result). */
function finalStatus(history: History): string | undefined {
  const data = (history.events ?? []).find((e) => e.workflowExecutionCompletedEventAttributes)
    ?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { status: string }).status : undefined;
}

function scheduledActivityTypes(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const name = e.activityTaskScheduledEventAttributes?.activityType?.name;
    return name ? [name] : [];
  });
}

async function recordHistories(names: string[]): Promise<void> {
  const unknown = names.filter((name) => !(name in SCENARIOS));
  if (unknown.length) throw new Error(`RECORD_HISTORIES: no scenario ${unknown.join(', ')}`);
  fs.mkdirSync(HISTORIES_DIR, { recursive: true });
  const h = await startWorkflowHarness((e) => leadTestConfig(e));
  try {
    for (const scenario of names.map((name) => SCENARIOS[name] as Scenario)) {
      for (const [name, run] of Object.entries(await scenario(h))) {
        // Failure stack traces carry this checkout's absolute path: not something to commit.
        const json = historyToJson(await run.fetchHistory())
          .split(REPO_ROOT)
          .join('<repo>');
        fs.writeFileSync(path.join(HISTORIES_DIR, `${name}.json`), json);
      }
    }
  } finally {
    await h.stop();
  }
}

beforeAll(async () => {
  quietTemporalRuntime();
  const record = process.env.RECORD_HISTORIES;
  if (record) await recordHistories(record.split(',').map((name) => name.trim()));
}, 120_000);

test('every committed lead workflow history replays with the current workflow code', async () => {
  const files = fs
    .readdirSync(HISTORIES_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort();
  expect(files).toEqual(EXPECTED_FILES);
  const histories = files.map((file) => ({
    workflowId: `replay-${path.basename(file, '.json')}`,
    history: committedHistory(path.basename(file, '.json')),
  }));
  for (const { history } of histories) expect(history.events?.length).toBeGreaterThan(5);

  const results: { workflowId: string; error?: string }[] = [];
  const replays = Worker.runReplayHistories(
    { workflowBundle: (await workflowBundle()).bundle, replayName: 'lead-replay' },
    histories,
  );
  for await (const r of replays)
    results.push({ workflowId: r.workflowId, error: r.error && `${r.error.name}: ${r.error.message}` });

  expect(results).toEqual(histories.map(({ workflowId }) => ({ workflowId, error: undefined })));
});

test('every committed history has the current shape: its patch markers only, its final status, its regular activities', () => {
  for (const [name, { status, regular, patches = [] }] of Object.entries(SHAPES)) {
    const history = committedHistory(name);
    expect({ name, patches: patchesIn(history) }).toEqual({ name, patches });
    expect({ name, status: finalStatus(history) }).toEqual({ name, status });
    expect({ name, regular: scheduledActivityTypes(history) }).toEqual({ name, regular });
  }
  // The chargeback's run reads the lead, and its first workflow task ends with a timer before the status write.
  const events = committedHistory('returned').events ?? [];
  const localActivity = (type: string) =>
    events.findIndex((e) => {
      const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
      return data ? Buffer.from(data).toString('utf8').includes(`"activity_type":"${type}"`) : false;
    });
  const timerFired = events.findIndex((e) => e.timerFiredEventAttributes);
  expect(localActivity('loadLead')).toBeGreaterThan(-1);
  expect(timerFired).toBeGreaterThan(localActivity('loadLead'));
  expect(localActivity('recordStatus')).toBeGreaterThan(timerFired);
});

test('an inbound ping with local pings answers from its first workflow task: the pings are markers, claimed first and stored together', () => {
  const events = committedHistory('inbound-ping-local-pings').events ?? [];
  const localActivities = events.flatMap((e) => {
    const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    const type = data && /"activity_type":"(\w+)"/.exec(Buffer.from(data).toString('utf8'))?.[1];
    return type ? [type] : [];
  });
  const pingSteps = ['claimPings', 'sendPing', 'recordPings'];
  expect(localActivities.filter((t) => pingSteps.includes(t))).toEqual([
    'claimPings',
    'sendPing',
    'sendPing',
    'recordPings',
  ]);
  const answered = events.findIndex((e) => e.workflowExecutionUpdateCompletedEventAttributes);
  expect(answered).toBeGreaterThan(-1);
  expect(events.slice(0, answered).filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
});

/** The local activities a history's markers record, in order. */
function localActivitiesIn(history: History): string[] {
  return (history.events ?? []).flatMap((e) => {
    const data = e.markerRecordedEventAttributes?.details?.data?.payloads?.[0]?.data;
    const type = data && /"activity_type":"(\w+)"/.exec(Buffer.from(data).toString('utf8'))?.[1];
    return type ? [type] : [];
  });
}

test('a release run pings its auction in one step: an inbound ping in its first step, an outbound auction in one local activity', () => {
  const inbound = committedHistory('release-inbound-ping');
  const events = inbound.events ?? [];
  const answered = events.findIndex((e) => e.workflowExecutionUpdateCompletedEventAttributes);
  expect(answered).toBeGreaterThan(-1);
  // Answered from the run's first workflow task, after one local activity: the read, the plan and the pings.
  expect(events.slice(0, answered).filter((e) => e.workflowTaskCompletedEventAttributes)).toHaveLength(1);
  expect(localActivitiesIn({ events: events.slice(0, answered) } as History)).toEqual(['startLead']);
  const auction = localActivitiesIn(committedHistory('release-auction-won'));
  expect(auction.filter((t) => /ping/i.test(t))).toEqual(['pingBidders']);
});
