import { z } from 'zod';
import type { NormalizedAlert } from '../domain/alert';
import { alertSeveritySchema } from './alert-schema';
import { entityString, fileHashString, trimmedText } from './common';

const entities = z.array(entityString).max(500).optional();

/**
 * Quell's documented generic alert format, for sources without a standard one.
 * Unknown fields are rejected so a typo (`hostz`) is an error rather than a silently empty scope.
 */
export const genericAlertSchema = z
  .object({
    source: trimmedText(200).describe('The sending system, e.g. "siem-eu-1".'),
    id: trimmedText(512).describe("The source's own alert ID; with `source` it makes redelivery idempotent."),
    title: trimmedText(1000),
    rule: trimmedText(500).optional().describe('Detection rule name; defaults to the title.'),
    type: trimmedText(200).optional().describe('Alert type, e.g. "ransomware", "c2", "account_compromise".'),
    severity: alertSeveritySchema,
    detectedAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('When the source detected it; defaults to receipt time.'),
    firstSeenAt: z.iso
      .datetime({ offset: true })
      .optional()
      .describe('When the detected activity began, if known (gives the incident its MTTD).'),
    description: z.string().max(10_000).optional(),
    hosts: entities,
    accounts: entities,
    ips: z
      .array(z.union([z.ipv4(), z.ipv6()]))
      .max(500)
      .optional(),
    domains: entities,
    files: z
      .array(fileHashString)
      .max(500)
      .optional()
      .describe('Hashes of the files the alert names (MD5, SHA-1 or SHA-256), e.g. a dropped implant.'),
    labels: z.record(z.string().max(200), z.string().max(2_000)).optional(),
  })
  .strict();
export type GenericAlert = z.infer<typeof genericAlertSchema>;

export function normalizeGeneric(alert: GenericAlert, receivedAt: string): NormalizedAlert {
  return {
    source: alert.source,
    sourceAlertId: alert.id,
    format: 'generic',
    title: alert.title,
    ruleName: alert.rule ?? alert.title,
    ...(alert.type ? { type: alert.type } : {}),
    severity: alert.severity,
    detectedAt: alert.detectedAt ?? receivedAt,
    ...(alert.firstSeenAt ? { firstSeenAt: alert.firstSeenAt } : {}),
    receivedAt,
    entities: {
      hosts: alert.hosts ?? [],
      accounts: alert.accounts ?? [],
      ips: alert.ips ?? [],
      domains: alert.domains ?? [],
      ...(alert.files?.length ? { files: [...new Set(alert.files)] } : {}),
    },
    ...(alert.description ? { description: alert.description } : {}),
    ...(alert.labels ? { labels: alert.labels } : {}),
  };
}
