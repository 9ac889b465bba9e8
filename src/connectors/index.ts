/** Connectors: vendor implementations of the capability interfaces, the lab estate, and their selection. */
export * from './errors';
export type * from './types';
export {
  ConfigError,
  DEFAULT_LAB_ROUTES,
  buildConnectors,
  buildThreatIntel,
  connectorsSummary,
  createConnectors,
  describeConnectors,
  planConnectors,
  resolveConnectorsConfig,
  type ConnectorsOptions,
  type ConnectorsPlan,
  type ResolvedChannel,
  type ResolvedConnectorsConfig,
  type ResolvedIntelConfig,
  type ResolvedIntelSource,
} from './config';
export { assertAllowedUrl, isAllowedUrl, parseRetryAfter, type AllowList } from './http';
export { CrowdStrikeEdr } from './edr/crowdstrike';
export { DefenderEdr } from './edr/defender';
export { OktaIdentity } from './identity/okta';
export { GraphIdentity } from './identity/graph';
export { CloudflareFirewall } from './firewall/cloudflare';
export { NftablesFirewall } from './firewall/nftables';
export { FileLogSource } from './logs/files';
export { LabLogSource } from './logs/lab';
export { FilesystemEvidenceStore } from './evidence/filesystem';
export { NotificationRouter } from './notify/router';
export { SlackWebApiChannel, SlackWebhookChannel } from './notify/slack';
export { PagerDutyChannel } from './notify/pagerduty';
export { EmailChannel } from './notify/email';
export { SignedWebhookChannel, signQuellPayload, verifyQuellSignature } from './notify/webhook';
export type { NotificationChannel } from './notify/channel';
export { JiraTickets, jiraIncidentLabel } from './tickets/jira';
export { ServiceNowTickets, serviceNowCorrelationId } from './tickets/servicenow';
export { adfFromText, commentRef, serviceNowText } from './tickets/text';
export type * from './intel/types';
export { INDICATOR_KINDS } from './intel/types';
export { isIndicator, normalizeIndicator } from './intel/indicators';
export { VirusTotalIntel } from './intel/virustotal';
export { AbuseIpdbIntel } from './intel/abuseipdb';
export { CachedIntelSource, IntelCache, type IntelCacheOptions, type IntelCacheStats } from './intel/cache';
export { ThreatIntelFanOut, createThreatIntel } from './intel/fanout';
export * from './lab';
