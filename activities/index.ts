import os from 'node:os';
import { activityInfo, Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConnectorError, FAILURE_TYPES } from '../src/connectors/errors';
import { EVIDENCE_HEARTBEAT_EVERY_MS } from '../src/contracts';
import type { ActionContext, ApprovalNotice, Connectors, EffectResult } from '../src/connectors/types';
import type { Severity } from '../src/domain/alert';
import type { EvidenceSummary } from '../src/domain/incident';

export interface ActivityDeps {
  /** The connectors containment, evidence and notification go through (vendors or the built-in lab). */
  connectors?: Connectors;
  /** Names the collector in evidence custody records; defaults to the OS host name. */
  workerIdentity?: string;
}

/** Input of every containment and undo activity. `incidentId:actionId` is the idempotency key. */
export interface ActionInput {
  incidentId: string;
  actionId: string;
  target: string;
  comment: string;
}

export interface ActionOutcome extends EffectResult {
  /** The activity attempt that succeeded (1 = first try). */
  attempt: number;
}

export interface SnapshotLogsInput {
  incidentId: string;
  host: string;
  from: string;
  to: string;
  idempotencyKey: string;
}

export interface NotifyInput {
  route: string;
  incidentId: string;
  subject: string;
  text: string;
  severity: Severity;
  dedupKey: string;
  idempotencyKey: string;
  eventAction?: 'trigger' | 'resolve';
  /** The approval the notification asks people to decide (incidents recorded before it never send one). */
  approval?: ApprovalNotice;
}

/** Details attached to every failure the activities raise, so the workflow can count attempts. */
export interface FailureDetails {
  attempt: number;
  retryAfterMs?: number;
}

/**
 * Maps connector errors onto Temporal failures: retryable kinds stay retryable (rate limits wait for the
 * vendor's Retry-After), permanent kinds become non-retryable with a typed failure the workflow branches on.
 */
function toFailure(err: unknown): never {
  const attempt = activityInfo().attempt;
  if (err instanceof ConnectorError) {
    const details: FailureDetails = {
      attempt,
      ...(err.details.retryAfterMs !== undefined ? { retryAfterMs: err.details.retryAfterMs } : {}),
    };
    throw ApplicationFailure.create({
      type: FAILURE_TYPES[err.kind],
      message: err.message,
      nonRetryable: !err.retryable,
      details: [details],
      ...(err.kind === 'rate_limited' && err.details.retryAfterMs !== undefined
        ? { nextRetryDelay: err.details.retryAfterMs }
        : {}),
    });
  }
  if (err instanceof ApplicationFailure) throw err;
  // Anything else is a bug or an unexpected runtime fault: retry it, the policy bounds the attempts.
  throw ApplicationFailure.create({
    type: 'UnexpectedActivityError',
    message: err instanceof Error ? err.message : String(err),
    details: [{ attempt } satisfies FailureDetails],
  });
}

function requireConnectors(deps: ActivityDeps): Connectors {
  if (!deps.connectors) {
    throw ApplicationFailure.nonRetryable(
      'no connectors are configured on this worker',
      'WorkerMisconfigured',
    );
  }
  return deps.connectors;
}

/** Builds the activity implementations the worker registers, closed over their dependencies. */
export function createActivities(deps: ActivityDeps) {
  const collector = deps.workerIdentity ?? `quell-worker@${os.hostname()}`;

  const effect =
    (run: (c: Connectors, target: string, ctx: ActionContext) => Promise<EffectResult>) =>
    async (input: ActionInput): Promise<ActionOutcome> => {
      const connectors = requireConnectors(deps);
      const ctx: ActionContext = {
        idempotencyKey: `${input.incidentId}:${input.actionId}`,
        incidentId: input.incidentId,
        comment: input.comment,
      };
      try {
        const result = await run(connectors, input.target, ctx);
        return { ...result, attempt: activityInfo().attempt };
      } catch (err) {
        toFailure(err);
      }
    };

  const check =
    <S extends string>(read: (c: Connectors, target: string) => Promise<S>) =>
    async (input: { target: string }): Promise<{ state: S }> => {
      try {
        return { state: await read(requireConnectors(deps), input.target) };
      } catch (err) {
        toFailure(err);
      }
    };

  return {
    isolateHost: effect((c, host, ctx) => c.edr.isolateHost(host, ctx)),
    releaseHost: effect((c, host, ctx) => c.edr.releaseHost(host, ctx)),
    /** Disables the account, then revokes its sessions so existing tokens stop working too. */
    disableAccount: effect(async (c, account, ctx) => {
      const disabled = await c.identity.disableAccount(account, ctx);
      await c.identity.revokeSessions(account, { ...ctx, idempotencyKey: `${ctx.idempotencyKey}:sessions` });
      return disabled;
    }),
    enableAccount: effect((c, account, ctx) => c.identity.enableAccount(account, ctx)),
    blockIp: effect((c, ip, ctx) => c.firewall.blockIp(ip, ctx)),
    unblockIp: effect((c, ip, ctx) => c.firewall.unblockIp(ip, ctx)),
    blockDomain: effect((c, domain, ctx) => c.firewall.blockDomain(domain, ctx)),
    unblockDomain: effect((c, domain, ctx) => c.firewall.unblockDomain(domain, ctx)),

    checkHostState: check((c, host) => c.edr.getHostState(host)),
    checkAccountState: check((c, account) => c.identity.getAccountState(account)),
    checkIpState: check((c, ip) => c.firewall.getIpState(ip)),
    checkDomainState: check((c, domain) => c.firewall.getDomainState(domain)),

    /** Reads a host's logs for the window and stores them as evidence with a custody record. */
    async snapshotLogs(input: SnapshotLogsInput): Promise<EvidenceSummary> {
      const connectors = requireConnectors(deps);
      const attempt = activityInfo().attempt;
      // Beats while the work runs, so a slow log source or store never hits the heartbeat timeout, while a
      // snapshot that takes milliseconds (most of them) costs Temporal no heartbeat call at all.
      let stage = 'reading logs';
      const activity = Context.current();
      const beating = setInterval(() => activity.heartbeat(stage), EVIDENCE_HEARTBEAT_EVERY_MS);
      try {
        const logs = await connectors.logs.readHostLogs({ host: input.host, from: input.from, to: input.to });
        stage = 'storing evidence';
        const record = await connectors.evidence.put({
          incidentId: input.incidentId,
          name: `logs:${input.host}`,
          content: logs.content,
          collectedBy: `${collector} (activity snapshotLogs, attempt ${attempt})`,
          source: logs.source,
          subject: input.host,
          window: { from: input.from, to: input.to },
          idempotencyKey: input.idempotencyKey,
        });
        log.info('evidence collected', {
          incidentId: input.incidentId,
          host: input.host,
          sha256: record.sha256,
        });
        return {
          evidenceId: record.evidenceId,
          name: record.name,
          subject: record.subject,
          sha256: record.sha256,
          sizeBytes: record.sizeBytes,
          location: record.location,
          collectedBy: record.collectedBy,
          collectedAt: record.collectedAt,
          timeZone: record.timeZone,
          source: record.source,
          ...(record.window ? { window: record.window } : {}),
        };
      } catch (err) {
        toFailure(err);
      } finally {
        clearInterval(beating);
      }
    },

    async notifyStakeholders(input: NotifyInput): Promise<{ delivered: boolean; vendorRef?: string }> {
      const connectors = requireConnectors(deps);
      try {
        const result = await connectors.notifier.send({
          route: input.route,
          incidentId: input.incidentId,
          subject: input.subject,
          text: input.text,
          severity: input.severity,
          dedupKey: input.dedupKey,
          idempotencyKey: input.idempotencyKey,
          ...(input.eventAction ? { eventAction: input.eventAction } : {}),
          ...(input.approval ? { approval: input.approval } : {}),
        });
        return { delivered: result.delivered, ...(result.vendorRef ? { vendorRef: result.vendorRef } : {}) };
      } catch (err) {
        toFailure(err);
      }
    },
  };
}

export type IncidentActivities = ReturnType<typeof createActivities>;
