import { randomUUID } from 'node:crypto';
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
