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
// The c2 playbook correlates by destination IP: alerts of one test process never share one by chance (a
// random address in one /24 did, a few times in a hundred runs). Three documentation ranges, from a random start.
const C2_RANGES = ['198.51.100', '203.0.113', '192.0.2'];
let c2Next = randomInt(0, 3 * 254);
function nextC2Ip(): string {
  const n = c2Next++ % (3 * 254);
  return `${C2_RANGES[Math.floor(n / 254)]}.${(n % 254) + 1}`;
}

export function c2Alert(host: string, overrides: Partial<GenericAlert> = {}): GenericAlert {
  return genericAlert({
    source: 'ndr-test',
    title: `C2 beaconing from ${host}`,
    rule: 'network.c2.beacon_to_rare_external_ip',
    type: 'c2',
    severity: 'medium',
    hosts: [host],
    accounts: [],
    ips: [nextC2Ip()],
    ...overrides,
  });
}
