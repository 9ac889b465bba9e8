import { LAB_CREDENTIALS, type LabCredentials, type LabVendor } from './credentials';
import { type AccountMeta, type LabAccount, type LabAccountStatus, LabAccounts } from './estate/accounts';
import { type LabAccessRule, type LabGatewayRule, LabBlocklists, type RuleMeta } from './estate/blocklists';
import { type LabFaultInput, type LabFaultRule, LabFaultRules } from './estate/fault-rules';
import { type EstateContext, type LabCall, type LabLedgerEntry, LabHistory } from './estate/history';
import { type FalconMeta, LabFalcon, type LabFalconIndicator, type LabScan } from './estate/falcon';
import {
  type ContainmentMeta,
  type LabActionOutcome,
  type LabHost,
  type LabMachineAction,
  LabHosts,
  type ResponseActionRequest,
} from './estate/hosts';
import { type LabMessage, type LabPagerDutyEvent, type LabSlackResponse, LabInbox } from './estate/inbox';
import {
  type LabIndicator,
  type LabIndicatorInput,
  type LabIndicatorKind,
  LabIndicators,
} from './estate/indicators';
import { type PersistedState, StateFile } from './estate/persistence';
import { type LabJiraIssue, type LabServiceNowIncident, LabTickets } from './estate/tickets';
import { LabTokens, type TokenAudience } from './estate/tokens';

export interface LabStoreOptions {
  /** Unknown host names (and account logins) are created, normal / ACTIVE, on first lookup. Default true. */
  autoProvision?: boolean;
  /** contain / lift go through *_pending for this long before settling (default 0: immediate). */
  containmentDelayMs?: number;
  /**
   * Response actions (Defender scans, quarantines, package collections; Falcon on-demand scans) are
   * Pending / pending for the first half of this and InProgress / running for the second (default 0).
   */
  responseActionDelayMs?: number;
  /** Lifetime of OAuth tokens the lab issues (default 1800 s). */
  tokenTtlSeconds?: number;
  /** Persist the estate to this file (atomically, after every change). In memory when absent. */
  statePath?: string;
  credentials?: LabCredentials;
  now?: () => number;
}

/**
 * The lab estate's state: hosts, accounts, firewall rules, received messages, issued tokens, the ledger of
 * effects and the fault rules. Vendor views (the HTTP router) and tests share one store; each part of the
 * estate lives in `estate/`, and the store is their one face.
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
  readonly responseActionDelayMs: number;
  readonly tokenTtlSeconds: number;
  readonly credentials: LabCredentials;
  readonly now: () => number;

  private seq = 0;
  private readonly file?: StateFile;
  private readonly history: LabHistory;
  private readonly hosts: LabHosts;
  private readonly falcon: LabFalcon;
  private readonly accounts: LabAccounts;
  private readonly blocklists: LabBlocklists;
  private readonly inbox: LabInbox;
  private readonly tokens: LabTokens;
  /** Jira issues and ServiceNow incident records (the vendors' routers work on it directly). */
  readonly tickets: LabTickets;
  private readonly intel: LabIndicators;
  private readonly faultRules = new LabFaultRules();

  constructor(opts: LabStoreOptions = {}) {
    this.autoProvision = opts.autoProvision ?? true;
    this.containmentDelayMs = opts.containmentDelayMs ?? 0;
    this.responseActionDelayMs = opts.responseActionDelayMs ?? 0;
    this.tokenTtlSeconds = opts.tokenTtlSeconds ?? 1800;
    this.credentials = opts.credentials ?? LAB_CREDENTIALS;
    this.now = opts.now ?? Date.now;
    if (opts.statePath) this.file = new StateFile(opts.statePath, () => this.persisted());
    const ctx: EstateContext = {
      now: () => this.now(),
      nextSeq: () => ++this.seq,
      changed: () => this.file?.changed(),
      record: (e) => this.history.record(e),
    };
    this.history = new LabHistory(ctx);
    this.hosts = new LabHosts(ctx, {
      containmentDelayMs: this.containmentDelayMs,
      responseActionDelayMs: this.responseActionDelayMs,
      requestor: this.credentials.azure.clientId,
      contain: (host, want, meta) => this.setContainment(host, want, meta),
    });
    this.falcon = new LabFalcon(ctx, {
      responseActionDelayMs: this.responseActionDelayMs,
      createdBy: this.credentials.crowdstrike.clientId,
    });
    this.accounts = new LabAccounts(ctx);
    this.blocklists = new LabBlocklists(ctx);
    this.inbox = new LabInbox(ctx);
    this.intel = new LabIndicators(ctx);
    this.tokens = new LabTokens(() => this.now(), this.tokenTtlSeconds);
    this.tickets = new LabTickets(ctx);
  }

  /** A store loaded from `opts.statePath` when that file exists (else seeded). */
  static async open(opts: LabStoreOptions = {}): Promise<LabStore> {
    const store = new LabStore(opts);
    const saved = await store.file?.read();
    if (saved) store.restore(saved);
    return store;
  }

  // ------------------------------------------------------------------------------------------ hosts

  /** Adds a host (or returns the existing one). */
  addHost(name: string, platform: 'Windows' | 'Linux' = 'Windows'): LabHost {
    return this.hosts.add(name, platform);
  }

  /** The host by name, settling any due transition; provisioned when allowed and unknown. */
  findHost(name: string, provision = this.autoProvision): LabHost | undefined {
    return this.hosts.find(name, provision);
  }

  /** Every host, settled. */
  hostList(): LabHost[] {
    return this.hosts.list();
  }

  hostByDeviceId(id: string): LabHost | undefined {
    return this.hosts.byDeviceId(id);
  }

  hostByMachineId(id: string): LabHost | undefined {
    return this.hosts.byMachineId(id);
  }

  /** Hosts whose name starts with a prefix (Defender's `startswith`). */
  hostsStartingWith(prefix: string): LabHost[] {
    return this.hosts.startingWith(prefix);
  }

  /**
   * Contains (or releases) a host. Returns whether anything changed: a host already contained or on its way
   * there is left alone. An opposite pending transition is overridden (last one wins, as at CrowdStrike).
   * Every vendor's containment goes through here (Defender's machine actions too).
   */
  setContainment(host: LabHost, want: 'contain' | 'release', meta: ContainmentMeta): boolean {
    return this.hosts.setContainment(host, want, meta);
  }

  /** A new Isolate/Unisolate machine action (host, type, comment, scope, call, incident); applies the containment change it asks for. */
  addMachineAction(...action: Parameters<LabHosts['addMachineAction']>): LabMachineAction {
    return this.hosts.addMachineAction(...action);
  }

  machineActions(machineId?: string): LabMachineAction[] {
    return this.hosts.machineActions(machineId);
  }

  machineAction(id: string): LabMachineAction | undefined {
    return this.hosts.machineAction(id);
  }

  /** A Defender scan, quarantine or package collection on the host (see LabHosts.addResponseAction). */
  addResponseAction(host: LabHost, req: ResponseActionRequest): LabMachineAction {
    return this.hosts.addResponseAction(host, req);
  }

  /** The host's next response action (either vendor's) ends with `outcome` instead of succeeding; undefined clears it. */
  setNextActionOutcome(host: LabHost, outcome: LabActionOutcome | undefined): void {
    this.hosts.setNextActionOutcome(host, outcome);
  }

  // ------------------------------------------------------------------------------------------ Falcon IOCs, scans

  /** Custom IOCs (a prevent SHA-256 is the lab's record of a Falcon quarantine). */
  falconIndicators(): LabFalconIndicator[] {
    return this.falcon.indicators();
  }

  findFalconIndicator(type: string, value: string): LabFalconIndicator | undefined {
    return this.falcon.findIndicator(type, value);
  }

  addFalconIndicator(input: Parameters<LabFalcon['addIndicator']>[0], meta: FalconMeta): LabFalconIndicator {
    return this.falcon.addIndicator(input, meta);
  }

  deleteFalconIndicator(id: string, meta: FalconMeta): LabFalconIndicator | undefined {
    return this.falcon.deleteIndicator(id, meta);
  }

  /** An on-demand scan of these hosts; the first host told to fail its next action makes it end so. */
  addScan(input: Parameters<LabFalcon['addScan']>[0], hosts: LabHost[], meta: FalconMeta): LabScan {
    let outcome: LabActionOutcome | undefined;
    for (const h of hosts) outcome ??= this.hosts.takeNextOutcome(h);
    return this.falcon.addScan(
      input,
      outcome,
      hosts.map((h) => h.name),
      meta,
    );
  }

  scans(): LabScan[] {
    return this.falcon.scans();
  }

  scan(id: string): LabScan | undefined {
    return this.falcon.scan(id);
  }

  // ------------------------------------------------------------------------------------------ accounts

  /** Finds an account by login, login@domain (login or UPN), Okta ID or object ID; provisions if allowed. */
  findAccount(key: string, provision = this.autoProvision): LabAccount | undefined {
    return this.accounts.find(key, provision);
  }

  /** Sets an account's status directly (tests and demos: e.g. LOCKED_OUT). Not recorded in the ledger. */
  setAccountStatus(login: string, status: LabAccountStatus): LabAccount {
    return this.accounts.setStatus(login, status);
  }

  /** Applies an account change with a ledger entry; returns whether anything changed. */
  setAccountEnabled(account: LabAccount, enabled: boolean, meta: AccountMeta): boolean {
    return this.accounts.setEnabled(account, enabled, meta);
  }

  revokeSessions(account: LabAccount, meta: AccountMeta): number {
    return this.accounts.revokeSessions(account, meta);
  }

  // ------------------------------------------------------------------------------------------ firewall rules

  accessRules(scope?: { type: 'zone' | 'account'; id: string }): LabAccessRule[] {
    return this.blocklists.accessRules(scope);
  }

  addAccessRule(input: Omit<LabAccessRule, 'id' | 'createdOn'>, meta: RuleMeta): LabAccessRule {
    return this.blocklists.addAccessRule(input, meta);
  }

  deleteAccessRule(id: string, meta: RuleMeta): LabAccessRule | undefined {
    return this.blocklists.deleteAccessRule(id, meta);
  }

  gatewayRules(accountId?: string): LabGatewayRule[] {
    return this.blocklists.gatewayRules(accountId);
  }

  addGatewayRule(
    input: Omit<LabGatewayRule, 'id' | 'createdAt' | 'precedence'>,
    meta: RuleMeta,
  ): LabGatewayRule {
    return this.blocklists.addGatewayRule(input, meta);
  }

  deleteGatewayRule(id: string, meta: RuleMeta): LabGatewayRule | undefined {
    return this.blocklists.deleteGatewayRule(id, meta);
  }

  // ------------------------------------------------------------------------------------------ messages

  addMessage(m: Omit<LabMessage, 'seq' | 'at' | 'ts'>): LabMessage {
    return this.inbox.addMessage(m);
  }

  addPagerDutyEvent(e: Omit<LabPagerDutyEvent, 'seq' | 'at'>): LabPagerDutyEvent {
    return this.inbox.addPagerDutyEvent(e);
  }

  /** A post to a Slack message's response_url (see LabInbox.respondTo). */
  respondToSlackMessage(ts: string, r: Omit<LabSlackResponse, 'at'>): LabSlackResponse | undefined {
    return this.inbox.respondTo(ts, r);
  }

  /** Received messages (Slack API and incoming webhooks), oldest first. */
  messages(filter: { channel?: string; kind?: LabMessage['kind'] } = {}): LabMessage[] {
    return this.inbox.messages(filter);
  }

  pagerDutyEvents(): LabPagerDutyEvent[] {
    return this.inbox.pagerDutyEvents();
  }

  pagerDutyAlerts(): Record<string, { status: string; events: number }> {
    return this.inbox.pagerDutyAlerts();
  }

  // ------------------------------------------------------------------------------------------ tickets

  /** The lab Jira's issues, oldest first. */
  jiraIssues(): LabJiraIssue[] {
    return this.tickets.jiraIssues();
  }

  /** The lab ServiceNow's incident records, oldest first. */
  serviceNowIncidents(): LabServiceNowIncident[] {
    return this.tickets.serviceNowIncidents();
  }

  // ------------------------------------------------------------------------------------------ intelligence

  /**
   * Adds (or replaces) an indicator the lab's VirusTotal and AbuseIPDB know, with each one's view of it.
   * Thrown: Error when the kind, value or a view is malformed.
   */
  addIndicator(input: LabIndicatorInput): LabIndicator {
    return this.intel.add(input);
  }

  /** The indicator by kind and value (a file also by its MD5 or SHA-1); undefined when unknown. */
  findIndicator(kind: LabIndicatorKind, value: string): LabIndicator | undefined {
    return this.intel.find(kind, value);
  }

  indicators(): LabIndicator[] {
    return this.intel.list();
  }

  // ------------------------------------------------------------------------------------------ tokens

  issueToken(audience: TokenAudience): { token: string; expiresIn: number } {
    return this.tokens.issue(audience);
  }

  tokenValid(token: string | undefined, audience: TokenAudience): boolean {
    return this.tokens.valid(token, audience);
  }

  /** Invalidates every issued token (of one audience): the next call with one gets a 401. */
  expireTokens(audience?: TokenAudience): number {
    return this.tokens.expire(audience);
  }

  /** How many tokens the lab issued per audience (token refresh tests). */
  tokensIssued(): Record<TokenAudience, number> {
    return this.tokens.issued();
  }

  // ------------------------------------------------------------------------------------------ faults

  /** Adds a fault rule (validated); returns it with its ID. */
  addFault(input: LabFaultInput): LabFaultRule {
    return this.faultRules.add(input);
  }

  clearFaults(): void {
    this.faultRules.clear();
  }

  removeFault(id: string): boolean {
    return this.faultRules.remove(id);
  }

  faults(): LabFaultRule[] {
    return this.faultRules.list();
  }

  /**
   * The fault (if any) for a request: the first rule whose vendor, method and path pattern (a regular
   * expression tested against the path with its query string) match, subject to its probability. A rule
   * that has fired `times` times is removed.
   */
  takeFault(vendor: LabVendor, method: string, url: string): LabFaultRule | undefined {
    return this.faultRules.take(vendor, method, url);
  }

  // ------------------------------------------------------------------------------------------ inspection

  /** The ledger of effects, oldest first, optionally filtered. */
  ledger(
    filter: { vendor?: string; target?: string; effect?: string; incidentId?: string } = {},
  ): LabLedgerEntry[] {
    return this.history.ledger(filter);
  }

  recordCall(c: Omit<LabCall, 'seq' | 'at'>): void {
    this.history.recordCall(c);
  }

  /** Vendor calls the lab answered (the most recent 5,000), oldest first. */
  calls(filter: { vendor?: string; method?: string; pathIncludes?: string } = {}): LabCall[] {
    return this.history.calls(filter);
  }

  /** Everything a person wants to see: the body of `GET /lab/state`. */
  snapshot() {
    return {
      hosts: this.hosts.snapshot(),
      accounts: this.accounts.snapshot(),
      ...this.blocklists.snapshot(),
      falconIndicators: this.falconIndicators(),
      scans: this.scans().map(({ startsAt: _s, completesAt: _c, outcome: _o, ...scan }) => scan),
      messages: {
        slack: this.messages(),
        pagerduty: this.pagerDutyEvents(),
        pagerdutyAlerts: this.pagerDutyAlerts(),
      },
      tickets: { jira: this.jiraIssues(), servicenow: this.serviceNowIncidents() },
      indicators: this.intel.snapshot(),
      faults: this.faults(),
      tokensIssued: this.tokensIssued(),
      options: {
        autoProvision: this.autoProvision,
        containmentDelayMs: this.containmentDelayMs,
        responseActionDelayMs: this.responseActionDelayMs,
        tokenTtlSeconds: this.tokenTtlSeconds,
        persisted: Boolean(this.file),
      },
    };
  }

  // ------------------------------------------------------------------------------------------ persistence

  /** Waits for pending state writes. */
  async flush(): Promise<void> {
    await this.file?.flush();
  }

  private persisted(): PersistedState {
    const { hosts, machineActions } = this.hosts.persisted();
    const { rules, gatewayRules } = this.blocklists.persisted();
    const { messages, pagerduty, pagerdutyAlerts } = this.inbox.persisted();
    return {
      version: 1,
      seq: this.seq,
      hosts,
      accounts: this.accounts.persisted(),
      rules,
      gatewayRules,
      machineActions,
      ...this.falcon.persisted(),
      ledger: this.history.persisted(),
      messages,
      pagerduty,
      pagerdutyAlerts,
      ...this.tickets.persisted(),
      indicators: this.intel.persisted(),
    };
  }

  private restore(s: PersistedState): void {
    this.seq = s.seq;
    this.hosts.restore(s.hosts, s.machineActions);
    this.falcon.restore(s.falconIndicators ?? [], s.scans ?? []);
    this.accounts.restore(s.accounts);
    this.blocklists.restore(s.rules, s.gatewayRules ?? []);
    this.history.restore(s.ledger);
    this.inbox.restore(s.messages, s.pagerduty, s.pagerdutyAlerts);
    this.tickets.restore(s.jiraIssues, s.serviceNowIncidents);
    if (s.indicators) this.intel.restore(s.indicators);
  }
}
