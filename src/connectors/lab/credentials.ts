/**
 * Credentials of the built-in lab estate. They open nothing but the lab (a local process with fake hosts),
 * so they are fixed values rather than secrets; real vendor credentials only ever come from the environment.
 */
export interface LabCredentials {
  crowdstrike: { clientId: string; clientSecret: string };
  /** Azure AD app for the lab's Defender and Graph. */
  azure: { tenantId: string; clientId: string; clientSecret: string };
  okta: { apiToken: string };
  cloudflare: { apiToken: string; zoneId: string; accountId: string };
  /** The bot token Quell posts with, and the app's signing secret the lab signs interactions with. */
  slack: { botToken: string; signingSecret: string };
  /** The Atlassian account (e-mail and API token, basic auth) and the project tickets go to. */
  jira: { email: string; apiToken: string; project: string };
  /** The integration user of the lab's ServiceNow instance (basic auth) and its OAuth client. */
  servicenow: { user: string; password: string; clientId: string; clientSecret: string };
  /** Threat-intelligence API keys (VirusTotal's `x-apikey`, AbuseIPDB's `Key`). */
  virustotal: { apiKey: string };
  abuseipdb: { apiKey: string };
}

export const LAB_CREDENTIALS: LabCredentials = {
  crowdstrike: { clientId: 'lab-falcon-client', clientSecret: 'lab-falcon-secret' },
  azure: { tenantId: 'lab-tenant', clientId: 'lab-azure-app', clientSecret: 'lab-azure-secret' },
  okta: { apiToken: 'lab-okta-api-token' },
  cloudflare: { apiToken: 'lab-cloudflare-token', zoneId: 'lab-zone', accountId: 'lab-account' },
  slack: { botToken: 'xoxb-lab-bot-token', signingSecret: 'lab-slack-signing-secret-0123456789abcdef' },
  jira: { email: 'quell@lab.quell.test', apiToken: 'lab-jira-api-token', project: 'SOC' },
  servicenow: {
    user: 'quell.integration',
    password: 'lab-servicenow-password',
    clientId: 'lab-servicenow-client',
    clientSecret: 'lab-servicenow-client-secret',
  },
  virustotal: { apiKey: 'lab-virustotal-api-key' },
  abuseipdb: { apiKey: 'lab-abuseipdb-api-key' },
};

/** URL prefixes under which the lab speaks each vendor's contract. */
export const LAB_PREFIXES = {
  crowdstrike: '/crowdstrike',
  defender: '/defender',
  azuread: '/azuread',
  graph: '/graph',
  okta: '/okta',
  cloudflare: '/cloudflare',
  slack: '/slack',
  pagerduty: '/pagerduty',
  jira: '/jira',
  servicenow: '/servicenow',
  virustotal: '/virustotal',
  abuseipdb: '/abuseipdb',
} as const;

/** A vendor the lab speaks (the key of its prefix). */
export type LabVendor =
  | 'crowdstrike'
  | 'defender'
  | 'azuread'
  | 'graph'
  | 'okta'
  | 'cloudflare'
  | 'slack'
  | 'pagerduty'
  | 'jira'
  | 'servicenow'
  | 'virustotal'
  | 'abuseipdb';
export const LAB_VENDORS: readonly LabVendor[] = [
  'crowdstrike',
  'defender',
  'azuread',
  'graph',
  'okta',
  'cloudflare',
  'slack',
  'pagerduty',
  'jira',
  'servicenow',
  'virustotal',
  'abuseipdb',
];

/** The domain of lab accounts' logins and UPNs (`j.doe@lab.quell.test`). */
export const LAB_DOMAIN = 'lab.quell.test';
