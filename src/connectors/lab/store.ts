import { createHash, randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { HostContainmentState } from '../types';
import { LAB_CREDENTIALS, LAB_DOMAIN, type LabCredentials } from './credentials';

export type LabVendor =
  'crowdstrike' | 'defender' | 'azuread' | 'graph' | 'okta' | 'cloudflare' | 'slack' | 'pagerduty';
export const LAB_VENDORS: readonly LabVendor[] = [
  'crowdstrike',
  'defender',
  'azuread',
  'graph',
  'okta',
  'cloudflare',
  'slack',
  'pagerduty',
];

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

export interface LabHost {
  name: string;
  /** CrowdStrike-style device ID (32 hex). */
  deviceId: string;
  /** Defender-style machine ID (40 hex). */
  machineId: string;
  platform: 'Windows' | 'Linux';
  status: HostContainmentState;
  /** When a pending transition completes (epoch ms). */
  pendingUntil?: number;
  firstSeen: string;
}

export type LabAccountStatus =
  | 'ACTIVE'
  | 'SUSPENDED'
  | 'DEPROVISIONED'
  | 'LOCKED_OUT'
  | 'STAGED'
  | 'PROVISIONED'
  | 'RECOVERY'
  | 'PASSWORD_EXPIRED';

export interface LabAccount {
  login: string;
  /** Okta-style user ID (`00u...`). */
  oktaId: string;
  /** Entra-style object ID (UUID). */
  objectId: string;
  upn: string;
  status: LabAccountStatus;
  /** Open sign-in sessions (revokeSessions clears them). */
  sessions: number;
}

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

export interface LabMachineAction {
  id: string;
  type: 'Isolate' | 'Unisolate';
  scope?: string;
  machineId: string;
  computerDnsName: string;
  requestor: string;
  requestorComment: string;
  status: 'Pending' | 'Succeeded';
  creationDateTimeUtc: string;
  completesAt: number;
}

/** One effect the lab applied: a real state change, never a no-op repeat. */
export interface LabLedgerEntry {
  seq: number;
  at: string;
  vendor: LabVendor;
  /** Vendor-neutral effect name. */
  effect: 'contain' | 'release' | 'disable' | 'enable' | 'revoke_sessions' | 'block' | 'unblock';
  /** The vendor's own name for it (`lift_containment`, `suspend`, `unisolate`, ...). */
  vendorAction: string;
  /** Host name, account login or IP value. */
  target: string;
  incidentId?: string;
  comment?: string;
  /** The call that caused it: `POST /crowdstrike/devices/entities/devices-actions/v2?action_name=contain`. */
  call: string;
  vendorRef?: string;
}

export interface LabMessage {
  seq: number;
  at: string;
  kind: 'slack' | 'slack-webhook';
  /** Channel (chat.postMessage) or webhook name (`/slack/webhook/<name>`). */
  channel: string;
  text?: string;
  blocks?: unknown;
  ts: string;
}

export interface LabPagerDutyEvent {
  seq: number;
  at: string;
  eventAction: string;
  dedupKey: string;
  /** Only the last 4 characters of the routing key are kept. */
  routingKeyHint: string;
  payload?: unknown;
}

export interface LabCall {
  seq: number;
  at: string;
  vendor: LabVendor | 'lab';
  method: string;
  /** Path and query string. */
  url: string;
  status: number;
  fault?: LabFaultKind;
}

export interface LabStoreOptions {
  /** Unknown host names (and account logins) are created, normal / ACTIVE, on first lookup. Default true. */
  autoProvision?: boolean;
  /** contain / lift go through *_pending for this long before settling (default 0: immediate). */
  containmentDelayMs?: number;
  /** Lifetime of OAuth tokens the lab issues (default 1800 s). */
  tokenTtlSeconds?: number;
  /** Persist the estate to this file (atomically, after every change). In memory when absent. */
  statePath?: string;
  credentials?: LabCredentials;
  now?: () => number;
}

interface Token {
  audience: 'crowdstrike' | 'defender' | 'graph';
  expiresAt: number;
}

interface PersistedState {
  version: 1;
  seq: number;
  hosts: LabHost[];
  accounts: LabAccount[];
  rules: LabAccessRule[];
  gatewayRules?: LabGatewayRule[];
  machineActions: LabMachineAction[];
  ledger: LabLedgerEntry[];
  messages: LabMessage[];
  pagerduty: LabPagerDutyEvent[];
  pagerdutyAlerts: [string, { status: 'triggered' | 'acknowledged' | 'resolved'; events: number }][];
}

export const LAB_SEED_HOSTS: readonly { name: string; platform: 'Windows' | 'Linux' }[] = [
  { name: 'ws-fin-042', platform: 'Windows' },
  { name: 'ws-eng-007', platform: 'Windows' },
  { name: 'srv-db-prod-01', platform: 'Linux' },
  { name: 'srv-web-01', platform: 'Linux' },
  { name: 'dc-01', platform: 'Windows' },
];
export const LAB_SEED_ACCOUNTS: readonly string[] = ['j.doe', 'a.smith', 'svc-backup'];
export const LAB_SLACK_CHANNELS: readonly string[] = [
  'soc',
  'oncall',
  'management',
  'responders',
  'incidents',
];

const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252}[A-Za-z0-9])?$/;
const LOGIN_RE = /^[A-Za-z0-9._%+-]{1,64}$/;
const HISTORY_LIMIT = 5_000;

/** The domain a Gateway traffic expression blocks (`any(dns.domains[*] == "x")`), else the expression. */
function gatewayTarget(traffic: string): string {
  const m = /^any\(dns\.domains\[\*\] == "([^"]+)"\)$/.exec(traffic.trim());
  return m?.[1] ?? traffic;
}

function hex(seed: string, len: number): string {
  return createHash('sha256').update(seed).digest('hex').slice(0, len);
}

function uuidFrom(seed: string): string {
  const h = hex(seed, 32);
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/**
 * The lab estate's state: hosts, accounts, firewall rules, received messages, issued tokens, the ledger of
 * effects and the fault rules. Vendor views (the HTTP router) and tests share one store.
 *
 * Documented lab behaviours:
 * - autoProvision (default on): an unknown host name is created as a normal host on its first lookup (so
 *   tests can use unique random names); unknown account logins likewise become ACTIVE accounts. Names must
 *   look like host names / logins. With autoProvision off, unknown names are "not found" as at the vendors.
 * - Containment transitions: contain puts a host in containment_pending, and it becomes contained
 *   `containmentDelayMs` later (default 0: at once); lift likewise through lift_containment_pending.
 *   Transitions are evaluated lazily on every read, so no timers run.
 * - The ledger records only real changes: a repeated contain of a contained host, a duplicate block, a
 *   suspend of a SUSPENDED user add nothing.
 */
export class LabStore {
  readonly autoProvision: boolean;
  readonly containmentDelayMs: number;
  readonly tokenTtlSeconds: number;
  readonly credentials: LabCredentials;
  readonly now: () => number;
  private readonly statePath?: string;

  private seq = 0;
  private readonly hosts = new Map<string, LabHost>();
  private readonly accounts = new Map<string, LabAccount>();
  private readonly rules = new Map<string, LabAccessRule>();
  private readonly gateway = new Map<string, LabGatewayRule>();
  private machineActionsList: LabMachineAction[] = [];
  private ledgerList: LabLedgerEntry[] = [];
  private messageList: LabMessage[] = [];
  private pagerdutyList: LabPagerDutyEvent[] = [];
  private readonly pagerdutyAlerts = new Map<
    string,
    { status: 'triggered' | 'acknowledged' | 'resolved'; events: number }
  >();
  private readonly tokens = new Map<string, Token>();
  private faultRules: LabFaultRule[] = [];
  private callList: LabCall[] = [];
  private writeChain: Promise<void> = Promise.resolve();
  private dirty = false;
  private readonly tokenCounts: Record<Token['audience'], number> = { crowdstrike: 0, defender: 0, graph: 0 };

  constructor(opts: LabStoreOptions = {}) {
    this.autoProvision = opts.autoProvision ?? true;
    this.containmentDelayMs = opts.containmentDelayMs ?? 0;
    this.tokenTtlSeconds = opts.tokenTtlSeconds ?? 1800;
    this.credentials = opts.credentials ?? LAB_CREDENTIALS;
    this.now = opts.now ?? Date.now;
    this.statePath = opts.statePath;
    for (const h of LAB_SEED_HOSTS) this.createHost(h.name, h.platform);
    for (const a of LAB_SEED_ACCOUNTS) this.createAccount(a);
  }

  /** A store loaded from `opts.statePath` when that file exists (else seeded). */
  static async open(opts: LabStoreOptions = {}): Promise<LabStore> {
    const store = new LabStore(opts);
    if (opts.statePath) await store.load(opts.statePath);
    return store;
  }

  private iso(t = this.now()): string {
    return new Date(t).toISOString();
  }

  private nextSeq(): number {
    return ++this.seq;
  }

  // ------------------------------------------------------------------------------------------ hosts

  private createHost(name: string, platform: 'Windows' | 'Linux' = 'Windows'): LabHost {
    const host: LabHost = {
      name,
      deviceId: hex(`crowdstrike-device:${name.toLowerCase()}`, 32),
      machineId: hex(`defender-machine:${name.toLowerCase()}`, 40),
      platform,
      status: 'normal',
      firstSeen: this.iso(),
    };
    this.hosts.set(name.toLowerCase(), host);
    return host;
  }

  /** Adds a host (or returns the existing one). */
  addHost(name: string, platform: 'Windows' | 'Linux' = 'Windows'): LabHost {
    if (!NAME_RE.test(name)) throw new Error(`invalid lab host name ${JSON.stringify(name)}`);
    const existing = this.hosts.get(name.toLowerCase());
    if (existing) return existing;
    const host = this.createHost(name, platform);
    this.changed();
    return host;
  }

  /** The host by name, settling any due transition; provisioned when allowed and unknown. */
  findHost(name: string, provision = this.autoProvision): LabHost | undefined {
    const existing = this.hosts.get(name.toLowerCase());
    if (existing) return this.settle(existing);
    if (!provision || !NAME_RE.test(name)) return undefined;
    return this.addHost(name, name.startsWith('srv-') ? 'Linux' : 'Windows');
  }

  /** Every host, settled. */
  hostList(): LabHost[] {
    return [...this.hosts.values()].map((h) => this.settle(h));
  }

  hostByDeviceId(id: string): LabHost | undefined {
    for (const h of this.hosts.values()) if (h.deviceId === id) return this.settle(h);
    return undefined;
  }

  hostByMachineId(id: string): LabHost | undefined {
    for (const h of this.hosts.values()) if (h.machineId === id) return this.settle(h);
    return undefined;
  }

  /** Hosts whose name starts with a prefix (Defender's `startswith`). */
  hostsStartingWith(prefix: string): LabHost[] {
    return [...this.hosts.values()].filter((h) => h.name.toLowerCase().startsWith(prefix.toLowerCase()));
  }

  private settle(host: LabHost): LabHost {
    if (host.pendingUntil !== undefined && this.now() >= host.pendingUntil) {
      host.status = host.status === 'containment_pending' ? 'contained' : 'normal';
      host.pendingUntil = undefined;
      this.changed();
    }
    return host;
  }

  /**
   * Contains (or releases) a host. Returns whether anything changed: a host already contained or on its way
   * there is left alone. An opposite pending transition is overridden (last one wins, as at CrowdStrike).
   */
  setContainment(
    host: LabHost,
    want: 'contain' | 'release',
    meta: {
      vendor: LabVendor;
      vendorAction: string;
      call: string;
      incidentId?: string;
      comment?: string;
      vendorRef?: string;
    },
  ): boolean {
    this.settle(host);
    const inState =
      want === 'contain'
        ? host.status === 'contained' || host.status === 'containment_pending'
        : host.status === 'normal' || host.status === 'lift_containment_pending';
    if (inState) return false;
    if (this.containmentDelayMs > 0) {
      host.status = want === 'contain' ? 'containment_pending' : 'lift_containment_pending';
      host.pendingUntil = this.now() + this.containmentDelayMs;
    } else {
      host.status = want === 'contain' ? 'contained' : 'normal';
      host.pendingUntil = undefined;
    }
    this.record({ effect: want, target: host.name, ...meta });
    return true;
  }

  // --------------------------------------------------------------------------- Defender machine actions

  /** A new Isolate/Unisolate machine action; applies the containment change it asks for. */
  addMachineAction(
    host: LabHost,
    type: 'Isolate' | 'Unisolate',
    comment: string,
    scope: string | undefined,
    call: string,
    incidentId?: string,
  ): LabMachineAction {
    const now = this.now();
    const action: LabMachineAction = {
      id: randomUUID(),
      type,
      ...(scope ? { scope } : {}),
      machineId: host.machineId,
      computerDnsName: host.name,
      requestor: this.credentials.azure.clientId,
      requestorComment: comment,
      status: 'Pending',
      creationDateTimeUtc: new Date(now).toISOString(),
      completesAt: now + this.containmentDelayMs,
    };
    this.machineActionsList.push(action);
    this.setContainment(host, type === 'Isolate' ? 'contain' : 'release', {
      vendor: 'defender',
      vendorAction: type.toLowerCase(),
      call,
      comment,
      vendorRef: action.id,
      ...(incidentId ? { incidentId } : {}),
    });
    this.changed();
    return this.settleAction(action);
  }

  private settleAction(a: LabMachineAction): LabMachineAction {
    if (a.status === 'Pending' && this.now() >= a.completesAt) a.status = 'Succeeded';
    return a;
  }

  machineActions(machineId?: string): LabMachineAction[] {
    return this.machineActionsList
      .filter((a) => machineId === undefined || a.machineId === machineId)
      .map((a) => this.settleAction(a))
      .sort((a, b) => b.creationDateTimeUtc.localeCompare(a.creationDateTimeUtc));
  }

  // ------------------------------------------------------------------------------------------ accounts

  private createAccount(login: string): LabAccount {
    const short = login.toLowerCase();
    const account: LabAccount = {
      login: short,
      oktaId: `00u${hex(`okta-user:${short}`, 17)}`,
      objectId: uuidFrom(`entra-user:${short}`),
      upn: `${short}@${LAB_DOMAIN}`,
      status: 'ACTIVE',
      sessions: 1 + (parseInt(hex(`sessions:${short}`, 2), 16) % 3),
    };
    this.accounts.set(short, account);
    return account;
  }

  /** Finds an account by login, login@domain (login or UPN), Okta ID or object ID; provisions if allowed. */
  findAccount(key: string, provision = this.autoProvision): LabAccount | undefined {
    const k = key.toLowerCase();
    const short = k.endsWith(`@${LAB_DOMAIN}`) ? k.slice(0, -(LAB_DOMAIN.length + 1)) : k;
    const direct = this.accounts.get(short);
    if (direct) return direct;
    for (const a of this.accounts.values()) if (a.oktaId.toLowerCase() === k || a.objectId === k) return a;
    if (!provision || !LOGIN_RE.test(short) || short.startsWith('00u')) return undefined;
    const created = this.createAccount(short);
    this.changed();
    return created;
  }

  /** Sets an account's status directly (tests and demos: e.g. LOCKED_OUT). Not recorded in the ledger. */
  setAccountStatus(login: string, status: LabAccountStatus): LabAccount {
    const account = this.findAccount(login, true);
    if (!account) throw new Error(`invalid lab account ${JSON.stringify(login)}`);
    account.status = status;
    this.changed();
    return account;
  }

  /** Applies an account change with a ledger entry; returns whether anything changed. */
  setAccountEnabled(
    account: LabAccount,
    enabled: boolean,
    meta: { vendor: LabVendor; vendorAction: string; call: string; incidentId?: string },
  ): boolean {
    const isEnabled = account.status !== 'SUSPENDED' && account.status !== 'DEPROVISIONED';
    if (isEnabled === enabled) return false;
    account.status = enabled ? 'ACTIVE' : 'SUSPENDED';
    this.record({ effect: enabled ? 'enable' : 'disable', target: account.login, ...meta });
    return true;
  }

  revokeSessions(
    account: LabAccount,
    meta: { vendor: LabVendor; vendorAction: string; call: string; incidentId?: string },
  ): number {
    const n = account.sessions;
    if (n === 0) return 0;
    account.sessions = 0;
    this.record({ effect: 'revoke_sessions', target: account.login, comment: `${n} session(s)`, ...meta });
    return n;
  }

  // ------------------------------------------------------------------------------------------ firewall rules

  accessRules(scope?: { type: 'zone' | 'account'; id: string }): LabAccessRule[] {
    return [...this.rules.values()].filter(
      (r) => !scope || (r.scope.type === scope.type && r.scope.id === scope.id),
    );
  }

  addAccessRule(
    input: Omit<LabAccessRule, 'id' | 'createdOn'>,
    meta: { call: string; incidentId?: string },
  ): LabAccessRule {
    const rule: LabAccessRule = { ...input, id: randomBytes(16).toString('hex'), createdOn: this.iso() };
    this.rules.set(rule.id, rule);
    if (rule.mode === 'block') {
      this.record({
        vendor: 'cloudflare',
        effect: 'block',
        vendorAction: 'create access rule',
        target: rule.configuration.value,
        comment: rule.notes,
        vendorRef: rule.id,
        ...meta,
      });
    }
    this.changed();
    return rule;
  }

  deleteAccessRule(id: string, meta: { call: string; incidentId?: string }): LabAccessRule | undefined {
    const rule = this.rules.get(id);
    if (!rule) return undefined;
    this.rules.delete(id);
    if (rule.mode === 'block') {
      this.record({
        vendor: 'cloudflare',
        effect: 'unblock',
        vendorAction: 'delete access rule',
        target: rule.configuration.value,
        vendorRef: rule.id,
        ...meta,
      });
    }
    this.changed();
    return rule;
  }

  gatewayRules(accountId?: string): LabGatewayRule[] {
    return [...this.gateway.values()].filter((r) => accountId === undefined || r.accountId === accountId);
  }

  addGatewayRule(
    input: Omit<LabGatewayRule, 'id' | 'createdAt' | 'precedence'>,
    meta: { call: string; incidentId?: string },
  ): LabGatewayRule {
    const rule: LabGatewayRule = {
      ...input,
      id: randomUUID(),
      precedence: 1000 + this.gateway.size,
      createdAt: this.iso(),
    };
    this.gateway.set(rule.id, rule);
    if (rule.action === 'block' && rule.enabled) {
      this.record({
        vendor: 'cloudflare',
        effect: 'block',
        vendorAction: 'create Gateway DNS rule',
        target: gatewayTarget(rule.traffic),
        comment: rule.description,
        vendorRef: rule.id,
        ...meta,
      });
    }
    this.changed();
    return rule;
  }

  deleteGatewayRule(id: string, meta: { call: string; incidentId?: string }): LabGatewayRule | undefined {
    const rule = this.gateway.get(id);
    if (!rule) return undefined;
    this.gateway.delete(id);
    if (rule.action === 'block' && rule.enabled) {
      this.record({
        vendor: 'cloudflare',
        effect: 'unblock',
        vendorAction: 'delete Gateway DNS rule',
        target: gatewayTarget(rule.traffic),
        vendorRef: rule.id,
        ...meta,
      });
    }
    this.changed();
    return rule;
  }

  // ------------------------------------------------------------------------------------------ messages

  addMessage(m: Omit<LabMessage, 'seq' | 'at' | 'ts'>): LabMessage {
    const now = this.now();
    const seq = this.nextSeq();
    const msg: LabMessage = {
      ...m,
      seq,
      at: this.iso(now),
      ts: `${Math.floor(now / 1000)}.${String(seq).padStart(6, '0')}`,
    };
    this.messageList.push(msg);
    this.trim(this.messageList);
    this.changed();
    return msg;
  }

  addPagerDutyEvent(e: Omit<LabPagerDutyEvent, 'seq' | 'at'>): LabPagerDutyEvent {
    const event: LabPagerDutyEvent = { ...e, seq: this.nextSeq(), at: this.iso() };
    this.pagerdutyList.push(event);
    this.trim(this.pagerdutyList);
    const alert = this.pagerdutyAlerts.get(e.dedupKey);
    const status =
      e.eventAction === 'resolve'
        ? 'resolved'
        : e.eventAction === 'acknowledge'
          ? 'acknowledged'
          : 'triggered';
    if (alert) {
      // A trigger on a resolved alert opens a new one at PagerDuty; the lab just reopens it.
      alert.status = status;
      alert.events += 1;
    } else if (e.eventAction === 'trigger') {
      this.pagerdutyAlerts.set(e.dedupKey, { status, events: 1 });
    }
    this.changed();
    return event;
  }

  // ------------------------------------------------------------------------------------------ tokens

  issueToken(audience: Token['audience']): { token: string; expiresIn: number } {
    const token = `lab-${audience}-${randomBytes(18).toString('base64url')}`;
    this.tokens.set(token, { audience, expiresAt: this.now() + this.tokenTtlSeconds * 1000 });
    this.tokenCounts[audience] += 1;
    return { token, expiresIn: this.tokenTtlSeconds };
  }

  tokenValid(token: string | undefined, audience: Token['audience']): boolean {
    if (!token) return false;
    const t = this.tokens.get(token);
    if (!t || t.audience !== audience) return false;
    if (this.now() >= t.expiresAt) {
      this.tokens.delete(token);
      return false;
    }
    return true;
  }

  /** Invalidates every issued token (of one audience): the next call with one gets a 401. */
  expireTokens(audience?: Token['audience']): number {
    let n = 0;
    for (const [k, t] of this.tokens) {
      if (!audience || t.audience === audience) {
        this.tokens.delete(k);
        n++;
      }
    }
    return n;
  }

  /** How many tokens the lab issued per audience (token refresh tests). */
  tokensIssued(): Record<'crowdstrike' | 'defender' | 'graph', number> {
    return { ...this.tokenCounts };
  }

  // ------------------------------------------------------------------------------------------ faults

  /** Adds a fault rule (validated); returns it with its ID. */
  addFault(input: LabFaultInput): LabFaultRule {
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
    this.faultRules.push(rule);
    return rule;
  }

  clearFaults(): void {
    this.faultRules = [];
  }

  removeFault(id: string): boolean {
    const before = this.faultRules.length;
    this.faultRules = this.faultRules.filter((r) => r.id !== id);
    return this.faultRules.length < before;
  }

  faults(): LabFaultRule[] {
    return this.faultRules.map((r) => ({ ...r, match: { ...r.match } }));
  }

  /**
   * The fault (if any) for a request: the first rule whose vendor, method and path pattern (a regular
   * expression tested against the path with its query string) match, subject to its probability. A rule
   * that has fired `times` times is removed.
   */
  takeFault(vendor: LabVendor, method: string, url: string): LabFaultRule | undefined {
    for (const rule of this.faultRules) {
      const m = rule.match;
      if (m.vendor && m.vendor !== vendor) continue;
      if (m.method && m.method.toUpperCase() !== method.toUpperCase()) continue;
      if (m.pathPattern && !new RegExp(m.pathPattern).test(url)) continue;
      if (rule.probability !== undefined && Math.random() >= rule.probability) continue;
      rule.hits += 1;
      if (rule.times !== undefined && rule.hits >= rule.times) this.removeFault(rule.id);
      return { ...rule };
    }
    return undefined;
  }

  // ------------------------------------------------------------------------------------------ inspection

  private record(e: Omit<LabLedgerEntry, 'seq' | 'at'>): void {
    this.ledgerList.push({ seq: this.nextSeq(), at: this.iso(), ...e });
    this.trim(this.ledgerList);
    this.changed();
  }

  /** The ledger of effects, oldest first, optionally filtered. */
  ledger(
    filter: { vendor?: string; target?: string; effect?: string; incidentId?: string } = {},
  ): LabLedgerEntry[] {
    return this.ledgerList.filter(
      (e) =>
        (!filter.vendor || e.vendor === filter.vendor) &&
        (!filter.target || e.target.toLowerCase() === filter.target.toLowerCase()) &&
        (!filter.effect || e.effect === filter.effect) &&
        (!filter.incidentId || e.incidentId === filter.incidentId),
    );
  }

  /** Received messages (Slack API and incoming webhooks), oldest first. */
  messages(filter: { channel?: string; kind?: LabMessage['kind'] } = {}): LabMessage[] {
    return this.messageList.filter(
      (m) => (!filter.channel || m.channel === filter.channel) && (!filter.kind || m.kind === filter.kind),
    );
  }

  pagerDutyEvents(): LabPagerDutyEvent[] {
    return [...this.pagerdutyList];
  }

  pagerDutyAlerts(): Record<string, { status: string; events: number }> {
    return Object.fromEntries([...this.pagerdutyAlerts].map(([k, v]) => [k, { ...v }]));
  }

  recordCall(c: Omit<LabCall, 'seq' | 'at'>): void {
    this.callList.push({ seq: this.nextSeq(), at: this.iso(), ...c });
    this.trim(this.callList);
  }

  /** Vendor calls the lab answered (most recent {@link HISTORY_LIMIT}), oldest first. */
  calls(filter: { vendor?: string; method?: string; pathIncludes?: string } = {}): LabCall[] {
    return this.callList.filter(
      (c) =>
        (!filter.vendor || c.vendor === filter.vendor) &&
        (!filter.method || c.method === filter.method.toUpperCase()) &&
        (!filter.pathIncludes || c.url.includes(filter.pathIncludes)),
    );
  }

  /** Everything a person wants to see: the body of `GET /lab/state`. */
  snapshot() {
    return {
      hosts: [...this.hosts.values()].map((h) => {
        this.settle(h);
        return {
          name: h.name,
          deviceId: h.deviceId,
          machineId: h.machineId,
          platform: h.platform,
          status: h.status,
        };
      }),
      accounts: [...this.accounts.values()].map((a) => ({
        login: a.login,
        upn: a.upn,
        oktaId: a.oktaId,
        objectId: a.objectId,
        status: a.status,
        sessions: a.sessions,
      })),
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
      messages: {
        slack: this.messages(),
        pagerduty: this.pagerDutyEvents(),
        pagerdutyAlerts: this.pagerDutyAlerts(),
      },
      faults: this.faults(),
      tokensIssued: this.tokensIssued(),
      options: {
        autoProvision: this.autoProvision,
        containmentDelayMs: this.containmentDelayMs,
        tokenTtlSeconds: this.tokenTtlSeconds,
        persisted: Boolean(this.statePath),
      },
    };
  }

  private trim<T>(list: T[]): void {
    if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
  }

  // ------------------------------------------------------------------------------------------ persistence

  private changed(): void {
    if (!this.statePath) return;
    if (this.dirty) return;
    this.dirty = true;
    this.writeChain = this.writeChain.then(async () => {
      await Promise.resolve();
      this.dirty = false;
      await this.writeState().catch(() => undefined);
    });
  }

  /** Waits for pending state writes. */
  async flush(): Promise<void> {
    await this.writeChain;
  }

  private async writeState(): Promise<void> {
    if (!this.statePath) return;
    const state: PersistedState = {
      version: 1,
      seq: this.seq,
      hosts: [...this.hosts.values()],
      accounts: [...this.accounts.values()],
      rules: [...this.rules.values()],
      gatewayRules: [...this.gateway.values()],
      machineActions: this.machineActionsList,
      ledger: this.ledgerList,
      messages: this.messageList,
      pagerduty: this.pagerdutyList,
      pagerdutyAlerts: [...this.pagerdutyAlerts],
    };
    await fs.mkdir(path.dirname(this.statePath), { recursive: true });
    const tmp = `${this.statePath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, this.statePath);
  }

  private async load(file: string): Promise<void> {
    let text: string;
    try {
      text = await fs.readFile(file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    const s = JSON.parse(text) as PersistedState;
    if (s.version !== 1) throw new Error(`lab state ${file}: unsupported version ${String(s.version)}`);
    this.seq = s.seq;
    this.hosts.clear();
    for (const h of s.hosts) this.hosts.set(h.name.toLowerCase(), h);
    this.accounts.clear();
    for (const a of s.accounts) this.accounts.set(a.login, a);
    this.rules.clear();
    for (const r of s.rules) this.rules.set(r.id, r);
    this.gateway.clear();
    for (const r of s.gatewayRules ?? []) this.gateway.set(r.id, r);
    this.machineActionsList = s.machineActions;
    this.ledgerList = s.ledger;
    this.messageList = s.messages;
    this.pagerdutyList = s.pagerduty;
    this.pagerdutyAlerts.clear();
    for (const [k, v] of s.pagerdutyAlerts) this.pagerdutyAlerts.set(k, v);
  }
}
