import { z } from 'zod';
import type { AlertSeverity, NormalizedAlert } from '../domain/alert';
import {
  EntityCollector,
  RESOLVED_ID_SUFFIX,
  clip,
  entityString,
  epochMs,
  epochMsToIso,
  earlier,
  ipString,
  trimmedText,
  typeFromAttack,
} from './common';

/**
 * OCSF Detection Finding (class 2004, category 2 Findings), as security products emit it
 * ([ocsf/ocsf-schema events/findings/detection_finding.json]).
 *
 * Permissive: every object accepts the many fields OCSF and vendor extensions add. Strict about what Quell
 * uses: `class_uid` must be 2004, `activity_id` and `type_uid` must agree, `finding_info.uid`, `severity_id`,
 * `time` and `metadata.product` are required, and the entity fields read below must be well-formed. Every rule
 * is also in the JSON Schema (refinements carry theirs in `meta`), so the OpenAPI document accepts exactly this.
 */
const endpoint = z.looseObject({
  ip: ipString.optional(),
  hostname: entityString.optional(),
  domain: entityString.optional(),
});
const user = z.looseObject({ name: entityString.optional() });
const device = z.looseObject({
  hostname: entityString.optional(),
  name: entityString.optional(),
  ip: ipString.optional(),
});
const url = z.looseObject({ hostname: entityString.optional(), domain: entityString.optional() });
const dnsQuery = z.looseObject({ hostname: entityString.optional() });
/** OCSF hash algorithms Quell reads (`algorithm_id`): 1 MD5, 2 SHA-1, 3 SHA-256. Others (SHA-512, ssdeep...) are passed over. */
const HASH_DIGITS: Record<number, number> = { 1: 32, 2: 40, 3: 64 };
const HASH_OF_DIGITS = new Map(
  Object.values(HASH_DIGITS).map((digits) => [digits, new RegExp(`^[0-9a-fA-F]{${digits}}$`)]),
);
const fingerprint = z
  .looseObject({ algorithm_id: z.number().int().optional(), value: z.string().max(1_024) })
  .superRefine((h, ctx) => {
    const digits = h.algorithm_id === undefined ? undefined : HASH_DIGITS[h.algorithm_id];
    if (digits !== undefined && !HASH_OF_DIGITS.get(digits)!.test(h.value)) {
      ctx.addIssue({
        code: 'custom',
        path: ['value'],
        message: `expected ${digits} hexadecimal digits (algorithm_id ${h.algorithm_id})`,
      });
    }
  })
  .meta({
    anyOf: [
      ...Object.entries(HASH_DIGITS).map(([id, digits]) => ({
        properties: {
          algorithm_id: { const: Number(id) },
          value: { pattern: HASH_OF_DIGITS.get(digits)!.source },
        },
      })),
      // Other algorithms, or none named (absent, `properties` does not apply).
      { properties: { algorithm_id: { not: { enum: Object.keys(HASH_DIGITS).map(Number) } } } },
    ],
  });
const file = z.looseObject({ hashes: z.array(fingerprint).max(50).optional() });
const attackRef = z.looseObject({ uid: z.string().optional(), name: z.string().optional() });
const attack = z.looseObject({
  tactic: attackRef.optional(),
  /** OCSF 1.0 had a list of tactics. */
  tactics: z.array(attackRef).max(50).optional(),
  technique: attackRef.optional(),
  sub_technique: attackRef.optional(),
});
/** Observables read for entities, both at the top level and in each `evidences[]` entry. */
const observables = {
  device: device.optional(),
  user: user.optional(),
  actor: z.looseObject({ user: user.optional() }).optional(),
  src_endpoint: endpoint.optional(),
  dst_endpoint: endpoint.optional(),
  url: url.optional(),
  query: dnsQuery.optional(),
  file: file.optional(),
  process: z.looseObject({ file: file.optional() }).optional(),
};
const evidence = z.looseObject(observables);
const resource = z.looseObject({
  hostname: entityString.optional(),
  ip: ipString.optional(),
  owner: user.optional(),
});

/** OCSF Detection Finding activities. */
const ACTIVITY = { 0: 'Unknown', 1: 'Create', 2: 'Update', 3: 'Close', 99: 'Other' } as const;
const ACTIVITY_IDS = [0, 1, 2, 3, 99] as const;
const SEVERITY_IDS = [0, 1, 2, 3, 4, 5, 6, 99] as const;
const CLASS_UID = 2004;
const typeUidOf = (activityId: number) => CLASS_UID * 100 + activityId;

export const ocsfDetectionFindingSchema = z
  .looseObject({
    class_uid: z.literal(CLASS_UID, {
      error: 'expected 2004 (OCSF Detection Finding); other OCSF classes are not accepted',
    }),
    category_uid: z.literal(2, { error: 'expected 2 (Findings)' }).optional(),
    activity_id: z.literal(ACTIVITY_IDS, {
      error: 'expected 0 (Unknown), 1 (Create), 2 (Update), 3 (Close) or 99 (Other)',
    }),
    type_uid: z
      .number()
      .int()
      .optional()
      .describe('class_uid * 100 + activity_id: 200400, 200401, 200402, 200403 or 200499.'),
    severity_id: z.literal(SEVERITY_IDS, { error: 'expected 0-6 or 99 (OCSF severity_id)' }),
    time: epochMs,
    message: z.string().max(10_000).optional(),
    status_id: z.number().int().optional(),
    metadata: z.looseObject({
      product: z
        .looseObject({
          name: trimmedText(200).optional(),
          vendor_name: trimmedText(200).optional(),
        })
        .refine((p) => p.name !== undefined || p.vendor_name !== undefined, {
          message: 'metadata.product needs name or vendor_name (it names the alert source)',
        })
        .meta({ anyOf: [{ required: ['name'] }, { required: ['vendor_name'] }] }),
      uid: z.string().optional(),
    }),
    finding_info: z.looseObject({
      uid: trimmedText(400),
      title: trimmedText(5_000).optional(),
      desc: z.string().max(50_000).optional(),
      types: z.array(trimmedText(200)).max(50).optional(),
      analytic: z.looseObject({ name: trimmedText(1_000).optional(), uid: z.string().optional() }).optional(),
      attacks: z.array(attack).max(100).optional(),
      first_seen_time: epochMs.optional(),
    }),
    resources: z.array(resource).max(500).optional(),
    evidences: z.array(evidence).max(500).optional(),
    ...observables,
  })
  .superRefine((f, ctx) => {
    if (f.type_uid !== undefined && f.type_uid !== typeUidOf(f.activity_id)) {
      ctx.addIssue({
        code: 'custom',
        path: ['type_uid'],
        message: `expected ${typeUidOf(f.activity_id)} (class_uid * 100 + activity_id)`,
      });
    }
  })
  // The same rule for the OpenAPI document: one pair per activity.
  .meta({
    oneOf: ACTIVITY_IDS.map((a) => ({
      properties: { activity_id: { const: a }, type_uid: { const: typeUidOf(a) } },
    })),
  });
export type OcsfDetectionFinding = z.infer<typeof ocsfDetectionFindingSchema>;

/**
 * OCSF severity_id to alert severity. 6 Fatal is critical. 0 Unknown and 99 Other become medium: the source
 * did not grade it, so it is neither dropped as informational nor escalated to high; playbook severity rules
 * (asset tags, scope size) still raise it.
 */
export function ocsfSeverity(id: number): AlertSeverity {
  switch (id) {
    case 1:
      return 'informational';
    case 2:
      return 'low';
    case 3:
      return 'medium';
    case 4:
      return 'high';
    case 5:
    case 6:
      return 'critical';
    default:
      return 'medium';
  }
}

/** Loose OCSF detection: the body claims an OCSF class. Validation then says whether it is a Detection Finding. */
export function looksLikeOcsf(body: Record<string, unknown>): boolean {
  return typeof body.class_uid === 'number' && 'finding_info' in body;
}

/**
 * The MD5, SHA-1 and SHA-256 values of an OCSF file's fingerprints. A fingerprint without `algorithm_id` counts
 * when its value has the length of one of those; the collector drops anything else.
 */
function hashValues(
  hashes: readonly { algorithm_id?: number | undefined; value: string }[] | undefined,
): string[] {
  return (hashes ?? [])
    .filter((h) => h.algorithm_id === undefined || HASH_DIGITS[h.algorithm_id] !== undefined)
    .map((h) => h.value);
}

/**
 * - source: `metadata.product.name` (else `vendor_name`); ID: `finding_info.uid` (a Close activity or a
 *   Resolved status gets `#resolved` appended so it is recorded rather than deduplicated against the original).
 * - rule: `finding_info.analytic.name`, else the title. type: `finding_info.types[0]`, else derived from
 *   `finding_info.attacks` (MITRE technique/tactic), else unset.
 * - detectedAt: `time`; first seen: `finding_info.first_seen_time`.
 * - entities: hosts from `device`, `resources[].hostname`, `src_endpoint.hostname`; accounts from `user`,
 *   `actor.user`, `resources[].owner`; IPs from `device.ip`, `resources[].ip`, `src_endpoint.ip`,
 *   `dst_endpoint.ip`; domains from `dst_endpoint.hostname/domain`, `url.hostname/domain`, `query.hostname`;
 *   file hashes (MD5, SHA-1, SHA-256) from `file.hashes[]` and `process.file.hashes[]`; each read at the top
 *   level and in every `evidences[]` entry.
 * - resolved: activity 3 (Close) or status_id 4 (Resolved).
 */
export function normalizeOcsf(f: OcsfDetectionFinding, receivedAt: string): NormalizedAlert {
  const fi = f.finding_info;
  const source = f.metadata.product.name ?? f.metadata.product.vendor_name ?? 'ocsf';
  const resolved = f.activity_id === 3 || f.status_id === 4;
  const e = new EntityCollector();
  const scan = (ev: z.infer<typeof evidence>) => {
    e.add('hosts', ev.device?.hostname ?? ev.device?.name, ev.src_endpoint?.hostname);
    e.add('accounts', ev.user?.name, ev.actor?.user?.name);
    e.add('ips', ev.device?.ip, ev.src_endpoint?.ip, ev.dst_endpoint?.ip);
    e.add('domains', ev.dst_endpoint?.hostname, ev.dst_endpoint?.domain, ev.url?.hostname, ev.url?.domain);
    e.add('domains', ev.query?.hostname);
    for (const f of [ev.file, ev.process?.file]) e.add('files', hashValues(f?.hashes));
  };
  scan(f);
  for (const r of f.resources ?? []) {
    e.add('hosts', r.hostname);
    e.add('ips', r.ip);
    e.add('accounts', r.owner?.name);
  }
  for (const ev of f.evidences ?? []) scan(ev);

  const attacks = fi.attacks ?? [];
  const type =
    fi.types?.[0] ??
    typeFromAttack(
      attacks.flatMap((a) => [a.sub_technique?.uid, a.technique?.uid].filter((x): x is string => !!x)),
      attacks.flatMap((a) =>
        [a.tactic, ...(a.tactics ?? [])].flatMap((t) => [t?.uid, t?.name]).filter((x): x is string => !!x),
      ),
    );
  const detectedAt = epochMsToIso(f.time);
  const firstSeen = fi.first_seen_time !== undefined ? epochMsToIso(fi.first_seen_time) : undefined;
  const title = fi.title ?? f.message?.trim() ?? fi.analytic?.name ?? `OCSF detection finding ${fi.uid}`;
  const description = fi.desc ?? f.message;
  return {
    source: clip(source, 200),
    sourceAlertId: resolved ? `${fi.uid}${RESOLVED_ID_SUFFIX}` : fi.uid,
    format: 'ocsf',
    title: clip(title || `OCSF detection finding ${fi.uid}`, 1000),
    ruleName: clip(fi.analytic?.name ?? title, 500),
    ...(type ? { type: clip(type, 200) } : {}),
    severity: ocsfSeverity(f.severity_id),
    detectedAt,
    receivedAt,
    entities: e.result(),
    ...(description?.trim() ? { description: clip(description, 10_000) } : {}),
    labels: {
      'ocsf.activity': ACTIVITY[f.activity_id],
      ...(f.metadata.product.vendor_name ? { 'ocsf.vendor': clip(f.metadata.product.vendor_name, 200) } : {}),
    },
    ...(firstSeen ? { firstSeenAt: earlier(firstSeen, detectedAt) ?? firstSeen } : {}),
    ...(resolved ? { resolved: true } : {}),
  };
}
