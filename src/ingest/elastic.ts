import { z } from 'zod';
import type { AlertSeverity, NormalizedAlert } from '../domain/alert';
import {
  EntityCollector,
  RESOLVED_ID_SUFFIX,
  asArray,
  clip,
  earlier,
  entityString,
  hashOf,
  ipString,
  oneOrMany,
  rfc3339,
  toIso,
  trimmedText,
  typeFromAttack,
} from './common';

/** Every dot-boundary prefix of the wanted names ("a.b.c" -> "a", "a.b", "a.b.c"). */
function prefixesOf(names: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const name of names) {
    const parts = name.split('.');
    for (let i = 1; i <= parts.length; i++) out.add(parts.slice(0, i).join('.'));
  }
  return out;
}

/**
 * Reads a document the way Elasticsearch does: `{"kibana.alert.uuid": x}`, `{"kibana": {"alert": {"uuid": x}}}`
 * and any mix are the same field, and arrays are transparent (an array of objects contributes every element's
 * values). Returns each dotted field's values in document order. Iterative, so nesting depth cannot overflow.
 * With `wanted`, only subtrees that can lead to those fields are visited (and path strings stay short).
 */
export function flattenFields(doc: unknown, wanted?: Iterable<string>): Map<string, unknown[]> {
  const allowed = wanted ? prefixesOf(wanted) : undefined;
  const out = new Map<string, unknown[]>();
  const stack: { prefix: string; value: unknown }[] = [{ prefix: '', value: doc }];
  while (stack.length > 0) {
    const { prefix, value } = stack.pop()!;
    if (Array.isArray(value)) {
      for (let i = value.length - 1; i >= 0; i--) stack.push({ prefix, value: value[i] as unknown });
    } else if (value !== null && typeof value === 'object') {
      const entries = Object.entries(value as Record<string, unknown>);
      for (let i = entries.length - 1; i >= 0; i--) {
        const [k, v] = entries[i]!;
        const path = prefix ? `${prefix}.${k}` : k;
        if (allowed && !allowed.has(path)) continue;
        stack.push({ prefix: path, value: v });
      }
    } else if (prefix && value !== null && value !== undefined) {
      const list = out.get(prefix);
      if (list) list.push(value);
      else out.set(prefix, [value]);
    }
  }
  return out;
}

/**
 * Elasticsearch fields hold one value or several (an array, or the same field in two layouts). Every value is
 * checked; a field Quell reads as one value takes the first.
 */
function firstOf<T extends z.ZodType>(item: T) {
  const several = z.array(item).min(1).max(500);
  return z.unknown().transform((value, ctx): z.output<T> => {
    // One value is checked as itself, so its issues name the field rather than an array index.
    const r = Array.isArray(value) ? several.safeParse(value) : item.safeParse(value);
    if (!r.success) {
      for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
      return z.NEVER;
    }
    return (Array.isArray(value) ? (r.data as unknown[])[0] : r.data) as z.output<T>;
  });
}

/** The Elastic fields Quell reads as one value, by their dotted ECS / Kibana names (documents may nest them or not). */
const SINGLE_VALUED = {
  // Required (checked below, so the JSON Schema does not claim the dotted layout is the only one).
  'kibana.alert.uuid': trimmedText(400),
  'kibana.alert.rule.name': trimmedText(1_000),
  'kibana.alert.rule.rule_id': z.string().max(400),
  'kibana.alert.rule.description': z.string().max(50_000),
  'kibana.alert.reason': z.string().max(50_000),
  'kibana.alert.severity': z.enum(['low', 'medium', 'high', 'critical'], {
    error: 'expected low, medium, high or critical',
  }),
  'kibana.alert.risk_score': z.number().min(0).max(100),
  'kibana.alert.workflow_status': z.string().max(100),
  'kibana.alert.original_time': rfc3339,
  '@timestamp': rfc3339,
};
const text = z.string().max(1_000);
/** ECS file hashes: the file, the process image and a loaded library (each the algorithm its name says). */
const HASH_FIELDS = {
  'file.hash.md5': hashOf('md5'),
  'file.hash.sha1': hashOf('sha1'),
  'file.hash.sha256': hashOf('sha256'),
  'process.hash.md5': hashOf('md5'),
  'process.hash.sha1': hashOf('sha1'),
  'process.hash.sha256': hashOf('sha256'),
  'dll.hash.md5': hashOf('md5'),
  'dll.hash.sha1': hashOf('sha1'),
  'dll.hash.sha256': hashOf('sha256'),
};
const HASH_FIELD_NAMES = Object.keys(HASH_FIELDS) as (keyof typeof HASH_FIELDS)[];
/** The fields Quell reads with all their values. */
const MULTI_VALUED = {
  'kibana.alert.rule.tags': text,
  'kibana.alert.rule.threat.tactic.id': text,
  'kibana.alert.rule.threat.tactic.name': text,
  'kibana.alert.rule.threat.technique.id': text,
  'kibana.alert.rule.threat.technique.subtechnique.id': text,
  'threat.tactic.id': text,
  'threat.tactic.name': text,
  'threat.technique.id': text,
  'threat.technique.subtechnique.id': text,
  'host.name': entityString,
  'host.hostname': entityString,
  'user.name': entityString,
  'source.ip': ipString,
  'destination.ip': ipString,
  'destination.domain': entityString,
  'dns.question.name': entityString,
  'url.domain': entityString,
  ...HASH_FIELDS,
};
const FIELD_ITEMS: Record<string, z.ZodType> = { ...SINGLE_VALUED, ...MULTI_VALUED };

const fieldShape = {
  'kibana.alert.uuid': firstOf(SINGLE_VALUED['kibana.alert.uuid']).optional(),
  'kibana.alert.rule.name': firstOf(SINGLE_VALUED['kibana.alert.rule.name']).optional(),
  'kibana.alert.rule.rule_id': firstOf(SINGLE_VALUED['kibana.alert.rule.rule_id']).optional(),
  'kibana.alert.rule.description': firstOf(SINGLE_VALUED['kibana.alert.rule.description']).optional(),
  'kibana.alert.reason': firstOf(SINGLE_VALUED['kibana.alert.reason']).optional(),
  'kibana.alert.severity': firstOf(SINGLE_VALUED['kibana.alert.severity']).optional(),
  'kibana.alert.risk_score': firstOf(SINGLE_VALUED['kibana.alert.risk_score']).optional(),
  'kibana.alert.workflow_status': firstOf(SINGLE_VALUED['kibana.alert.workflow_status']).optional(),
  'kibana.alert.original_time': firstOf(SINGLE_VALUED['kibana.alert.original_time']).optional(),
  '@timestamp': firstOf(SINGLE_VALUED['@timestamp']).optional(),
  'kibana.alert.rule.tags': oneOrMany(MULTI_VALUED['kibana.alert.rule.tags']).optional(),
  'kibana.alert.rule.threat.tactic.id': oneOrMany(
    MULTI_VALUED['kibana.alert.rule.threat.tactic.id'],
  ).optional(),
  'kibana.alert.rule.threat.tactic.name': oneOrMany(
    MULTI_VALUED['kibana.alert.rule.threat.tactic.name'],
  ).optional(),
  'kibana.alert.rule.threat.technique.id': oneOrMany(
    MULTI_VALUED['kibana.alert.rule.threat.technique.id'],
  ).optional(),
  'kibana.alert.rule.threat.technique.subtechnique.id': oneOrMany(
    MULTI_VALUED['kibana.alert.rule.threat.technique.subtechnique.id'],
  ).optional(),
  'threat.tactic.id': oneOrMany(MULTI_VALUED['threat.tactic.id']).optional(),
  'threat.tactic.name': oneOrMany(MULTI_VALUED['threat.tactic.name']).optional(),
  'threat.technique.id': oneOrMany(MULTI_VALUED['threat.technique.id']).optional(),
  'threat.technique.subtechnique.id': oneOrMany(MULTI_VALUED['threat.technique.subtechnique.id']).optional(),
  'host.name': oneOrMany(MULTI_VALUED['host.name']).optional(),
  'host.hostname': oneOrMany(MULTI_VALUED['host.hostname']).optional(),
  'user.name': oneOrMany(MULTI_VALUED['user.name']).optional(),
  'source.ip': oneOrMany(MULTI_VALUED['source.ip']).optional(),
  'destination.ip': oneOrMany(MULTI_VALUED['destination.ip']).optional(),
  'destination.domain': oneOrMany(MULTI_VALUED['destination.domain']).optional(),
  'dns.question.name': oneOrMany(MULTI_VALUED['dns.question.name']).optional(),
  'url.domain': oneOrMany(MULTI_VALUED['url.domain']).optional(),
  'file.hash.md5': oneOrMany(HASH_FIELDS['file.hash.md5']).optional(),
  'file.hash.sha1': oneOrMany(HASH_FIELDS['file.hash.sha1']).optional(),
  'file.hash.sha256': oneOrMany(HASH_FIELDS['file.hash.sha256']).optional(),
  'process.hash.md5': oneOrMany(HASH_FIELDS['process.hash.md5']).optional(),
  'process.hash.sha1': oneOrMany(HASH_FIELDS['process.hash.sha1']).optional(),
  'process.hash.sha256': oneOrMany(HASH_FIELDS['process.hash.sha256']).optional(),
  'dll.hash.md5': oneOrMany(HASH_FIELDS['dll.hash.md5']).optional(),
  'dll.hash.sha1': oneOrMany(HASH_FIELDS['dll.hash.sha1']).optional(),
  'dll.hash.sha256': oneOrMany(HASH_FIELDS['dll.hash.sha256']).optional(),
};
const FIELD_NAMES = Object.keys(fieldShape) as (keyof typeof fieldShape)[];

/**
 * An Elastic Security alert (a document from `.alerts-security.alerts-*`, or what a Kibana connector or
 * Watcher posts). Only the fields above are read and checked; everything else in the document is ignored.
 * Requires `kibana.alert.uuid`, `kibana.alert.rule.name`, a severity (`kibana.alert.severity`, else
 * `kibana.alert.risk_score`) and a time (`@timestamp`, else `kibana.alert.original_time`).
 */
export const elasticAlertFieldsSchema = z
  .object(fieldShape)
  .superRefine(
    (f, ctx) => {
      for (const name of ['kibana.alert.uuid', 'kibana.alert.rule.name'] as const) {
        if (f[name] === undefined) ctx.addIssue({ code: 'custom', path: [name], message: 'required' });
      }
      if (f['kibana.alert.severity'] === undefined && f['kibana.alert.risk_score'] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['kibana.alert.severity'],
          message: 'required (or kibana.alert.risk_score)',
        });
      }
      if (f['@timestamp'] === undefined && f['kibana.alert.original_time'] === undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['@timestamp'],
          message: 'required (or kibana.alert.original_time)',
        });
      }
      // Runs even when other fields failed (it only checks presence), so every missing field is named at once.
    },
    { when: () => true },
  )
  .describe('Elastic Security alert; fields may be nested objects or dotted keys (both are read).');
export type ElasticAlertFields = z.infer<typeof elasticAlertFieldsSchema>;

/**
 * The raw document, validated the way it is read: its field view (see {@link elasticFieldView}) must satisfy
 * {@link elasticAlertFieldsSchema}. Issues name the dotted fields. Zod cannot describe this in JSON Schema; see
 * {@link elasticDocumentJsonSchema} for the OpenAPI document.
 */
export const elasticAlertDocumentSchema = z.looseObject({}).superRefine((doc, ctx) => {
  const r = elasticAlertFieldsSchema.safeParse(elasticFieldView(doc));
  if (!r.success) for (const issue of r.error.issues) ctx.addIssue({ ...issue, code: 'custom' });
});

type JsonSchema = Record<string, unknown>;
const SCALAR = { type: ['string', 'number', 'boolean'] };

/**
 * The JSON Schema of an Elastic document as Quell reads it, for the OpenAPI document: each field may be a
 * dotted key, nested objects, or any mix ("kibana": {"alert.uuid": ...}), and arrays on the way are read
 * through. `ref(name)` names a sibling schema; `definitions` holds one per path prefix of the fields read. What
 * it accepts, the API accepts (short of a field with over 500 values in all); the API also accepts the required
 * fields in mixed layouts, nulls in arrays and arrays in arrays.
 */
export function elasticDocumentJsonSchema(
  rootName: string,
  ref: (name: string) => string,
): { root: JsonSchema; definitions: Record<string, JsonSchema> } {
  const fieldDoc = (name: keyof typeof fieldShape): JsonSchema => {
    const { $schema: _s, ...item } = z.toJSONSchema(FIELD_ITEMS[name]!, {
      target: 'draft-2020-12',
      io: 'input',
    }) as JsonSchema;
    // null and objects hold no value for the field (it is absent); arrays hold several.
    return {
      anyOf: [{ type: 'null' }, { type: 'object' }, item, { type: 'array', maxItems: 500, items: item }],
    };
  };
  const nodeName = (path: string) => `${rootName}.${path}`;
  type Continuation = { field?: keyof typeof fieldShape; node?: string };
  const continuations = new Map<string, Map<string, Continuation>>();
  for (const field of FIELD_NAMES) {
    const segments = field.split('.');
    for (let i = 0; i < segments.length; i++) {
      const at = segments.slice(0, i).join('.');
      const keys = continuations.get(at) ?? new Map<string, Continuation>();
      continuations.set(at, keys);
      for (let j = i + 1; j <= segments.length; j++) {
        const key = segments.slice(i, j).join('.');
        const target = segments.slice(0, j).join('.');
        keys.set(key, j === segments.length ? { field } : { node: target });
      }
    }
  }
  const properties = (at: string): JsonSchema =>
    Object.fromEntries(
      [...continuations.get(at)!].map(([key, c]) => [
        key,
        c.field ? fieldDoc(c.field) : { $ref: ref(nodeName(c.node!)) },
      ]),
    );
  const definitions: Record<string, JsonSchema> = {};
  for (const at of continuations.keys()) {
    if (at === '') continue;
    const props = properties(at);
    // Scalars here hold no field; objects continue the path; arrays are read through (one level documented).
    definitions[nodeName(at)] = { properties: props, items: { properties: props, items: false } };
  }
  /**
   * These fields have values, all as dotted keys or all nested. Mixes are read too, but a JSON Schema that
   * spells out every mix is more than schema-driven generators (schemathesis) can expand.
   */
  const present = (layout: 'dotted' | 'nested', ...fields: string[]): JsonSchema => {
    const leaf = { anyOf: [SCALAR, { type: 'array', minItems: 1 }] };
    if (layout === 'dotted') {
      return { required: fields, properties: Object.fromEntries(fields.map((f) => [f, leaf])) };
    }
    const tree: JsonSchema = {};
    for (const field of fields) {
      let node = tree;
      const segments = field.split('.');
      segments.forEach((segment, i) => {
        node.required = [...new Set([...((node.required as string[] | undefined) ?? []), segment])];
        const props = (node.properties ??= {}) as Record<string, JsonSchema>;
        if (i === segments.length - 1) props[segment] = leaf;
        else node = props[segment] ??= { type: 'object' };
      });
    }
    return tree;
  };
  const either = (...fields: string[]) => [present('dotted', ...fields), present('nested', ...fields)];
  const root: JsonSchema = {
    type: 'object',
    description:
      `${elasticAlertFieldsSchema.description} Documented here: the required fields all dotted or all ` +
      'nested (mixes such as {"kibana": {"alert.uuid": ...}} are read as well).',
    properties: properties(''),
    allOf: [
      { anyOf: either('kibana.alert.uuid', 'kibana.alert.rule.name') },
      { anyOf: [...either('kibana.alert.severity'), ...either('kibana.alert.risk_score')] },
      { anyOf: [present('dotted', '@timestamp'), ...either('kibana.alert.original_time')] },
    ],
  };
  return { root, definitions };
}

/** The document's values for the fields Quell reads: one value as itself, several as an array. */
export function elasticFieldView(doc: unknown): Record<string, unknown> {
  const fields = flattenFields(doc, FIELD_NAMES);
  const view: Record<string, unknown> = {};
  for (const name of FIELD_NAMES) {
    const values = fields.get(name);
    if (!values || values.length === 0) continue;
    view[name] = values.length === 1 ? values[0] : values;
  }
  return view;
}

/** Loose detection: `event.kind: "signal"` or any `kibana.alert.*` field, nested or dotted. */
export function looksLikeElastic(body: Record<string, unknown>): boolean {
  const kibana = body.kibana;
  if (kibana !== null && typeof kibana === 'object' && 'alert' in kibana) return true;
  if (Object.keys(body).some((k) => k.startsWith('kibana.alert'))) return true;
  const event = body.event;
  const kind =
    body['event.kind'] ??
    (event !== null && typeof event === 'object' ? (event as Record<string, unknown>).kind : undefined);
  return kind === 'signal' || (Array.isArray(kind) && kind.includes('signal'));
}

/** Elastic's default risk score to severity bands (0-21 low, 22-47 medium, 48-73 high, 74-100 critical). */
export function severityFromRiskScore(score: number): AlertSeverity {
  if (score >= 74) return 'critical';
  if (score >= 48) return 'high';
  if (score >= 22) return 'medium';
  return 'low';
}

const TYPE_TAG = /^(?:quell[.:])?type\s*[:=]\s*(\S.*)$/i;

/**
 * - source: `elastic-security`; ID: `kibana.alert.uuid` (`#resolved` appended when the alert's workflow status
 *   is closed, so the closing notice is recorded, not deduplicated).
 * - title and rule: `kibana.alert.rule.name`; description: `kibana.alert.reason`, else the rule description.
 * - type: a rule tag `type:<value>` (e.g. `type:account_compromise`), else derived from the rule's MITRE
 *   ATT&CK mapping (`kibana.alert.rule.threat.*`, then ECS `threat.*`: technique first, then tactic).
 * - severity: `kibana.alert.severity`, else the band of `kibana.alert.risk_score`.
 * - detectedAt: `@timestamp` (when the rule fired), else `kibana.alert.original_time`; first seen:
 *   `kibana.alert.original_time` (when the source event happened).
 * - entities: `host.name`/`host.hostname`, `user.name`, `source.ip`/`destination.ip`,
 *   `dns.question.name`/`url.domain`/`destination.domain`, file hashes from `file.hash.*`, `process.hash.*` and
 *   `dll.hash.*` (MD5, SHA-1, SHA-256).
 */
export function normalizeElastic(f: ElasticAlertFields, receivedAt: string): NormalizedAlert {
  const closed = f['kibana.alert.workflow_status']?.toLowerCase() === 'closed';
  const tagType = asArray(f['kibana.alert.rule.tags'])
    .map((t) => TYPE_TAG.exec(t.trim())?.[1]?.trim())
    .find((t): t is string => !!t);
  const type =
    tagType ??
    typeFromAttack(
      [
        ...asArray(f['kibana.alert.rule.threat.technique.subtechnique.id']),
        ...asArray(f['kibana.alert.rule.threat.technique.id']),
        ...asArray(f['threat.technique.subtechnique.id']),
        ...asArray(f['threat.technique.id']),
      ],
      [
        ...asArray(f['kibana.alert.rule.threat.tactic.id']),
        ...asArray(f['kibana.alert.rule.threat.tactic.name']),
        ...asArray(f['threat.tactic.id']),
        ...asArray(f['threat.tactic.name']),
      ],
    );
  const severity = f['kibana.alert.severity'] ?? severityFromRiskScore(f['kibana.alert.risk_score'] ?? 0);
  const stamp = f['@timestamp'] ?? f['kibana.alert.original_time'];
  const detectedAt = toIso(stamp ?? receivedAt);
  const original = f['kibana.alert.original_time'] ? toIso(f['kibana.alert.original_time']) : undefined;
  const e = new EntityCollector();
  e.add('hosts', asArray(f['host.name']), asArray(f['host.hostname']));
  e.add('accounts', asArray(f['user.name']));
  e.add('ips', asArray(f['source.ip']), asArray(f['destination.ip']));
  e.add(
    'domains',
    asArray(f['dns.question.name']),
    asArray(f['url.domain']),
    asArray(f['destination.domain']),
  );
  e.add('files', ...HASH_FIELD_NAMES.map((name) => asArray(f[name])));
  const description = f['kibana.alert.reason'] ?? f['kibana.alert.rule.description'];
  // Present: the schema's refinement requires them.
  const uuid = f['kibana.alert.uuid'] ?? '';
  const rule = f['kibana.alert.rule.name'] ?? '';
  return {
    source: 'elastic-security',
    sourceAlertId: closed ? `${uuid}${RESOLVED_ID_SUFFIX}` : uuid,
    format: 'elastic',
    title: clip(rule, 1000),
    ruleName: clip(rule, 500),
    ...(type ? { type: clip(type, 200) } : {}),
    severity,
    detectedAt,
    receivedAt,
    entities: e.result(),
    ...(description?.trim() ? { description: clip(description, 10_000) } : {}),
    labels: {
      ...(f['kibana.alert.rule.rule_id']
        ? { 'elastic.rule_id': clip(f['kibana.alert.rule.rule_id'], 400) }
        : {}),
      ...(f['kibana.alert.risk_score'] !== undefined
        ? { 'elastic.risk_score': String(f['kibana.alert.risk_score']) }
        : {}),
    },
    ...(original ? { firstSeenAt: earlier(original, detectedAt) ?? original } : {}),
    ...(closed ? { resolved: true } : {}),
  };
}
