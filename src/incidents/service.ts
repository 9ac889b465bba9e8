import { status as GrpcStatus } from '@grpc/grpc-js';
import {
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  isGrpcServiceError,
  type Client,
} from '@temporalio/client';
import type { NormalizedAlert } from '../domain/alert';
import {
  INCIDENT_WORKFLOW_TYPE,
  incidentStateQuery,
  incidentWorkflowId,
  ingestAlertUpdate,
  parseIncidentId,
  type AlertReceipt,
} from '../domain/contracts';
import type { IncidentState } from '../domain/incident';
import type { Logger } from '../logging';
import { correlationDigest, defaultCorrelationKey } from './correlation';
import { IncidentNotFoundError, TemporalUnavailableError } from './errors';

export interface IngestResult extends AlertReceipt {
  workflowId: string;
}

const UNAVAILABLE_CODES = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED]);

function isUnavailable(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && UNAVAILABLE_CODES.has(e.code)) return true;
    if (
      e instanceof Error &&
      /Connection refused|ECONNREFUSED|UNAVAILABLE|failed to connect/i.test(e.message)
    )
      return true;
  }
  return false;
}

function isResourceExhausted(err: unknown): boolean {
  for (let e: unknown = err; e; e = (e as { cause?: unknown }).cause) {
    if (isGrpcServiceError(e) && e.code === GrpcStatus.RESOURCE_EXHAUSTED) return true;
  }
  return false;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What the API and the CLI do with incidents, over the Temporal client. */
export class IncidentService {
  constructor(
    private readonly client: Client,
    private readonly taskQueue: string,
    private readonly logger?: Logger,
  ) {}

  /**
   * Records an alert: joins the open incident for its correlation key or opens one, atomically
   * (update-with-start), so a burst of the same alert never opens two incidents.
   * Thrown: {@link TemporalUnavailableError} when Temporal cannot be reached.
   */
  async ingestAlert(alert: NormalizedAlert): Promise<IngestResult> {
    const correlationKey = defaultCorrelationKey(alert);
    const workflowId = incidentWorkflowId(correlationDigest(correlationKey));
    const deadline = Date.now() + 30_000;
    for (let attempt = 1; ; attempt++) {
      const startWorkflowOperation = new WithStartWorkflowOperation(INCIDENT_WORKFLOW_TYPE, {
        workflowId,
        taskQueue: this.taskQueue,
        args: [{ correlationKey }],
        workflowIdConflictPolicy: 'USE_EXISTING',
      });
      try {
        const receipt = await this.client.workflow.executeUpdateWithStart(ingestAlertUpdate, {
          args: [alert],
          startWorkflowOperation,
        });
        return { ...receipt, workflowId };
      } catch (err) {
        if (isUnavailable(err)) {
          throw new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
        }
        // Too many updates in flight on one busy incident, or the incident is closing while this alert
        // arrived: both clear within moments, so wait and try again rather than lose the alert.
        const retryable =
          isResourceExhausted(err) ||
          (err instanceof WorkflowUpdateFailedError &&
            (err.cause as { type?: string } | undefined)?.type === 'IncidentClosing');
        if (!retryable || Date.now() > deadline) throw err;
        this.logger?.debug({ workflowId, attempt }, 'alert ingest contended; retrying');
        await sleep(Math.min(1_000, 20 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
      }
    }
  }

  /**
   * The incident's state, read through the workflow query.
   * Thrown: {@link IncidentNotFoundError}; {@link TemporalUnavailableError}.
   */
  async getState(incidentId: string): Promise<IncidentState> {
    const parsed = parseIncidentId(incidentId);
    if (!parsed) throw new IncidentNotFoundError(incidentId);
    try {
      const latest = await this.client.workflow.getHandle(parsed.workflowId).query(incidentStateQuery);
      if (latest.incidentId === incidentId) return latest;
      // A later incident reused this correlation key; find the older one's last run through visibility.
      for await (const wf of this.client.workflow.list({
        query: `WorkflowId = '${parsed.workflowId}' AND QuellIncidentId = '${incidentId}'`,
        pageSize: 1,
      })) {
        return await this.client.workflow.getHandle(wf.workflowId, wf.runId).query(incidentStateQuery);
      }
      throw new IncidentNotFoundError(incidentId);
    } catch (err) {
      if (err instanceof IncidentNotFoundError) throw err;
      if (err instanceof WorkflowNotFoundError) throw new IncidentNotFoundError(incidentId);
      if (isUnavailable(err))
        throw new TemporalUnavailableError(`Temporal is unreachable: ${(err as Error).message}`);
      throw err;
    }
  }
}
