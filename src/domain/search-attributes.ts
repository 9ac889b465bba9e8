/**
 * Quell's search attributes: what Temporal indexes about each incident (for the incident list and visibility
 * queries). Registered on the embedded dev server at start; on a cluster once per namespace (see the README).
 * Workflow-safe. The contracts module (src/contracts.ts) hands them on with the rest of the names.
 */
import { defineSearchAttributeKey } from '@temporalio/common';

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
