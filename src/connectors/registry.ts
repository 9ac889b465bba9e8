/**
 * The registered vendors: one table per capability, keyed by the value that selects the vendor
 * (`QUELL_EDR=crowdstrike`), and the notification channel types, keyed by a route entry's `type`. Each
 * entry is declared beside its connector; `config.ts` loops over these tables.
 */
import type { z } from 'zod';
import type { VendorDescriptor } from './descriptor';
import { crowdstrikeEdr, labEdr } from './edr/crowdstrike';
import { defenderEdr } from './edr/defender';
import { cloudflareFirewall, labFirewall } from './firewall/cloudflare';
import { nftablesFirewall } from './firewall/nftables';
import { graphIdentity } from './identity/graph';
import { labIdentity, oktaIdentity } from './identity/okta';
import { filesLogs } from './logs/files';
import { labLogs } from './logs/lab';
import { abuseipdbIntel, labAbuseIpdbIntel } from './intel/abuseipdb';
import type { ThreatIntelSource } from './intel/types';
import { labVirusTotalIntel, virustotalIntel } from './intel/virustotal';
import { emailChannel } from './notify/email';
import { pagerdutyChannel } from './notify/pagerduty';
import type { ChannelDescriptor, ResolvedChannelBase } from './notify/channel';
import { labChannel, slackChannel, slackWebhookChannel } from './notify/slack';
import { webhookChannel } from './notify/webhook';
import { jiraTickets, labTickets } from './tickets/jira';
import { noTickets } from './tickets/none';
import { serviceNowTickets } from './tickets/servicenow';
import type { TicketSystem } from './tickets/types';
import type { EdrConnector, FirewallConnector, IdentityConnector, LogSource } from './types';

/** A vendor of a capability whose connectors are `C`, whatever its variables and settings. */
export type AnyVendor<C> = VendorDescriptor<C, z.ZodRawShape, object>;
export type AnyChannel = ChannelDescriptor<z.ZodObject, ResolvedChannelBase>;

/** A capability: the variable that selects its vendor, its banner label, and its vendors (`lab` the default). */
export interface Capability<C> {
  selector: string;
  label: string;
  vendors: { lab: AnyVendor<C> } & Record<string, AnyVendor<C>>;
}

/** EDR vendors, by the value of QUELL_EDR. */
export const EDR_VENDORS = { lab: labEdr, crowdstrike: crowdstrikeEdr, defender: defenderEdr };
/** Identity providers, by the value of QUELL_IDP. */
export const IDENTITY_VENDORS = { lab: labIdentity, okta: oktaIdentity, graph: graphIdentity };
/** Firewalls, by the value of QUELL_FIREWALL. */
export const FIREWALL_VENDORS = {
  lab: labFirewall,
  cloudflare: cloudflareFirewall,
  nftables: nftablesFirewall,
};
/** Log sources, by the value of QUELL_LOGS. */
export const LOG_SOURCES = { lab: labLogs, files: filesLogs };

/** The selectable capabilities, in the order of the banner (and of the problems reported). */
export const CAPABILITIES = {
  edr: { selector: 'QUELL_EDR', label: 'EDR', vendors: EDR_VENDORS },
  identity: { selector: 'QUELL_IDP', label: 'Identity', vendors: IDENTITY_VENDORS },
  firewall: { selector: 'QUELL_FIREWALL', label: 'Firewall', vendors: FIREWALL_VENDORS },
  logs: { selector: 'QUELL_LOGS', label: 'Logs', vendors: LOG_SOURCES },
} satisfies {
  edr: Capability<EdrConnector>;
  identity: Capability<IdentityConnector>;
  firewall: Capability<FirewallConnector>;
  logs: Capability<LogSource>;
};

/**
 * Ticket systems, by the value of QUELL_TICKETS. Ticket sync is opt-in: `none` is the default and builds
 * nothing (`Connectors.tickets` stays unset); `lab` is the lab estate's Jira.
 */
export const TICKET_SYSTEMS = {
  none: noTickets,
  lab: labTickets,
  jira: jiraTickets,
  servicenow: serviceNowTickets,
} satisfies Record<string, AnyVendor<TicketSystem | undefined>>;

/** The optional capability: selected like the others, but off unless chosen. */
export const TICKETS = {
  selector: 'QUELL_TICKETS',
  label: 'Tickets',
  vendors: TICKET_SYSTEMS,
  default: 'none',
} as const;

/**
 * Threat intelligence, unlike the capabilities above, runs several sources at once: `QUELL_INTEL` is a
 * comma-separated list of `sources` keys, `lab` (the default: every source, in the lab estate) or `none`.
 */
export interface IntelCapability<K extends string> {
  selector: string;
  label: string;
  sources: Record<K, AnyVendor<ThreatIntelSource>>;
  /** Each source through the lab's contract, for `lab`. */
  lab: Record<K, AnyVendor<ThreatIntelSource>>;
}

/** Threat-intelligence sources, by their name in QUELL_INTEL. */
export const INTEL_SOURCES = { virustotal: virustotalIntel, abuseipdb: abuseipdbIntel };
/** The same sources in the lab estate (QUELL_INTEL=lab). */
export const LAB_INTEL_SOURCES = { virustotal: labVirusTotalIntel, abuseipdb: labAbuseIpdbIntel };
export const INTEL = {
  selector: 'QUELL_INTEL',
  label: 'Intel',
  sources: INTEL_SOURCES,
  lab: LAB_INTEL_SOURCES,
} satisfies IntelCapability<keyof typeof INTEL_SOURCES>;

/** Notification channel types by the `type` of a QUELL_NOTIFY_ROUTES entry. */
export const CHANNEL_TYPES = {
  lab: labChannel,
  'slack-webhook': slackWebhookChannel,
  slack: slackChannel,
  pagerduty: pagerdutyChannel,
  email: emailChannel,
  webhook: webhookChannel,
} satisfies Record<string, AnyChannel>;
