/**
 * The one place where API, CLI, worker, tests and workflows agree on names: the incident workflow's messages
 * (signals, updates, queries), its search attributes, the task queue, and how workflow and incident IDs are
 * built. Workflow-safe: no Node builtins, no I/O.
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineUpdate } from '@temporalio/workflow';
import type { NormalizedAlert } from './alert';
import type { IncidentState } from './incident';

export const DEFAULT_TASK_QUEUE = 'quell-incidents';
export const INCIDENT_WORKFLOW_TYPE = 'incidentWorkflow';

// ---- Search attributes (registered on the dev server at start; `quell temporal setup` for clusters) ----
export const SA_INCIDENT_ID = defineSearchAttributeKey('QuellIncidentId', 'KEYWORD');
export const SA_SEVERITY = defineSearchAttributeKey('QuellSeverity', 'KEYWORD');
export const SA_PHASE = defineSearchAttributeKey('QuellPhase', 'KEYWORD');
export const SA_STATUS = defineSearchAttributeKey('QuellStatus', 'KEYWORD');
export const SA_PLAYBOOK = defineSearchAttributeKey('QuellPlaybook', 'KEYWORD');
export const SA_CORRELATION_KEY = defineSearchAttributeKey('QuellCorrelationKey', 'KEYWORD');
export const SA_HOSTS = defineSearchAttributeKey('QuellHosts', 'KEYWORD_LIST');
export const SA_ACCOUNTS = defineSearchAttributeKey('QuellAccounts', 'KEYWORD_LIST');

export const QUELL_SEARCH_ATTRIBUTES = [
  SA_INCIDENT_ID,
  SA_SEVERITY,
  SA_PHASE,
  SA_STATUS,
  SA_PLAYBOOK,
  SA_CORRELATION_KEY,
  SA_HOSTS,
  SA_ACCOUNTS,
] as const;

/** `Name=Type` pairs in the form `temporal server start-dev --search-attribute` takes. */
export function searchAttributeFlags(): string[] {
  const cliType: Record<string, string> = {
    KEYWORD: 'Keyword',
    KEYWORD_LIST: 'KeywordList',
    TEXT: 'Text',
    INT: 'Int',
    DOUBLE: 'Double',
    BOOL: 'Bool',
    DATETIME: 'Datetime',
  };
  return QUELL_SEARCH_ATTRIBUTES.map((k) => `${k.name}=${cliType[k.type] ?? 'Keyword'}`);
}

// ---- IDs ----
const WORKFLOW_ID_PREFIX = 'quell-incident-';

/**
 * The workflow ID for a correlation key's digest. Alerts with the same correlation key land on the same
 * workflow ID, which is what makes update-with-start open exactly one incident for a burst.
 */
export function incidentWorkflowId(correlationDigest: string): string {
  return `${WORKFLOW_ID_PREFIX}${correlationDigest}`;
}

/**
 * An incident's ID: the correlation digest (which names the workflow) and the first six hex digits of the
 * incident's first run ID (which tells incidents apart when a later incident reuses a closed one's key).
 */
export function buildIncidentId(workflowId: string, firstExecutionRunId: string): string {
  const digest = workflowId.startsWith(WORKFLOW_ID_PREFIX)
    ? workflowId.slice(WORKFLOW_ID_PREFIX.length)
    : workflowId;
  return `INC-${digest}-${firstExecutionRunId.replace(/-/g, '').slice(0, 6)}`;
}

const INCIDENT_ID_PATTERN = /^INC-([0-9a-f]{16})-([0-9a-f]{6})$/;

/** The workflow ID an incident ID lives under, or undefined when the text is not an incident ID. */
export function parseIncidentId(incidentId: string): { workflowId: string; runTag: string } | undefined {
  const m = INCIDENT_ID_PATTERN.exec(incidentId);
  if (!m || !m[1] || !m[2]) return undefined;
  return { workflowId: incidentWorkflowId(m[1]), runTag: m[2] };
}

// ---- Messages ----
export interface AlertReceipt {
  incidentId: string;
  alertId: string;
  /** True when this alert's identity was already recorded on the incident (a redelivery). */
  deduplicated: boolean;
  alertCount: number;
}

/** Records an alert on the incident (opening it when the update starts the workflow). */
export const ingestAlertUpdate = defineUpdate<AlertReceipt, [NormalizedAlert]>('ingestAlert');
/** The incident's full state. */
export const incidentStateQuery = defineQuery<IncidentState>('incidentState');
