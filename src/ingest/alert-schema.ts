import { z } from 'zod';
import {
  ALERT_FORMATS,
  ALERT_SEVERITIES,
  FILE_HASH,
  SEVERITIES,
  type NormalizedAlert,
} from '../domain/alert';
import { firstLayoutControl } from '../domain/untrusted-text';

/** Incident severity. */
export const severitySchema = z.enum(SEVERITIES);
/** An alert's own severity (may be informational). */
export const alertSeveritySchema = z.enum(ALERT_SEVERITIES);

/** Identifiers and entity names: printable text only (see ingest/common.ts for the per-format checks). */
const printable = (schema: z.ZodString) =>
  schema.superRefine((value, ctx) => {
    const control = firstLayoutControl(value);
    if (control)
      ctx.addIssue({
        code: 'custom',
        message: `contains the control character ${control}; use printable text`,
      });
  });

const entityList = z
  .array(printable(z.string().trim().min(1).max(512)))
  .max(500)
  .default([]);

export const alertEntitiesSchema = z.object({
  hosts: entityList,
  accounts: entityList,
  ips: entityList,
  domains: entityList,
  files: z.array(z.string().regex(FILE_HASH, 'expected an MD5, SHA-1 or SHA-256 hash')).max(500).optional(),
});

/** Checks a normalised alert at the edge (what normalizers produce) before it reaches a workflow. */
export const normalizedAlertSchema = z.object({
  // Ingest escapes control characters in identifiers (each at most 6 characters as \uXXXX).
  source: printable(
    z
      .string()
      .min(1)
      .max(6 * 200),
  ),
  sourceAlertId: printable(
    z
      .string()
      .min(1)
      .max(6 * 512),
  ),
  format: z.enum(ALERT_FORMATS),
  title: z.string().min(1).max(1000),
  ruleName: z.string().min(1).max(500),
  type: z.string().max(200).optional(),
  severity: alertSeveritySchema,
  detectedAt: z.iso.datetime({ offset: true }),
  firstSeenAt: z.iso.datetime({ offset: true }).optional(),
  receivedAt: z.iso.datetime({ offset: true }),
  entities: alertEntitiesSchema,
  description: z.string().max(10_000).optional(),
  labels: z.record(z.string(), z.string().max(2_000)).optional(),
  resolved: z.boolean().optional(),
});

// The schema and the plain type must describe the same thing; this fails to compile when they drift.
type Exact<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _sameShape: Exact<z.output<typeof normalizedAlertSchema>, NormalizedAlert> = true;
void _sameShape;
