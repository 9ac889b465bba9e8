import os from 'node:os';
import { activityInfo, Context, log } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { ConnectorError, FAILURE_TYPES } from '../src/connectors/errors';
import { EVIDENCE_HEARTBEAT_EVERY_MS } from '../src/contracts';
import { BUILTIN_CATALOGUE, type ActionCatalogue } from '../src/actions/catalogue';
import { idempotencyKeyOf, type ActionEffect, type AnyActionDefinition } from '../src/actions/define';
import type { ApprovalNotice, Connectors, EffectResult, EvidenceRecord } from '../src/connectors/types';
import type { Severity } from '../src/domain/alert';
import type { EnrichedIndicator, EnrichmentResult, IndicatorRef } from '../src/domain/enrichment';
import type { EvidenceSummary } from '../src/domain/incident';

export interface ActivityDeps {
  /** The connectors containment, evidence and notification go through (vendors or the built-in lab). */
  connectors?: Connectors;
  /** Names the collector in evidence custody records; defaults to the OS host name. */
  workerIdentity?: string;
  /** The actions this worker runs (each registers its activities); the built-in catalogue by default. */
  catalogue?: ActionCatalogue;
}

/**
 * Input of every catalogue action's activity (perform and undo). The action's idempotency key is built from
 * it (by default `incidentId:actionId`).
 */
export interface ActionInput {
  incidentId: string;
  actionId: string;
  target: string;
  comment: string;
  /** The playbook's `with:` parameters, when the action has any (absent in histories before the catalogue). */
  with?: Record<string, unknown>;
}

export interface ActionOutcome extends EffectResult {
  /** The activity attempt that succeeded (1 = first try). */
  attempt: number;
  /** Evidence the action collected, as stored with its custody record. */
  evidence?: EvidenceSummary;
}

/** A catalogue action's perform or undo activity, as the workflow calls it. */
export type CatalogueActionActivity = (input: ActionInput) => Promise<ActionOutcome>;
/** A catalogue action's state check. */
export type CatalogueCheckActivity = (input: { target: string }) => Promise<{ state: string }>;

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

export interface OpenTicketInput {
  incidentId: string;
  /** Untrusted (alert title): passed as data, the connector renders it inert. */
  title: string;
  severity: Severity;
  /** Untrusted plain text (host names, accounts). */
  description: string;
}

/** `configured: false`: the worker has no ticket system (`QUELL_TICKETS=none`), not a failure. */
export type OpenTicketOutcome =
  | { configured: false }
  | { configured: true; system: string; key: string; displayId: string; url?: string; created: boolean };

export interface CommentTicketInput {
  incidentId: string;
  key: string;
  /** Untrusted plain text. */
  text: string;
  /** Stable per event (`phase:containment:<at>`, `approval:apr-1`): a retry posts the comment once. */
  eventKey: string;
}

export interface CloseTicketInput {
  incidentId: string;
  key: string;
  resolution: 'resolved' | 'false_positive';
  /** Untrusted closing note. */
  text: string;
}

/** `configured: false` as for {@link OpenTicketOutcome}; otherwise whether the vendor already had it. */
export type TicketCallOutcome = { configured: false } | { configured: true; alreadyInState: boolean };

export interface EnrichIndicatorsInput {
  incidentId: string;
  indicators: IndicatorRef[];
  /** Lookups at once (the playbook's `enrichment.concurrency`). */
  concurrency: number;
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

function evidenceSummaryOf(record: EvidenceRecord): EvidenceSummary {
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

  const catalogue = deps.catalogue ?? BUILTIN_CATALOGUE;

  const storeEvidence = async (
    connectors: Connectors,
    input: ActionInput,
    effect: ActionEffect,
    collectedBy: string,
  ): Promise<EvidenceSummary | undefined> => {
    if (!effect.evidence) return undefined;
    const record = await connectors.evidence.put({
      incidentId: input.incidentId,
      name: effect.evidence.name,
      content: effect.evidence.content,
      collectedBy,
      source: effect.evidence.source,
      subject: input.target,
      idempotencyKey: `${input.incidentId}:${input.actionId}:evidence`,
    });
    return evidenceSummaryOf(record);
  };

  const actionActivity =
    (
      d: AnyActionDefinition,
      run: NonNullable<AnyActionDefinition['undo']>['perform'],
    ): CatalogueActionActivity =>
    async (input) => {
      const connectors = requireConnectors(deps);
      const attempt = activityInfo().attempt;
      const collectedBy = `${collector} (activity ${activityInfo().activityType}, attempt ${attempt})`;
      // The loader checked the playbook's parameters; this guards a worker whose catalogue differs from the API's.
      const params = d.input ? d.input.safeParse(input.with ?? {}) : { success: true as const, data: {} };
      if (!params.success) {
        throw ApplicationFailure.create({
          type: 'InvalidActionInput',
          message: `${d.name}: invalid parameters: ${params.error.issues.map((i) => `${i.path.join('.') || '(with)'}: ${i.message}`).join('; ')}`,
          nonRetryable: true,
          details: [{ attempt } satisfies FailureDetails],
        });
      }
      try {
        const effect = await run(connectors, {
          incidentId: input.incidentId,
          actionId: input.actionId,
          target: input.target,
          comment: input.comment,
          input: params.data as unknown,
          idempotencyKey: idempotencyKeyOf(d, input),
          collector: collectedBy,
        });
        const evidence = await storeEvidence(connectors, input, effect, collectedBy);
        return {
          alreadyInState: effect.alreadyInState,
          ...(effect.vendorRef ? { vendorRef: effect.vendorRef } : {}),
          ...(effect.detail ? { detail: effect.detail } : {}),
          attempt,
          ...(evidence ? { evidence } : {}),
        };
      } catch (err) {
        toFailure(err);
      }
    };

  const checkActivity =
    (read: NonNullable<AnyActionDefinition['check']>['read']): CatalogueCheckActivity =>
    async (input) => {
      try {
        return { state: await read(requireConnectors(deps), input.target) };
      } catch (err) {
        toFailure(err);
      }
    };

  // Each action registers its activities under the names it declares (histories name them).
  const catalogueActivities: Record<string, CatalogueActionActivity | CatalogueCheckActivity> = {};
  for (const d of catalogue.definitions) {
    catalogueActivities[d.activity] = actionActivity(d, (c, req) => d.perform(c, req));
    const { undo, check } = d;
    if (undo) catalogueActivities[undo.activity] = actionActivity(d, (c, req) => undo.perform(c, req));
    if (check) catalogueActivities[check.activity] = checkActivity((c, target) => check.read(c, target));
  }

  return {
    ...catalogueActivities,

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
        return evidenceSummaryOf(record);
      } catch (err) {
        toFailure(err);
      } finally {
        clearInterval(beating);
      }
    },

    /**
     * Looks each indicator up in every configured threat-intelligence source, `concurrency` at a time. Never
     * fails for a source's answer: a failing source (rate limit, outage, refused key) or an invalid indicator
     * lands in that indicator's `errors`. No intelligence configured: an empty result that says so.
     */
    async enrichIndicators(input: EnrichIndicatorsInput): Promise<EnrichmentResult> {
      const intel = requireConnectors(deps).intel;
      if (!intel) return { configured: false, sources: [], indicators: [] };
      const results: EnrichedIndicator[] = [];
      let next = 0;
      const worker = async () => {
        for (let i = next++; i < input.indicators.length; i = next++) {
          const { kind, indicator } = input.indicators[i]!;
          try {
            const r = await intel.lookup(kind, indicator);
            results[i] = { kind, indicator: r.indicator, findings: r.findings, errors: r.errors };
          } catch (err) {
            // Only an indicator no source would take (the fan-out validates before asking): record, go on.
            results[i] = {
              kind,
              indicator,
              findings: [],
              errors: [
                {
                  source: 'quell',
                  type: err instanceof ConnectorError ? err.kind : 'permanent',
                  message: err instanceof Error ? err.message : String(err),
                },
              ],
            };
          }
        }
      };
      const lanes = Math.max(1, Math.min(input.concurrency, input.indicators.length));
      await Promise.all(Array.from({ length: lanes }, worker));
      log.info('indicators enriched', { incidentId: input.incidentId, count: results.length });
      return { configured: true, sources: [...intel.sources], indicators: results };
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

    /**
     * Finds or opens the incident's ticket (one per incident ID, whatever the retries). Thrown: the
     * connector's failures (see `toFailure`); no ticket system on this worker is `configured: false`.
     */
    async openTicket(input: OpenTicketInput): Promise<OpenTicketOutcome> {
      const tickets = requireConnectors(deps).tickets;
      if (!tickets) return { configured: false };
      try {
        const opened = await tickets.openTicket(
          {
            incidentId: input.incidentId,
            title: input.title,
            severity: input.severity,
            description: input.description,
          },
          {
            incidentId: input.incidentId,
            idempotencyKey: `${input.incidentId}:ticket:open`,
            comment: `Quell incident ${input.incidentId}`,
          },
        );
        return {
          configured: true,
          system: tickets.vendor,
          key: opened.key,
          displayId: opened.displayId,
          ...(opened.url ? { url: opened.url } : {}),
          created: opened.created,
        };
      } catch (err) {
        toFailure(err);
      }
    },

    /** One comment (Jira) or work note (ServiceNow) per event key, however often it is retried. */
    async commentTicket(input: CommentTicketInput): Promise<TicketCallOutcome> {
      const tickets = requireConnectors(deps).tickets;
      if (!tickets) return { configured: false };
      try {
        const result = await tickets.addComment(input.key, input.text, {
          incidentId: input.incidentId,
          idempotencyKey: `${input.incidentId}:ticket:${input.eventKey}`,
          comment: `Quell incident ${input.incidentId}`,
        });
        return { configured: true, alreadyInState: result.alreadyInState };
      } catch (err) {
        toFailure(err);
      }
    },

    /** Resolves the ticket with a closing note; a ticket already done is `alreadyInState`. */
    async closeTicket(input: CloseTicketInput): Promise<TicketCallOutcome> {
      const tickets = requireConnectors(deps).tickets;
      if (!tickets) return { configured: false };
      try {
        const result = await tickets.closeTicket(
          input.key,
          { resolution: input.resolution, text: input.text },
          {
            incidentId: input.incidentId,
            idempotencyKey: `${input.incidentId}:ticket:close`,
            comment: `Quell incident ${input.incidentId}`,
          },
        );
        return { configured: true, alreadyInState: result.alreadyInState };
      } catch (err) {
        toFailure(err);
      }
    },
  };
}

/** The activities the workflow calls by their own names (evidence snapshots, notifications). */
export type IncidentActivities = Pick<
  ReturnType<typeof createActivities>,
  'snapshotLogs' | 'notifyStakeholders' | 'openTicket' | 'commentTicket' | 'closeTicket' | 'enrichIndicators'
>;
/** The catalogue's activities, by the names its actions declare (read from the specs the playbook carries). */
export type CatalogueActivities = Record<string, CatalogueActionActivity | CatalogueCheckActivity>;
