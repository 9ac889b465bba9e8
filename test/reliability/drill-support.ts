import { createConnectors } from '../../src/connectors/config';
import type { RunningLab } from '../../src/connectors/lab';
import type { Connectors } from '../../src/connectors/types';
import type { IncidentState } from '../../src/domain/incident';
import { testPlaybookYaml } from '../support/incident-harness';

/** Drill sizes: small in `npm test`, large with QUELL_DRILL_SIZE=large. */
export const LARGE = process.env.QUELL_DRILL_SIZE === 'large';
export const size = (small: number, large: number) => (LARGE ? large : small);

/** Everything contained at once, with retries generous enough to ride out a flaky vendor. */
export const drillPlaybook = testPlaybookYaml(`containment:
  isolate_host:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 200ms, backoffCoefficient: 1.5, maximumInterval: 2s, maximumAttempts: 30, totalTimeout: 3m, attemptTimeout: 4s }
  disable_account:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 200ms, backoffCoefficient: 1.5, maximumInterval: 2s, maximumAttempts: 30, totalTimeout: 3m, attemptTimeout: 4s }
  block_ip:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 200ms, backoffCoefficient: 1.5, maximumInterval: 2s, maximumAttempts: 30, totalTimeout: 3m, attemptTimeout: 4s }`);

/** The vendor connectors (CrowdStrike-, Okta-, Cloudflare-, Slack-style) pointed at a lab. */
export function labConnectors(lab: RunningLab, dataDir: string): Connectors {
  return createConnectors({ QUELL_HTTP_TIMEOUT_MS: '1000' }, { dataDir, labUrl: lab.url });
}

export const containmentDone = (s: IncidentState) =>
  s.phase !== 'identification' && s.phase !== 'containment' && s.actions.length > 0;

export function report(drill: string, lines: Record<string, unknown>): void {
  const body = Object.entries(lines)
    .map(([k, v]) => `  ${k}: ${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join('\n');
  process.stdout.write(`\n[drill ${drill}${LARGE ? ' (large)' : ''}]\n${body}\n`);
}

export { pool } from '../support/pool';
