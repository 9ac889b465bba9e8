import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import { labRouter } from './control';
import { LAB_PREFIXES } from './credentials';
import { gate } from './faults';
import type { LabStore } from './store';
import { abuseipdbRouter } from './vendors/abuseipdb';
import { azureAdRouter } from './vendors/azuread';
import { cloudflareRouter } from './vendors/cloudflare';
import { crowdstrikeRouter } from './vendors/crowdstrike';
import { defenderRouter } from './vendors/defender';
import { graphRouter } from './vendors/graph';
import { jiraRouter } from './vendors/jira';
import { oktaRouter } from './vendors/okta';
import { pagerdutyRouter } from './vendors/pagerduty';
import { serviceNowRouter } from './vendors/servicenow';
import { slackRouter } from './vendors/slack';
import { virustotalRouter } from './vendors/virustotal';

/**
 * An express Router speaking the lab estate: the vendors' HTTP contracts under their prefixes
 * (`/crowdstrike`, `/defender`, `/azuread`, `/graph`, `/okta`, `/cloudflare`, `/slack`, `/pagerduty`, `/jira`,
 * `/servicenow`, `/virustotal`, `/abuseipdb`) and the lab's own control plane under `/lab` (state, ledger, calls, faults, logs,
 * intelligence indicators). Mount it at the root of an app
 * (the prefixes are part of the contract the lab's connectors are configured with).
 *
 * Fault rules apply to vendor prefixes only; per vendor they answer in the vendor's own shape:
 * - '5xx': 503; '4xx': 400 (a malformed-request refusal; Slack's Web API: 200 `invalid_arguments`; AbuseIPDB:
 *   422, its answer to a refused parameter);
 * - '429': 429 with `Retry-After` (Okta: `X-Rate-Limit-Reset`, epoch seconds, instead; AbuseIPDB adds
 *   `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset`; VirusTotal's code is QuotaExceededError);
 * - 'timeout': no answer for `holdMs` (default 30 s), then 504;
 * - 'slow_response': the request takes effect, its answer is held for `holdMs` (default 5 s);
 * - 'in_progress': Defender's 400 "Action is already in progress", Cloudflare's duplicate-rule 400 (10009),
 *   others a 409;
 * - 'auth_expired': invalidates the vendor's issued OAuth tokens (CrowdStrike, Defender, Graph), so the
 *   request at hand gets a 401 and the connector must refresh; for static credentials (Okta, Cloudflare,
 *   Slack, PagerDuty, Jira, ServiceNow, VirusTotal, AbuseIPDB) the request at hand is refused as unauthenticated.
 */
export function createLabRouter(store: LabStore): Router {
  const router = express.Router();
  router.use(express.json({ limit: '1mb' }));
  router.use(express.urlencoded({ extended: false, limit: '256kb' }));
  router.use('/lab', labRouter(store));
  router.use(LAB_PREFIXES.crowdstrike, gate(store, 'crowdstrike'), crowdstrikeRouter(store));
  router.use(LAB_PREFIXES.azuread, gate(store, 'azuread'), azureAdRouter(store));
  router.use(LAB_PREFIXES.defender, gate(store, 'defender'), defenderRouter(store));
  router.use(LAB_PREFIXES.graph, gate(store, 'graph'), graphRouter(store));
  router.use(LAB_PREFIXES.okta, gate(store, 'okta'), oktaRouter(store));
  router.use(LAB_PREFIXES.cloudflare, gate(store, 'cloudflare'), cloudflareRouter(store));
  router.use(LAB_PREFIXES.slack, gate(store, 'slack'), slackRouter(store));
  router.use(LAB_PREFIXES.pagerduty, gate(store, 'pagerduty'), pagerdutyRouter(store));
  router.use(LAB_PREFIXES.jira, gate(store, 'jira'), jiraRouter(store));
  router.use(LAB_PREFIXES.servicenow, gate(store, 'servicenow'), serviceNowRouter(store));
  router.use(LAB_PREFIXES.virustotal, gate(store, 'virustotal'), virustotalRouter(store));
  router.use(LAB_PREFIXES.abuseipdb, gate(store, 'abuseipdb'), abuseipdbRouter(store));
  router.use((err: unknown, _req: Request, res: Response, next: NextFunction) => {
    if (res.headersSent) {
      next(err);
      return;
    }
    const status = (err as { status?: number }).status ?? 500;
    res
      .status(status >= 400 && status < 600 ? status : 500)
      .json({ error: (err as Error).message || 'error' });
  });
  return router;
}
