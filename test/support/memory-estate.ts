import { createHash } from 'node:crypto';
import {
  PermanentConnectorError,
  TargetNotFoundError,
  TransientConnectorError,
} from '../../src/connectors/errors';
import type {
  AccountState,
  ActionContext,
  BlockState,
  Connectors,
  EffectResult,
  EvidenceRecord,
  HostContainmentState,
  Notification,
} from '../../src/connectors/types';

export type FaultMode = 'transient' | 'permanent' | 'not_found';
interface Fault {
  mode: FaultMode;
  remaining: number;
}

export interface LedgerEntry {
  at: string;
  effect: string;
  target: string;
  idempotencyKey: string;
}

/**
 * An in-process estate for workflow tests: hosts, accounts and blocklists with a ledger of effects (each state
 * change once), fault injection per operation and target, and recorded notifications. Vendor contracts are
 * tested elsewhere against the HTTP lab; this exercises the workflow's logic through the same interfaces.
 */
export class MemoryEstate {
  hosts = new Map<string, HostContainmentState>();
  accounts = new Map<string, AccountState>();
  ips = new Set<string>();
  domains = new Set<string>();
  ledger: LedgerEntry[] = [];
  calls: { op: string; target: string; key: string }[] = [];
  notifications: Notification[] = [];
  evidence = new Map<string, { record: EvidenceRecord; content: Buffer }>();
  private faults = new Map<string, Fault>();
  /** What the memory threat intelligence knows: AbuseIPDB-style confidence per IP (others are unknown). */
  abuseConfidence = new Map<string, number>([['203.0.113.66', 100]]);
  /** Tickets by key, with their comments, for ticket sync. */
  tickets = new Map<string, { incidentId: string; title: string; comments: string[]; closed?: string }>();
  /** Per-operation delay, to hold an action in flight (e.g. while a worker is killed). */
  delays = new Map<string, number>();

  /** Makes the next `times` calls of `op` on `target` fail (`op` e.g. "isolateHost", target "*" for any). */
  fail(op: string, target: string, mode: FaultMode, times = 1): void {
    this.faults.set(`${op}:${target}`, { mode, remaining: times });
  }

  effects(effect?: string, target?: string): LedgerEntry[] {
    return this.ledger.filter((e) => (!effect || e.effect === effect) && (!target || e.target === target));
  }

  private async enter(op: string, target: string, key = ''): Promise<void> {
    this.calls.push({ op, target, key });
    const delay = this.delays.get(op);
    if (delay) await new Promise((r) => setTimeout(r, delay));
    for (const k of [`${op}:${target}`, `${op}:*`]) {
      const fault = this.faults.get(k);
      if (fault && fault.remaining > 0) {
        fault.remaining--;
        if (fault.mode === 'transient')
          throw new TransientConnectorError(`lab: ${op} ${target} 503`, { vendor: 'memory', status: 503 });
        if (fault.mode === 'not_found')
          throw new TargetNotFoundError(`lab: ${target} not found`, { vendor: 'memory', status: 404 });
        throw new PermanentConnectorError(`lab: ${op} ${target} refused (400)`, {
          vendor: 'memory',
          status: 400,
        });
      }
    }
  }

  private change(effect: string, target: string, ctx: ActionContext): EffectResult {
    this.ledger.push({ at: new Date().toISOString(), effect, target, idempotencyKey: ctx.idempotencyKey });
    return { alreadyInState: false, vendorRef: `mem-${this.ledger.length}` };
  }

  connectors(): Connectors {
    const host = (h: string) => this.hosts.get(h) ?? 'normal';
    const account = (a: string) => this.accounts.get(a) ?? 'active';
    return {
      edr: {
        vendor: 'memory',
        isolateHost: async (h, ctx) => {
          await this.enter('isolateHost', h, ctx.idempotencyKey);
          if (host(h) === 'contained') return { alreadyInState: true };
          this.hosts.set(h, 'contained');
          return this.change('contain', h, ctx);
        },
        releaseHost: async (h, ctx) => {
          await this.enter('releaseHost', h, ctx.idempotencyKey);
          if (host(h) === 'normal') return { alreadyInState: true };
          this.hosts.set(h, 'normal');
          return this.change('release', h, ctx);
        },
        getHostState: async (h) => {
          await this.enter('getHostState', h);
          return host(h);
        },
        responseActions: {
          runAntivirusScan: async (h, opts, ctx) => {
            await this.enter('runAntivirusScan', h, ctx.idempotencyKey);
            return this.change(`scan:${opts.scanType}`, h, ctx);
          },
          quarantineFile: async (h, file, ctx) => {
            await this.enter('quarantineFile', h, ctx.idempotencyKey);
            return this.change(`quarantine:${file.sha256 ?? file.sha1 ?? '?'}`, h, ctx);
          },
          collectInvestigationPackage: async (h, ctx) => {
            await this.enter('collectInvestigationPackage', h, ctx.idempotencyKey);
            const { vendorRef } = this.change('package', h, ctx);
            return {
              content: Buffer.from(`investigation package of ${h}\n`),
              fileName: `package-${h}.zip`,
              vendorRef: vendorRef ?? 'mem',
              source: `memory:package/${h}`,
            };
          },
        },
      },
      identity: {
        vendor: 'memory',
        disableAccount: async (a, ctx) => {
          await this.enter('disableAccount', a, ctx.idempotencyKey);
          if (account(a) === 'disabled') return { alreadyInState: true };
          this.accounts.set(a, 'disabled');
          return this.change('disable', a, ctx);
        },
        enableAccount: async (a, ctx) => {
          await this.enter('enableAccount', a, ctx.idempotencyKey);
          if (account(a) === 'active') return { alreadyInState: true };
          this.accounts.set(a, 'active');
          return this.change('enable', a, ctx);
        },
        revokeSessions: async (a, ctx) => {
          await this.enter('revokeSessions', a, ctx.idempotencyKey);
          return { alreadyInState: false };
        },
        getAccountState: async (a) => {
          await this.enter('getAccountState', a);
          return account(a);
        },
      },
      firewall: {
        vendor: 'memory',
        blockIp: async (ip, ctx) => this.setBlock(this.ips, 'blockIp', ip, true, ctx),
        unblockIp: async (ip, ctx) => this.setBlock(this.ips, 'unblockIp', ip, false, ctx),
        blockDomain: async (d, ctx) => this.setBlock(this.domains, 'blockDomain', d, true, ctx),
        unblockDomain: async (d, ctx) => this.setBlock(this.domains, 'unblockDomain', d, false, ctx),
        getIpState: async (ip): Promise<BlockState> => (this.ips.has(ip) ? 'blocked' : 'allowed'),
        getDomainState: async (d): Promise<BlockState> => (this.domains.has(d) ? 'blocked' : 'allowed'),
      },
      logs: {
        name: 'memory',
        readHostLogs: async (req) => {
          await this.enter('readHostLogs', req.host);
          const content = Buffer.from(
            `${req.from} ${req.host} sshd: accepted publickey\n${req.to} ${req.host} kernel: ok\n`,
          );
          return { source: 'memory', content, lineCount: 2 };
        },
      },
      evidence: {
        put: async (req) => {
          const existing = [...this.evidence.values()].find(
            (e) => e.record.evidenceId === `ev-${req.idempotencyKey}`,
          );
          if (existing) return existing.record;
          const sha256 = createHash('sha256').update(req.content).digest('hex');
          const at = new Date().toISOString().replace('Z', '+00:00');
          const record: EvidenceRecord = {
            evidenceId: `ev-${req.idempotencyKey}`,
            incidentId: req.incidentId,
            name: req.name,
            sha256,
            sizeBytes: req.content.length,
            location: `memory://${sha256}`,
            collectedBy: req.collectedBy,
            collectedAt: at,
            timeZone: 'UTC',
            source: req.source,
            subject: req.subject,
            ...(req.window ? { window: req.window } : {}),
            custody: [{ at, actor: req.collectedBy, action: 'collected' }],
          };
          this.evidence.set(record.evidenceId, { record, content: req.content });
          return record;
        },
        get: async (id) => {
          const e = this.evidence.get(id);
          if (!e) throw new TargetNotFoundError(`no evidence ${id}`);
          return e;
        },
        verify: async (id) => {
          const e = this.evidence.get(id);
          if (!e) throw new TargetNotFoundError(`no evidence ${id}`);
          const actual = createHash('sha256').update(e.content).digest('hex');
          return { ok: actual === e.record.sha256, expected: e.record.sha256, actual };
        },
        list: async (incidentId) =>
          [...this.evidence.values()].map((e) => e.record).filter((r) => r.incidentId === incidentId),
      },
      intel: {
        sources: ['abuseipdb'],
        lookup: async (kind, indicator) => {
          await this.enter('intelLookup', indicator);
          const confidence = kind === 'ip' ? this.abuseConfidence.get(indicator) : undefined;
          return {
            kind,
            indicator,
            findings:
              kind === 'ip'
                ? [
                    {
                      source: 'abuseipdb' as const,
                      indicator,
                      kind: 'ip' as const,
                      found: confidence !== undefined,
                      confidence: confidence ?? 0,
                      totalReports: confidence === undefined ? 0 : 12,
                    },
                  ]
                : [],
            errors: [],
          };
        },
      },
      tickets: {
        vendor: 'memory',
        openTicket: async (req, ctx) => {
          await this.enter('openTicket', req.incidentId, ctx.idempotencyKey);
          const found = [...this.tickets].find(([, t]) => t.incidentId === req.incidentId);
          if (found) return { key: found[0], displayId: found[0], created: false };
          const key = `MEM-${this.tickets.size + 1}`;
          this.tickets.set(key, { incidentId: req.incidentId, title: req.title, comments: [] });
          return { key, displayId: key, created: true };
        },
        addComment: async (key, text, ctx) => {
          await this.enter('commentTicket', key, ctx.idempotencyKey);
          const t = this.tickets.get(key);
          if (!t) throw new TargetNotFoundError(`no ticket ${key}`, { vendor: 'memory', status: 404 });
          const marked = `${text} [${ctx.idempotencyKey}]`;
          if (t.comments.includes(marked)) return { alreadyInState: true };
          t.comments.push(marked);
          return { alreadyInState: false };
        },
        closeTicket: async (key, req, ctx) => {
          await this.enter('closeTicket', key, ctx.idempotencyKey);
          const t = this.tickets.get(key);
          if (!t) throw new TargetNotFoundError(`no ticket ${key}`, { vendor: 'memory', status: 404 });
          if (t.closed) return { alreadyInState: true };
          t.closed = req.resolution;
          return { alreadyInState: false };
        },
      },
      notifier: {
        routes: () => ['soc', 'oncall', 'management', 'responders'],
        send: async (n) => {
          await this.enter('notify', n.route);
          this.notifications.push(n);
          return { route: n.route, delivered: true };
        },
      },
    };
  }

  private async setBlock(
    set: Set<string>,
    op: string,
    target: string,
    block: boolean,
    ctx: ActionContext,
  ): Promise<EffectResult> {
    await this.enter(op, target, ctx.idempotencyKey);
    if (set.has(target) === block) return { alreadyInState: true };
    if (block) set.add(target);
    else set.delete(target);
    return this.change(op, target, ctx);
  }
}
