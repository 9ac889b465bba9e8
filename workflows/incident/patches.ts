/**
 * Workflow changes made after histories existed. Each is taken behind `patched(id)`, so incidents recorded
 * before the change replay the path they took (test/histories/legacy/ proves it).
 */
export const PATCHES = {
  /** block_ip leaves internal addresses alone. */
  skipInternalIps: 'skip-internal-ips',
  /** Incident IDs take the tail of the first run ID (UUIDv7 heads are timestamps shared for hours). */
  incidentIdRunTail: 'incident-id-run-tail',
  /** Once recovery has begun, a correlated alert contains only the entities it adds. */
  reopenNewEntitiesOnly: 'reopen-new-entities-only',
  /** Hosts that join the scope after investigation began get their log snapshot too. */
  lateEntityEvidence: 'late-entity-evidence',
  /** What recovery waits for is recorded in the memo (hence in history), not only in the state. */
  recoveryWaitVisible: 'recovery-wait-visible',
  /** An approval that opens is announced to the playbook's responder routes (Slack renders Approve / Reject). */
  approvalNotice: 'approval-notice',
  /** The count of pending approvals is recorded in the memo, so the incident list shows it. */
  pendingApprovalsInMemo: 'pending-approvals-in-memo',
  /** Recovery waits for eradication's own actions to settle, not only for its checklist. */
  eradicationActionsSettle: 'eradication-actions-settle',
  /** The indicators later alerts add are looked up too (playbooks with `enrichment`). */
  enrichLaterAlerts: 'enrich-later-alerts',
} as const;
