import { randomBytes, randomUUID } from 'node:crypto';
import { type EstateContext, isoAt } from './history';

export interface LabAccessRule {
  id: string;
  scope: { type: 'zone' | 'account'; id: string };
  mode: string;
  configuration: { target: string; value: string };
  notes: string;
  createdOn: string;
}

/** A Zero Trust Gateway rule (Cloudflare DNS policy). */
export interface LabGatewayRule {
  id: string;
  accountId: string;
  name: string;
  description: string;
  action: string;
  enabled: boolean;
  filters: string[];
  traffic: string;
  precedence: number;
  createdAt: string;
}

/** The domain a Gateway traffic expression blocks (`any(dns.domains[*] == "x")`), else the expression. */
function gatewayTarget(traffic: string): string {
  const m = /^any\(dns\.domains\[\*\] == "([^"]+)"\)$/.exec(traffic.trim());
  return m?.[1] ?? traffic;
}

/** What a rule change is recorded with in the ledger (the vendor is Cloudflare). */
export interface RuleMeta {
  call: string;
  incidentId?: string;
}

/**
 * Cloudflare's block lists: IP Access Rules of zones and accounts (IPs, ranges, ASNs, countries) and Zero
 * Trust Gateway DNS rules of accounts (domains). Only block rules are effects in the ledger.
 */
export class LabBlocklists {
  private readonly rules = new Map<string, LabAccessRule>();
  private readonly gateway = new Map<string, LabGatewayRule>();

  constructor(private readonly ctx: EstateContext) {}

  /** A block or unblock at Cloudflare, for the ledger (only block rules are effects). */
  private recordEffect(
    effect: 'block' | 'unblock',
    vendorAction: string,
    target: string,
    vendorRef: string,
    meta: RuleMeta,
    comment?: string,
  ): void {
    this.ctx.record({
      vendor: 'cloudflare',
      effect,
      vendorAction,
      target,
      ...(comment !== undefined ? { comment } : {}),
      vendorRef,
      ...meta,
    });
  }

  accessRules(scope?: { type: 'zone' | 'account'; id: string }): LabAccessRule[] {
    return [...this.rules.values()].filter(
      (r) => !scope || (r.scope.type === scope.type && r.scope.id === scope.id),
    );
  }

  addAccessRule(input: Omit<LabAccessRule, 'id' | 'createdOn'>, meta: RuleMeta): LabAccessRule {
    const rule: LabAccessRule = {
      ...input,
      id: randomBytes(16).toString('hex'),
      createdOn: isoAt(this.ctx.now()),
    };
    this.rules.set(rule.id, rule);
    if (rule.mode === 'block') {
      this.recordEffect('block', 'create access rule', rule.configuration.value, rule.id, meta, rule.notes);
    }
    this.ctx.changed();
    return rule;
  }

  deleteAccessRule(id: string, meta: RuleMeta): LabAccessRule | undefined {
    const rule = this.rules.get(id);
    if (!rule) return undefined;
    this.rules.delete(id);
    if (rule.mode === 'block') {
      this.recordEffect('unblock', 'delete access rule', rule.configuration.value, rule.id, meta);
    }
    this.ctx.changed();
    return rule;
  }

  gatewayRules(accountId?: string): LabGatewayRule[] {
    return [...this.gateway.values()].filter((r) => accountId === undefined || r.accountId === accountId);
  }

  addGatewayRule(
    input: Omit<LabGatewayRule, 'id' | 'createdAt' | 'precedence'>,
    meta: RuleMeta,
  ): LabGatewayRule {
    const rule: LabGatewayRule = {
      ...input,
      id: randomUUID(),
      precedence: 1000 + this.gateway.size,
      createdAt: isoAt(this.ctx.now()),
    };
    this.gateway.set(rule.id, rule);
    if (rule.action === 'block' && rule.enabled) {
      this.recordEffect(
        'block',
        'create Gateway DNS rule',
        gatewayTarget(rule.traffic),
        rule.id,
        meta,
        rule.description,
      );
    }
    this.ctx.changed();
    return rule;
  }

  deleteGatewayRule(id: string, meta: RuleMeta): LabGatewayRule | undefined {
    const rule = this.gateway.get(id);
    if (!rule) return undefined;
    this.gateway.delete(id);
    if (rule.action === 'block' && rule.enabled) {
      this.recordEffect('unblock', 'delete Gateway DNS rule', gatewayTarget(rule.traffic), rule.id, meta);
    }
    this.ctx.changed();
    return rule;
  }

  /** The blocks as `GET /lab/state` shows them, beside the rules themselves. */
  snapshot() {
    return {
      blocked: this.accessRules()
        .filter((r) => r.mode === 'block')
        .map((r) => ({
          value: r.configuration.value,
          target: r.configuration.target,
          ruleId: r.id,
          notes: r.notes,
          scope: r.scope,
        })),
      accessRules: this.accessRules(),
      blockedDomains: this.gatewayRules()
        .filter((r) => r.action === 'block' && r.enabled)
        .map((r) => ({
          domain: gatewayTarget(r.traffic),
          ruleId: r.id,
          name: r.name,
          accountId: r.accountId,
        })),
      gatewayRules: this.gatewayRules(),
    };
  }

  persisted(): { rules: LabAccessRule[]; gatewayRules: LabGatewayRule[] } {
    return { rules: [...this.rules.values()], gatewayRules: [...this.gateway.values()] };
  }

  restore(rules: LabAccessRule[], gatewayRules: LabGatewayRule[]): void {
    this.rules.clear();
    for (const r of rules) this.rules.set(r.id, r);
    this.gateway.clear();
    for (const r of gatewayRules) this.gateway.set(r.id, r);
  }
}
