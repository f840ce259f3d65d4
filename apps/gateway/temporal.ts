// The gateway's line to Temporal: connects lazily and again after a failure, and bounds every call,
// so a Temporal outage turns into a quick "queued" answer instead of a hung request.
import {
  Client,
  Connection,
  WithStartWorkflowOperation,
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
} from '@temporalio/client';
import type { SignalDefinition } from '@temporalio/common';
import {
  LEAD_WORKFLOW_TYPE,
  leadWorkflowId,
  pingUpdate,
  postbackSignal,
  postPingedUpdate,
  replayNotificationSignal,
  leadStartAttributes,
  type LeadWorkflowInput,
  type PingAnswer,
  type PostbackSignal,
  type PostPinged,
  type ReplayNotificationSignal,
} from '../../shared/temporal';
import { explainConnectError, type TemporalConnectionOptions } from '../../shared/temporal-connection';

/** Where (address, TLS, API key: from `temporalTarget()` in production) and what to run. */
export interface TemporalClientOptions extends TemporalConnectionOptions {
  namespace: string;
  taskQueue: string;
  /** How long one call may take before the caller falls back to the outbox. */
  callTimeoutMs?: number;
}

export class TemporalClient {
  private pending?: Promise<Client>;
  private readonly callTimeoutMs: number;
  /** A call failed since the reconciler last looked: something may wait in an outbox. */
  private backlog = true;

  constructor(readonly options: TemporalClientOptions) {
    this.callTimeoutMs = options.callTimeoutMs ?? 3000;
  }

  client(): Promise<Client> {
    if (!this.pending) {
      const { namespace, taskQueue: _taskQueue, callTimeoutMs: _timeout, ...connection } = this.options;
      this.pending = Connection.connect({ ...connection, connectTimeout: this.callTimeoutMs })
        .then((conn) => new Client({ connection: conn, namespace }))
        .catch((err: unknown) => {
          this.pending = undefined;
          throw explainConnectError(err, { connection, namespace });
        });
    }
    return this.pending;
  }

  private async call<T>(fn: (client: Client) => Promise<T>, timeoutMs = this.callTimeoutMs): Promise<T> {
    try {
      const client = await this.client();
      return await client.connection.withDeadline(Date.now() + timeoutMs, () => fn(client));
    } catch (err) {
      this.backlog = true;
      throw err;
    }
  }

  /** Whether a call failed since the last `takeBacklog()` (true at start: an earlier process may have left some). */
  takeBacklog(): boolean {
    const had = this.backlog;
    this.backlog = false;
    return had;
  }

  markBacklog(): void {
    this.backlog = true;
  }

  /** Starts a lead's workflow; an already running or finished one with that id is left as it is. */
  async startLead(leadId: string, sourceId: string): Promise<void> {
    try {
      await this.call((c) =>
        c.workflow.start(LEAD_WORKFLOW_TYPE, {
          workflowId: leadWorkflowId(leadId),
          taskQueue: this.options.taskQueue,
          args: [{ leadId } satisfies LeadWorkflowInput],
          ...leadStartAttributes(sourceId),
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      throw err;
    }
  }

  /**
   * Starts a pinged lead's workflow and waits for its auction's answer in the same call (update-with-start), so
   * the auction is durable and visible in the Temporal UI. `waitMs` bounds the call: the auction's deadline and room.
   */
  async pingLead(leadId: string, sourceId: string, waitMs: number): Promise<PingAnswer> {
    const startWorkflowOperation = new WithStartWorkflowOperation(LEAD_WORKFLOW_TYPE, {
      workflowId: leadWorkflowId(leadId),
      taskQueue: this.options.taskQueue,
      args: [{ leadId, ping: true } satisfies LeadWorkflowInput],
      ...leadStartAttributes(sourceId),
      workflowIdConflictPolicy: 'USE_EXISTING',
    });
    return this.call(
      (c) => c.workflow.executeUpdateWithStart(pingUpdate, { startWorkflowOperation }),
      Math.max(waitMs, this.callTimeoutMs),
    );
  }

  /** Tells a pinged lead's run its full lead is stored; rejected (WorkflowUpdateFailedError) once lapsed. */
  async postPinged(leadId: string, post: PostPinged): Promise<void> {
    await this.call((c) =>
      c.workflow.getHandle(leadWorkflowId(leadId)).executeUpdate(postPingedUpdate, { args: [post] }),
    );
  }

  async signalPostback(leadId: string, signal: PostbackSignal): Promise<void> {
    await this.signalWithStart(leadId, postbackSignal, signal);
  }

  async replayNotification(leadId: string, signal: ReplayNotificationSignal): Promise<void> {
    await this.signalWithStart(leadId, replayNotificationSignal, signal);
  }

  /**
   * A running workflow gets the signal; a finished one gets a new run that applies it (a chargeback after
   * acceptance, a late answer after expiry, a notification replay). A plain signal first: it costs the server
   * about a fifth less than signal-with-start (decision 0005), and most leads are still running.
   */
  private async signalWithStart<T>(leadId: string, signal: SignalDefinition<[T]>, arg: T): Promise<void> {
    const workflowId = leadWorkflowId(leadId);
    await this.call(async (c) => {
      try {
        await c.workflow.getHandle(workflowId).signal(signal, arg);
        return;
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      await c.workflow.signalWithStart(LEAD_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: this.options.taskQueue,
        args: [{ leadId } satisfies LeadWorkflowInput],
        signal,
        signalArgs: [arg],
      });
    });
  }

  async ping(): Promise<boolean> {
    try {
      await this.call((c) => c.connection.workflowService.getSystemInfo({}));
      return true;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const pending = this.pending;
    this.pending = undefined;
    if (pending) await pending.then((c) => c.connection.close()).catch(() => undefined);
  }
}
