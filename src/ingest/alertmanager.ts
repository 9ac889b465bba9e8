import { z } from 'zod';
import type { NormalizedAlert } from '../domain/alert';
import { firstLayoutControl } from '../domain/untrusted-text';
import {
  EntityCollector,
  RESOLVED_ID_SUFFIX,
  clip,
  isIpAddress,
  rfc3339,
  severityFromWord,
  stripPort,
  PRINTABLE_ENTITY,
  toIso,
  trimmedText,
} from './common';

/** Most alerts one webhook may carry (Alertmanager's `max_alerts`; the body size limit applies as well). */
export const MAX_BATCH_ALERTS = 1_000;

const labelName = z.string().max(200);
const labels = z
  .record(labelName, z.string().max(2_000))
  .refine((r) => Object.keys(r).length <= 200, { message: 'at most 200 labels' })
  .meta({ maxProperties: 200 });

const HOST_LABELS = ['host', 'hostname', 'node', 'nodename'] as const;
const ACCOUNT_LABELS = ['user', 'username', 'account'] as const;
const IP_LABELS = ['ip', 'source_ip', 'src_ip', 'destination_ip', 'dst_ip'] as const;
const DOMAIN_LABELS = ['domain', 'dns_domain'] as const;
/** Read as file hashes when they hold an MD5, SHA-1 or SHA-256 (labels are free text: anything else is ignored). */
const HASH_LABELS = ['sha256', 'sha1', 'md5', 'file_hash', 'hash'] as const;
const entityLabel = z
  .string()
  .max(2_000)
  .regex(PRINTABLE_ENTITY, {
    error: (issue) =>
      `contains the control character ${firstLayoutControl(String(issue.input)) ?? '(unknown)'}; entity names must be printable text`,
  });
/** Labels an alert's entities are read from (`instance` too). */
const ENTITY_LABELS: readonly string[] = [
  'instance',
  ...HOST_LABELS,
  ...ACCOUNT_LABELS,
  ...IP_LABELS,
  ...DOMAIN_LABELS,
];

const alertSchema = z.looseObject({
  status: z.enum(['firing', 'resolved'], { error: 'expected "firing" or "resolved"' }),
  labels: z
    .object({
      alertname: trimmedText(500),
      // The labels entities are read from: printable text only, as every entity name.
      ...Object.fromEntries(ENTITY_LABELS.map((name) => [name, entityLabel.optional()])),
    })
    .catchall(z.string().max(2_000))
    .refine((r) => Object.keys(r).length <= 200, { message: 'at most 200 labels' })
    .meta({ maxProperties: 200 }),
  annotations: z.record(labelName, z.string().max(50_000)).optional(),
  startsAt: rfc3339,
  endsAt: rfc3339.optional(),
  generatorURL: z.string().max(4_000).optional(),
  fingerprint: trimmedText(200),
});

/**
 * Prometheus Alertmanager webhook payload, version "4": one notification carrying a group of alerts.
 * Permissive about fields Alertmanager may add; strict about `version`, `receiver` and, for each alert,
 * `status`, `labels.alertname`, `startsAt` and `fingerprint`.
 */
export const alertmanagerWebhookSchema = z.looseObject({
  version: z.literal('4', { error: 'expected "4" (Alertmanager webhook version)' }),
  receiver: trimmedText(150),
  status: z.enum(['firing', 'resolved'], { error: 'expected "firing" or "resolved"' }),
  groupKey: z.string().max(10_000).optional(),
  truncatedAlerts: z.number().int().min(0).optional(),
  groupLabels: labels.optional(),
  commonLabels: labels.optional(),
  commonAnnotations: z.record(labelName, z.string().max(50_000)).optional(),
  externalURL: z.string().max(4_000).optional(),
  alerts: z
    .array(alertSchema)
    .min(1, 'a webhook carries at least one alert')
    .max(MAX_BATCH_ALERTS, `at most ${MAX_BATCH_ALERTS} alerts per webhook`),
});
export type AlertmanagerWebhook = z.infer<typeof alertmanagerWebhookSchema>;

/** Loose detection: `version` and an `alerts` array (validation then checks the version is "4"). */
export function looksLikeAlertmanager(body: Record<string, unknown>): boolean {
  return 'version' in body && Array.isArray(body.alerts) && ('receiver' in body || 'groupKey' in body);
}

const entityOk = (v: string | undefined): v is string =>
  v !== undefined && v.trim().length > 0 && v.length <= 512;

/**
 * One normalized alert per entry of `alerts[]`:
 * - source: `alertmanager/<receiver>` (the same on every replica of an HA pair, so replicas deduplicate).
 * - ID: `<fingerprint>@<startsAt>`: the same alert firing again later is a new alert; a redelivery is not. A
 *   resolved notification gets `#resolved` appended, so it is recorded instead of deduplicated.
 * - rule: `labels.alertname`; title: `annotations.summary`, else `annotations.title`, else the alert name;
 *   description: `annotations.description`, else `annotations.message`.
 * - type: `labels.type`, else `labels.alert_type`.
 * - severity: `labels.severity` by word (critical/page -> critical, high/error -> high, warning -> medium,
 *   low -> low, info/none -> informational); missing or unrecognised -> medium.
 * - detectedAt and first seen: `startsAt`.
 * - entities: hosts from `instance` (port removed), `host`, `hostname`, `node`, `nodename`; accounts from
 *   `user`, `username`, `account`; IPs from `ip`, `source_ip`, `src_ip`, `destination_ip`, `dst_ip` (values that
 *   are not addresses are ignored: labels are free text); domains from `domain`, `dns_domain`; file hashes
 *   from `sha256`, `sha1`, `md5`, `file_hash`, `hash` (values that are not MD5/SHA-1/SHA-256 are ignored).
 * - labels: the alert's labels.
 */
export function normalizeAlertmanager(hook: AlertmanagerWebhook, receivedAt: string): NormalizedAlert[] {
  const source = clip(`alertmanager/${hook.receiver}`, 200);
  return hook.alerts.map((a) => {
    const l: Record<string, string | undefined> = a.labels;
    const ann: Record<string, string | undefined> = a.annotations ?? {};
    const startsAt = toIso(a.startsAt);
    const resolved = a.status === 'resolved';
    const e = new EntityCollector();
    if (entityOk(l.instance)) e.add('hosts', stripPort(l.instance));
    e.add('hosts', HOST_LABELS.map((k) => l[k]).filter(entityOk));
    e.add('accounts', ACCOUNT_LABELS.map((k) => l[k]).filter(entityOk));
    e.add(
      'ips',
      IP_LABELS.map((k) => l[k]?.trim()).filter((v): v is string => entityOk(v) && isIpAddress(v)),
    );
    e.add('domains', DOMAIN_LABELS.map((k) => l[k]).filter(entityOk));
    e.add(
      'files',
      HASH_LABELS.map((k) => l[k]),
    );
    const title = ann.summary?.trim() || ann.title?.trim() || a.labels.alertname;
    const description = ann.description ?? ann.message;
    const type = l.type?.trim() || l.alert_type?.trim();
    return {
      source,
      sourceAlertId: clip(`${a.fingerprint}@${startsAt}${resolved ? RESOLVED_ID_SUFFIX : ''}`, 512),
      format: 'alertmanager',
      title: clip(title, 1000),
      ruleName: clip(a.labels.alertname, 500),
      ...(type ? { type: clip(type, 200) } : {}),
      severity: severityFromWord(l.severity) ?? 'medium',
      detectedAt: startsAt,
      receivedAt,
      entities: e.result(),
      ...(description?.trim() ? { description: clip(description, 10_000) } : {}),
      labels: { ...a.labels },
      firstSeenAt: startsAt,
      ...(resolved ? { resolved: true } : {}),
    } satisfies NormalizedAlert;
  });
}
