import { randomUUID } from 'node:crypto';
import { LAB_VENDORS, type LabVendor } from '../credentials';

export type LabFaultKind =
  '5xx' | '4xx' | 'timeout' | 'slow_response' | '429' | 'in_progress' | 'auth_expired';
export const LAB_FAULT_KINDS: readonly LabFaultKind[] = [
  '5xx',
  '4xx',
  'timeout',
  'slow_response',
  '429',
  'in_progress',
  'auth_expired',
];

export interface LabFaultInput {
  match?: { vendor?: LabVendor; pathPattern?: string; method?: string };
  fault: LabFaultKind;
  /** For '429': the Retry-After to answer, in seconds (default 1). */
  retryAfterSeconds?: number;
  /** How many matching requests the rule affects; unlimited when absent. */
  times?: number;
  /** Chance (0..1) that a matching request is affected; default 1. */
  probability?: number;
  /**
   * For 'timeout': how long the lab holds the request before answering 504 (default 30 s). For 'slow_response':
   * how long the answer is held after the request took effect (default 5 s): the effect happens, the caller may
   * never hear of it (a worker killed meanwhile), which is what idempotent retries must survive.
   */
  holdMs?: number;
}

export interface LabFaultRule extends LabFaultInput {
  id: string;
  match: { vendor?: LabVendor; pathPattern?: string; method?: string };
  /** How many requests the rule has affected so far. */
  hits: number;
}

/** The fault rules, in the order they were added: the first that matches a request applies. */
export class LabFaultRules {
  private rules: LabFaultRule[] = [];

  /** Adds a fault rule (validated); returns it with its ID. */
  add(input: LabFaultInput): LabFaultRule {
    if (!LAB_FAULT_KINDS.includes(input.fault))
      throw new Error(`unknown fault ${JSON.stringify(input.fault)}`);
    const match = input.match ?? {};
    if (match.vendor !== undefined && !LAB_VENDORS.includes(match.vendor)) {
      throw new Error(`unknown vendor ${JSON.stringify(match.vendor)}`);
    }
    if (match.pathPattern !== undefined) new RegExp(match.pathPattern);
    if (input.probability !== undefined && !(input.probability >= 0 && input.probability <= 1)) {
      throw new Error('probability must be within 0..1');
    }
    if (input.times !== undefined && !(Number.isInteger(input.times) && input.times > 0)) {
      throw new Error('times must be a positive integer');
    }
    if (input.retryAfterSeconds !== undefined && !(input.retryAfterSeconds >= 0)) {
      throw new Error('retryAfterSeconds must be >= 0');
    }
    const rule: LabFaultRule = { ...input, match: { ...match }, id: randomUUID(), hits: 0 };
    this.rules.push(rule);
    return rule;
  }

  clear(): void {
    this.rules = [];
  }

  remove(id: string): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length < before;
  }

  list(): LabFaultRule[] {
    return this.rules.map((r) => ({ ...r, match: { ...r.match } }));
  }

  /**
   * The fault (if any) for a request: the first rule whose vendor, method and path pattern (a regular
   * expression tested against the path with its query string) match, subject to its probability. A rule
   * that has fired `times` times is removed.
   */
  take(vendor: LabVendor, method: string, url: string): LabFaultRule | undefined {
    for (const rule of this.rules) {
      const m = rule.match;
      if (m.vendor && m.vendor !== vendor) continue;
      if (m.method && m.method.toUpperCase() !== method.toUpperCase()) continue;
      if (m.pathPattern && !new RegExp(m.pathPattern).test(url)) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      rule.hits += 1;
      if (rule.times !== undefined && rule.hits >= rule.times) this.remove(rule.id);
      return { ...rule };
    }
    return undefined;
  }
}
