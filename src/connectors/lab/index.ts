export { LAB_CREDENTIALS, LAB_DOMAIN, LAB_PREFIXES, type LabCredentials } from './credentials';
export { LAB_LOG_MAX_LINES, labLogLines } from './logs';
export { createLabRouter } from './router';
export { startLabServer, type LabServerOptions, type RunningLab } from './server';
export {
  LAB_FAULT_KINDS,
  LAB_SEED_ACCOUNTS,
  LAB_SEED_HOSTS,
  LAB_SLACK_CHANNELS,
  LAB_VENDORS,
  LabStore,
  type LabAccessRule,
  type LabAccount,
  type LabAccountStatus,
  type LabCall,
  type LabFaultInput,
  type LabFaultKind,
  type LabFaultRule,
  type LabGatewayRule,
  type LabHost,
  type LabLedgerEntry,
  type LabMachineAction,
  type LabMessage,
  type LabPagerDutyEvent,
  type LabStoreOptions,
  type LabVendor,
} from './store';
