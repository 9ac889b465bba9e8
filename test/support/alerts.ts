import { randomInt, randomUUID } from 'node:crypto';
import type { GenericAlert } from '../../src/ingest/generic';

/** A generic-format alert with unique identity and entities, so each test gets its own incident. */
export function genericAlert(overrides: Partial<GenericAlert> = {}): GenericAlert {
  const tag = randomUUID().slice(0, 8);
  return {
    source: 'test-edr',
    id: `det-${tag}`,
    title: `Suspicious process on ws-${tag}`,
    rule: `test.rule.${tag}`,
    type: 'ransomware',
    severity: 'high',
    hosts: [`ws-${tag}`],
    accounts: [`user-${tag}`],
    ...overrides,
  };
}

/**
 * A medium C2 beaconing alert from an NDR for `host` (to a random documentation IP): what the c2-traffic playbook
 * matches, whose host isolation waits for two distinct approvers.
 */
export function c2Alert(host: string, overrides: Partial<GenericAlert> = {}): GenericAlert {
  return genericAlert({
    source: 'ndr-test',
    title: `C2 beaconing from ${host}`,
    rule: 'network.c2.beacon_to_rare_external_ip',
    type: 'c2',
    severity: 'medium',
    hosts: [host],
    accounts: [],
    ips: [`198.51.100.${randomInt(1, 254)}`],
    ...overrides,
  });
}
