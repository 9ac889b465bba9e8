import { createHash } from 'node:crypto';
import type { NormalizedAlert } from '../domain/alert';
import { alertIdentity } from '../domain/alert';

/** The entity an alert is mainly about: the first host, else account, else IP, else domain. */
export function primaryEntity(alert: NormalizedAlert): string | undefined {
  const e = alert.entities;
  const host = e.hosts[0];
  if (host) return `host:${host.toLowerCase()}`;
  const account = e.accounts[0];
  if (account) return `account:${account.toLowerCase()}`;
  const ip = e.ips[0];
  if (ip) return `ip:${ip}`;
  const domain = e.domains[0];
  if (domain) return `domain:${domain.toLowerCase()}`;
  return undefined;
}

/**
 * The default correlation key: the detection rule plus the primary entity, so repeated detections of the same
 * thing on the same asset join one open incident. An alert with no entity correlates only with itself.
 */
export function defaultCorrelationKey(alert: NormalizedAlert): string {
  return `${alert.ruleName}|${primaryEntity(alert) ?? `alert:${alertIdentity(alert)}`}`;
}

/** 16 hex digits of SHA-256: names the incident workflow for a correlation key. */
export function correlationDigest(correlationKey: string): string {
  return createHash('sha256').update(correlationKey).digest('hex').slice(0, 16);
}
