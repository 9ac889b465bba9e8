/** The report's JSON shape (`quell.incident-report/v1`). */
import type { IncidentEnrichment } from '../../domain/enrichment';
import type { EvidenceSummary, IncidentState, Phase, RefusedRequest } from '../../domain/incident';
import type { EventRef, TimelineEntry } from '../timeline';

export const REPORT_FORMAT = 'quell.incident-report/v1';

export interface ActionExecution {
  at: string;
  outcome: string;
  attempts: number;
  durationSeconds?: number;
  failure?: unknown;
  refs: EventRef[];
}

export interface IncidentReport {
  format: typeof REPORT_FORMAT;
  generatedAt: string;
  /** Where the state came from: the history (`history`) or the live workflow query (`query`). */
  stateSource: 'history' | 'query';
  incident: {
    incidentId: string;
    workflowId: string;
    title: string;
    severity: string;
    status: string;
    resolution?: string;
    phase: string;
    playbook: IncidentState['playbook'];
    correlationKey: string;
    openedAt: string;
    closedAt?: string;
    runs: number;
    reopened: number;
  };
  summary: string;
  scope: IncidentState['scope'];
  alerts: { count: number; deduplicated: number; sources: string[]; raisedBy: string[] };
  metrics: IncidentState['metrics'] & { formatted: Record<string, string> };
  milestones: IncidentState['milestones'];
  phases: { phase: Phase; enteredAt: string }[];
  actions: {
    actionId: string;
    kind: string;
    target: string;
    /** The file hashes it acted on, for an action that took them from the alerts. */
    files?: string[];
    purpose: string;
    policy: string;
    state: string;
    /** What the vendor's answer said beyond success (e.g. files it could not act on). */
    detail?: string;
    attempts: number;
    responderRetries: number;
    approvalId?: string;
    undoes?: string;
    compensatedBy?: string;
    reason?: string;
    lastError?: unknown;
    startedAt?: string;
    finishedAt?: string;
    resolutions: IncidentState['actions'][number]['resolutions'];
    executions: ActionExecution[];
  }[];
  approvals: {
    approvalId: string;
    action: string;
    target: string;
    policy: string;
    state: string;
    requestedAt: string;
    requestedBy: string[];
    why: string;
    decidedAt?: string;
    escalatedAt?: string;
    expiryOutcome?: string;
    deciders: {
      decider: string;
      roles: string[];
      decision: string;
      comment?: string;
      at: string;
      via: string;
    }[];
    refused: {
      decider: string;
      roles?: string[];
      decision: string;
      type: string;
      reason: string;
      at: string;
      via: string;
    }[];
  }[];
  /** Refused requests with no approval to be kept on (decisions on unknown approvals, refused closes). */
  refusedRequests: RefusedRequest[];
  evidence: (EvidenceSummary & { refs: EventRef[] })[];
  /** Threat-intelligence lookups of identification (only for incidents whose playbook enriches). */
  enrichment?: IncidentEnrichment;
  notifications: { total: number; failed: number; byRoute: Record<string, number> };
  /** The incident's ticket in the SOC's ticketing system (only for incidents whose playbook syncs tickets). */
  ticket?: IncidentState['ticket'];
  checklist: IncidentState['checklist'];
  notes: IncidentState['notes'];
  lessonsLearned: IncidentState['notes'];
  timeline: TimelineEntry[];
  history: { runs: { runId: string; status: string; events: number }[]; events: number };
}
