import { z } from 'zod';
import { SEVERITIES } from '../domain/alert';
import type { ActionSpec } from '../domain/actions';
import { ENRICHMENT_FIELDS, type EnrichmentCondition, type EnrichmentSource } from '../domain/enrichment';
import { PHASES, type ActionPhase, type ApprovalPolicy } from '../domain/incident';

const DURATION_PATTERN = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/;

/** Parses durations like "500ms", "30s", "15m", "2h", "7d" (or a number of milliseconds). */
export function parseDuration(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? value : undefined;
  const m = DURATION_PATTERN.exec(value);
  if (!m || !m[1] || !m[2]) return undefined;
  const n = Number(m[1]);
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    m[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Math.round(n * unit);
}

const duration = z
  .union([z.string(), z.number()])
  .transform((v, ctx) => {
    const ms = parseDuration(v);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `invalid duration "${v}" (use e.g. 30s, 15m, 2h, 7d)` });
      return z.NEVER;
    }
    return ms;
  })
  // What editors check while the playbook is written (the JSON Schema cannot see the transform):
  // `pattern` holds for strings only, `minimum` for numbers only.
  .meta({
    description:
      'A duration: a number with a unit (ms, s, m, h, d), e.g. "30s", "15m", "2h", "7d"; or milliseconds.',
    pattern: DURATION_PATTERN.source,
    minimum: 0,
  });

const severity = z.enum(SEVERITIES);
const approvalPolicy = z.enum(['auto', 'approve', 'two_person', 'never']);
const glob = z.string().min(1).max(300);
const routeName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9_.-]*$/, 'route names are lower-case letters, digits, . _ -');

/** Approval policy for each incident severity. */
const policyBySeverity = z
  .object({
    critical: approvalPolicy,
    high: approvalPolicy,
    medium: approvalPolicy,
    low: approvalPolicy,
  })
  .strict();

const retryPolicy = z
  .object({
    initialInterval: duration.default(1_000),
    backoffCoefficient: z.number().min(1).max(10).default(2),
    maximumInterval: duration.default(60_000),
    maximumAttempts: z.number().int().min(1).max(1_000).default(8),
    /** Total time for all attempts of one run of the action. */
    totalTimeout: duration.default(10 * 60_000),
    /** Time for one attempt. */
    attemptTimeout: duration.default(60_000),
  })
  .strict();
export type RetryPolicyConfig = z.infer<typeof retryPolicy>;

/** What a playbook says of one catalogue action it names (defaults from the action's file). */
export interface ActionConfig {
  approval: Record<(typeof SEVERITIES)[number], ApprovalPolicy>;
  /** For actions on IP addresses: `external` (default) leaves internal addresses (RFC 1918, loopback, ...) alone. */
  targets: 'external' | 'all';
  retry: RetryPolicyConfig;
  /** The action's parameters, parsed by its input schema (absent in playbooks recorded before the catalogue). */
  with?: Record<string, unknown>;
}

/**
 * What the schema reads of a catalogue (src/actions/catalogue.ts), structurally: this module is also read by
 * code that must not see the connectors (the console's type check, through the contracts).
 */
export interface SchemaCatalogue {
  forPhase(phase: ActionPhase): {
    name: string;
    capability: string;
    entity: string;
    defaultApproval: Record<(typeof SEVERITIES)[number], ApprovalPolicy>;
    defaultRetry?: Partial<Record<string, number>>;
    input?: z.ZodType;
    describe: { verb: string };
  }[];
}
type SchemaAction = ReturnType<SchemaCatalogue['forPhase']>[number];

function actionConfigFor(d: SchemaAction) {
  return z
    .object({
      approval: policyBySeverity.default(d.defaultApproval),
      targets: z.enum(['external', 'all']).default('external'),
      // A playbook's retry block replaces the action's defaults field by field.
      retry: z
        .preprocess((v) => (v && typeof v === 'object' ? { ...d.defaultRetry, ...v } : v), retryPolicy)
        .prefault({ ...d.defaultRetry }),
      with: (d.input ?? z.strictObject({})).prefault({}),
    })
    .strict()
    .meta({ description: `${d.describe.verb} (${d.capability}; targets the incident's ${d.entity}).` });
}

/** One optional block per catalogue action of the phase, keyed by the action's name, in catalogue order. */
function phaseActions(catalogue: SchemaCatalogue, phase: ActionPhase) {
  const definitions = catalogue.forPhase(phase);
  const known = definitions.map((d) => d.name).join(', ') || 'none';
  return z.strictObject(Object.fromEntries(definitions.map((d) => [d.name, actionConfigFor(d).optional()])), {
    error: (issue) =>
      issue.code === 'unrecognized_keys'
        ? `unknown ${phase} action${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => `"${k}"`).join(', ')} (the catalogue's ${phase} actions: ${known})`
        : undefined,
  }) as unknown as z.ZodType<Record<string, ActionConfig | undefined>, Record<string, unknown>>;
}

const ENRICHMENT_SOURCES = Object.keys(ENRICHMENT_FIELDS) as EnrichmentSource[];
const COMPARISON_PATTERN = /^\s*([a-z]+)\.([A-Za-z]+)\s*(>=|<=)\s*(-?\d+(?:\.\d+)?)\s*$/;

/** Checks a parsed condition's source and field; returns it, or reports what is wrong. */
function checkedCondition(c: EnrichmentCondition, ctx: z.RefinementCtx): EnrichmentCondition {
  if (!ENRICHMENT_SOURCES.includes(c.source)) {
    ctx.addIssue({
      code: 'custom',
      message: `unknown enrichment source "${c.source}" (one of ${ENRICHMENT_SOURCES.join(', ')})`,
    });
    return c;
  }
  const fields: readonly string[] = ENRICHMENT_FIELDS[c.source];
  if (!fields.includes(c.field))
    ctx.addIssue({
      code: 'custom',
      message: `unknown ${c.source} field "${c.field}" (one of ${fields.join(', ')})`,
    });
  if ((c.atLeast === undefined) === (c.atMost === undefined))
    ctx.addIssue({ code: 'custom', message: 'an enrichment condition needs exactly one of atLeast, atMost' });
  return c;
}

/**
 * A severity-rule condition on the threat-intelligence findings, in either form:
 * `{ source: abuseipdb, field: confidence, atLeast: 90 }`, or the comparison `'abuseipdb.confidence >= 90'`
 * (`<source>.<field> >= N` or `<= N`, nothing else). The string is parsed here, at load, into the object form:
 * it is never evaluated.
 */
const enrichmentCondition = z
  .union([
    z
      .string()
      .max(200)
      .meta({
        description:
          "A comparison '<source>.<field> >= N' or '<= N', e.g. 'abuseipdb.confidence >= 90' " +
          `(fields: ${Object.entries(ENRICHMENT_FIELDS)
            .map(([s, f]) => `${s}: ${f.join(', ')}`)
            .join('; ')}).`,
        pattern: COMPARISON_PATTERN.source,
      }),
    z
      .object({
        source: z.enum(ENRICHMENT_SOURCES as [EnrichmentSource, ...EnrichmentSource[]]),
        field: z.string().min(1),
        atLeast: z.number().optional(),
        atMost: z.number().optional(),
      })
      .strict(),
  ])
  .transform((v, ctx): EnrichmentCondition => {
    if (typeof v !== 'string') {
      return checkedCondition(
        {
          source: v.source,
          field: v.field,
          ...(v.atLeast !== undefined ? { atLeast: v.atLeast } : {}),
          ...(v.atMost !== undefined ? { atMost: v.atMost } : {}),
        },
        ctx,
      );
    }
    const m = COMPARISON_PATTERN.exec(v);
    if (!m) {
      ctx.addIssue({
        code: 'custom',
        message: `invalid enrichment comparison "${v.slice(0, 80)}" (use e.g. 'abuseipdb.confidence >= 90' or 'virustotal.reputation <= -10')`,
      });
      return z.NEVER;
    }
    const [, source, field, op, n] = m as unknown as [string, string, string, string, string];
    return checkedCondition(
      {
        source: source as EnrichmentSource,
        field,
        ...(op === '>=' ? { atLeast: Number(n) } : { atMost: Number(n) }),
      },
      ctx,
    );
  });

/** What identification looks up before severity is decided (absent: no lookups). */
const enrichmentSection = z
  .object({
    /**
     * How long identification waits for the lookups: past it, containment goes on without them (the lookups
     * are abandoned and the incident records that they timed out).
     */
    timeout: duration.default(10_000),
    /** Which of the scope's indicators are looked up: external IPs, domains, file hashes (MD5/SHA-1/SHA-256). */
    kinds: z
      .array(z.enum(['ip', 'domain', 'file']))
      .min(1)
      .default(['ip', 'domain', 'file']),
    /** Lookups at once. */
    concurrency: z.number().int().min(1).max(16).default(4),
  })
  .strict()
  .refine((e) => e.timeout >= 100 && e.timeout <= 5 * 60_000, {
    message: 'enrichment.timeout must be between 100ms and 5m',
    path: ['timeout'],
  });

const severityRule = z
  .object({
    description: z.string().max(500).optional(),
    when: z
      .object({
        /** Any host in scope matches one of these globs. */
        hostPatterns: z.array(glob).min(1).optional(),
        /** Any host in scope carries one of these asset tags (see `assets`). */
        assetTags: z.array(z.string().min(1)).min(1).optional(),
        /** Hosts + accounts + IPs + domains in scope reach this number. */
        minScopeSize: z.number().int().min(1).optional(),
        /** Any account in scope matches one of these globs. */
        accountPatterns: z.array(glob).min(1).optional(),
        /** A threat-intelligence finding meets a threshold (needs the playbook's `enrichment` section). */
        enrichment: enrichmentCondition.optional(),
      })
      .strict()
      .refine((w) => Object.keys(w).length > 0, 'a severity rule needs at least one condition'),
    atLeast: severity,
  })
  .strict();

/** The playbook schema for a catalogue: the actions each phase may name, and their parameters. */
export function playbookSchemaFor(catalogue: SchemaCatalogue) {
  return z
    .object({
      id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/, 'ids are lower-case letters, digits and dashes'),
      name: z.string().min(1).max(200),
      version: z.number().int().min(1),
      description: z.string().max(5_000).optional(),
      /** The default playbook handles alerts no other playbook matches; exactly one must be default. */
      default: z.boolean().default(false),
      /** Higher wins when several playbooks match. */
      priority: z.number().int().default(0),
      match: z
        .object({
          sources: z.array(glob).min(1).optional(),
          rules: z.array(glob).min(1).optional(),
          types: z.array(glob).min(1).optional(),
        })
        .strict()
        .default({}),
      correlation: z
        .object({
          /** Template over {rule}, {source}, {type}, {primaryEntity}, {host}, {account}, {ip}, {domain}, {file}. */
          key: z.string().min(1).max(300).default('{rule}|{primaryEntity}'),
          /**
           * Alerts that name no host, account, IP or domain at all join one incident per rule and window of this
           * length (windows aligned to the epoch, by the alert's detection time, so a redelivery lands in the
           * same one). 0: each such alert is its own incident.
           */
          entitylessWindow: duration.default(3_600_000),
        })
        .strict()
        .prefault({}),
      assets: z
        .array(z.object({ pattern: glob, tags: z.array(z.string().min(1)).min(1) }).strict())
        .default([]),
      severity: z
        .object({
          /** Floor for the incident's severity whatever the alert says. */
          minimum: severity.default('low'),
          rules: z.array(severityRule).default([]),
        })
        .strict()
        .prefault({}),
      enrichment: enrichmentSection.optional(),
      containment: phaseActions(catalogue, 'containment').default({}),
      investigation: z
        .object({
          /** Catalogue actions run on the scope while evidence is collected (e.g. an investigation package). */
          actions: phaseActions(catalogue, 'investigation').default({}),
        })
        .strict()
        .prefault({}),
      approvals: z
        .object({
          escalateAfter: duration.default(15 * 60_000),
          expireAfter: duration.default(2 * 3_600_000),
          onExpiry: z.enum(['reject', 'approve']).default('reject'),
          /** Routes notified when an approval waits longer than `escalateAfter`. */
          escalationRoutes: z.array(routeName).default([]),
        })
        .strict()
        .refine((a) => a.expireAfter > a.escalateAfter, {
          message: 'expireAfter must be longer than escalateAfter',
          path: ['expireAfter'],
        })
        .prefault({}),
      evidence: z
        .object({
          logSources: z.array(z.string().min(1)).default(['default']),
          windowBefore: duration.default(3_600_000),
          windowAfter: duration.default(15 * 60_000),
        })
        .strict()
        .prefault({}),
      notifications: z
        .object({
          /** Routes told about failures that need a responder (failed actions, pending approvals). */
          responders: z.array(routeName).default([]),
          rules: z
            .array(
              z
                .object({
                  phases: z.array(z.enum(PHASES)).min(1),
                  severities: z
                    .array(severity)
                    .min(1)
                    .default([...SEVERITIES]),
                  routes: z.array(routeName).min(1),
                })
                .strict(),
            )
            .default([]),
        })
        .strict()
        .prefault({}),
      eradication: z
        .object({
          checklist: z
            .array(
              z
                .object({
                  id: z
                    .string()
                    .regex(/^[a-z0-9][a-z0-9_-]*$/, 'checklist ids are lower-case letters, digits, _ and -'),
                  text: z.string().min(1).max(1_000),
                  /** An action of `eradication.actions` whose success on every target completes the item. */
                  action: z.string().min(1).optional(),
                })
                .strict(),
            )
            .default([]),
          /** Catalogue actions run on the scope when eradication begins. */
          actions: phaseActions(catalogue, 'eradication').default({}),
        })
        .strict()
        .prefault({}),
      recovery: z
        .object({
          /** Approval policy for undoing containment (per severity); default: one approver. */
          approval: policyBySeverity.default({
            critical: 'approve',
            high: 'approve',
            medium: 'approve',
            low: 'approve',
          }),
          steps: z.array(z.string().min(1).max(1_000)).default([]),
          retry: retryPolicy.prefault({}),
        })
        .strict()
        .prefault({}),
      closure: z
        .object({
          /** After lessons learned starts, close on our own after this long if no responder closes first. */
          autoCloseAfter: duration.default(7 * 86_400_000),
        })
        .strict()
        .prefault({}),
      /**
       * Ticket sync: the incident mirrored to the ticketing system the worker is configured with
       * (`QUELL_TICKETS`). Absent or `sync: false`: nothing is sent (playbooks recorded before it never had it).
       */
      tickets: z
        .object({
          /** Open a ticket once the incident is identified, comment on phases and decisions, close it on closure. */
          sync: z.boolean().default(false),
        })
        .strict()
        .optional(),
    })
    .strict()
    .superRefine((p, ctx) => {
      p.severity.rules.forEach((rule, i) => {
        if (rule.when.enrichment !== undefined && !p.enrichment)
          ctx.addIssue({
            code: 'custom',
            message:
              "an enrichment condition needs the playbook's enrichment section (nothing is looked up without it)",
            path: ['severity', 'rules', i, 'when', 'enrichment'],
          });
      });
      const ids = new Set<string>();
      p.eradication.checklist.forEach((item, i) => {
        if (ids.has(item.id)) {
          ctx.addIssue({
            code: 'custom',
            message: `duplicate checklist id "${item.id}"`,
            path: ['eradication', 'checklist', i, 'id'],
          });
        }
        ids.add(item.id);
        if (item.action !== undefined && !p.eradication.actions[item.action]) {
          ctx.addIssue({
            code: 'custom',
            message: `action "${item.action}" is not one of eradication.actions (${Object.keys(p.eradication.actions).join(', ') || 'none configured'})`,
            path: ['eradication', 'checklist', i, 'action'],
          });
        }
      });
    });
}

type ParsedPlaybook = z.infer<ReturnType<typeof playbookSchemaFor>>;

/**
 * A validated playbook with durations in milliseconds: plain data, safe to pass into a workflow.
 * `actionSpecs` (set by the loader) are the catalogue entries of every action it names. Playbooks recorded in
 * histories before the catalogue have no specs (see `LEGACY_ACTION_SPECS`), no `investigation` section and no
 * `eradication.actions`: the workflow reads them as this type says.
 */
export type Playbook = Omit<ParsedPlaybook, 'investigation' | 'eradication'> & {
  investigation?: ParsedPlaybook['investigation'];
  eradication: Omit<ParsedPlaybook['eradication'], 'actions'> & {
    actions?: ParsedPlaybook['eradication']['actions'];
  };
  actionSpecs?: Record<string, ActionSpec>;
};

/** The names of the catalogue actions a playbook uses, in every phase. */
export function actionsNamedBy(p: ParsedPlaybook): string[] {
  return [
    ...new Set([
      ...Object.keys(p.containment),
      ...Object.keys(p.investigation.actions),
      ...Object.keys(p.eradication.actions),
    ]),
  ];
}
