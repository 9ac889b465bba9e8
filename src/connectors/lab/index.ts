export {
  LAB_CREDENTIALS,
  LAB_DOMAIN,
  LAB_PREFIXES,
  LAB_VENDORS,
  type LabCredentials,
  type LabVendor,
} from './credentials';
export { LAB_LOG_MAX_LINES, labLogLines } from './logs';
export { createLabRouter } from './router';
export { LAB_SLACK_TEAM_ID, labSlackInteraction, type LabSlackClick } from './vendors/slack';
export { startLabServer, type LabServerOptions, type RunningLab } from './server';
export { LabStore, type LabStoreOptions } from './store';
export { LAB_SEED_ACCOUNTS, type LabAccount, type LabAccountStatus } from './estate/accounts';
export { type LabAccessRule, type LabGatewayRule } from './estate/blocklists';
export {
  LAB_FAULT_KINDS,
  type LabFaultInput,
  type LabFaultKind,
  type LabFaultRule,
} from './estate/fault-rules';
export { type LabCall, type LabLedgerEntry } from './estate/history';
export {
  LAB_ACTION_OUTCOMES,
  LAB_SEED_HOSTS,
  type LabActionOutcome,
  type LabHost,
  type LabMachineAction,
  type LabQuarantinedFile,
} from './estate/hosts';
export { type LabFalconIndicator, type LabScan } from './estate/falcon';
export { labInvestigationPackage } from './package';
export {
  LAB_SEED_INDICATORS,
  type LabAbuseIpdbView,
  type LabIndicator,
  type LabIndicatorInput,
  type LabIndicatorKind,
  type LabVirusTotalView,
} from './estate/indicators';
export {
  LAB_SLACK_CHANNELS,
  type LabMessage,
  type LabPagerDutyEvent,
  type LabSlackResponse,
} from './estate/inbox';
export {
  LAB_JIRA_STATUSES,
  LAB_JIRA_TRANSITIONS,
  type LabJiraComment,
  type LabJiraIssue,
  type LabServiceNowIncident,
  type LabServiceNowNote,
} from './estate/tickets';
