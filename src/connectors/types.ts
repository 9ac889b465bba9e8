/**
 * Connector interfaces, one per capability. Activities call these; vendor implementations and the built-in
 * lab implement them. Every mutating call takes an idempotency key (`incidentId:actionId`, stable across
 * activity retries and continue-as-new) and treats "already in the desired state" as success.
 * Errors: only the classes in `./errors`.
 */
import type { ApprovalNotice } from '../domain/approval-notice';
import type { TicketSystem } from './tickets/types';
import type { ThreatIntel } from './intel/types';

/** Context every mutating call carries, so the vendor's record names the incident. */
export interface ActionContext {
  idempotencyKey: string;
  incidentId: string;
  /** Human-readable reason recorded at the vendor (comment / notes field). */
  comment: string;
}

export interface EffectResult {
  /** True when the target was already in the desired state and nothing was changed. */
  alreadyInState: boolean;
  /** The vendor's reference for what it did (action ID, rule ID, ...), when it gives one. */
  vendorRef?: string;
  /** What a responder should know of the outcome that the rest does not say (e.g. files it could not act on). */
  detail?: string;
}

export type HostContainmentState =
  'normal' | 'containment_pending' | 'contained' | 'lift_containment_pending';
export interface EdrConnector {
  readonly vendor: string;
  isolateHost(host: string, ctx: ActionContext): Promise<EffectResult>;
  releaseHost(host: string, ctx: ActionContext): Promise<EffectResult>;
  getHostState(host: string): Promise<HostContainmentState>;
  /**
   * Eradication and investigation actions, where the vendor has them. Optional (and one object rather than
   * optional methods on the connector) so that an EDR without them, or a test fixture, still satisfies the
   * interface, and a caller checks one property before offering any of them.
   */
  readonly responseActions?: EdrResponseActions;
}

/** A file by its hashes (lower- or upper-case hex); which one a vendor needs is said on its method. */
export interface FileHashes {
  sha1?: string;
  sha256?: string;
}

export type AntivirusScanType = 'quick' | 'full';

/** The bytes of an investigation package and where they came from (for the evidence record). */
export interface InvestigationPackage {
  content: Buffer;
  /** A file name for the bytes, e.g. `investigation-package-ws-1-<action id>.zip`. */
  fileName: string;
  /** The vendor's action ID that collected the package. */
  vendorRef: string;
  /** Where the bytes came from, e.g. `defender:machineaction/<id>` (never the download URI: it is a credential). */
  source: string;
}

/**
 * Response actions on one host. The vendors run them asynchronously: every method returns only once the
 * vendor's action reached a final state (polled at a bounded interval, up to a deadline). Each call carries
 * an {@link ActionContext}: the incident is named in the vendor's comment field and the idempotency key lets a
 * retried call find the action its first attempt started instead of starting a second one.
 *
 * Thrown (besides the usual transport errors): `PermanentConnectorError` for a malformed hash (before any
 * call), for an action the vendor reports Failed / TimeOut / Cancelled, and `UnsupportedActionError` (kind
 * `permanent`) for what the vendor lacks; `TransientConnectorError` when the action is still running at the
 * deadline (a retry finds it and waits again).
 */
export interface EdrResponseActions {
  /** Starts an antivirus scan of the host and waits for it to finish. */
  runAntivirusScan(
    host: string,
    opts: { scanType: AntivirusScanType },
    ctx: ActionContext,
  ): Promise<EffectResult>;
  /** Stops and quarantines a file (by hash) and waits for the vendor to confirm it. */
  quarantineFile(host: string, file: FileHashes, ctx: ActionContext): Promise<EffectResult>;
  /** Undoes {@link quarantineFile}; present only where the vendor's API has an undo. */
  releaseQuarantinedFile?(host: string, file: FileHashes, ctx: ActionContext): Promise<EffectResult>;
  /** Collects the vendor's forensic package from the host and downloads it. */
  collectInvestigationPackage(host: string, ctx: ActionContext): Promise<InvestigationPackage>;
}

export type AccountState = 'active' | 'disabled';
export interface IdentityConnector {
  readonly vendor: string;
  disableAccount(account: string, ctx: ActionContext): Promise<EffectResult>;
  enableAccount(account: string, ctx: ActionContext): Promise<EffectResult>;
  revokeSessions(account: string, ctx: ActionContext): Promise<EffectResult>;
  getAccountState(account: string): Promise<AccountState>;
}

export type BlockState = 'blocked' | 'allowed';
export interface FirewallConnector {
  readonly vendor: string;
  blockIp(ip: string, ctx: ActionContext): Promise<EffectResult>;
  unblockIp(ip: string, ctx: ActionContext): Promise<EffectResult>;
  blockDomain(domain: string, ctx: ActionContext): Promise<EffectResult>;
  unblockDomain(domain: string, ctx: ActionContext): Promise<EffectResult>;
  getIpState(ip: string): Promise<BlockState>;
  getDomainState(domain: string): Promise<BlockState>;
}

export interface LogReadRequest {
  host: string;
  /** ISO-8601 window bounds. */
  from: string;
  to: string;
}
export interface LogReadResult {
  /** Where the lines came from, e.g. "file:/var/log/hosts/ws-1/*.log" or "lab". */
  source: string;
  content: Buffer;
  lineCount: number;
}
export interface LogSource {
  readonly name: string;
  readHostLogs(req: LogReadRequest): Promise<LogReadResult>;
}

/** One piece of evidence and its chain-of-custody record (NIST SP 800-61/800-86). */
export interface EvidenceRecord {
  evidenceId: string;
  incidentId: string;
  /** What it is, e.g. "logs:ws-fin-042". */
  name: string;
  sha256: string;
  sizeBytes: number;
  /** Where it is stored, e.g. "file:///var/lib/quell/evidence/sha256/ab/abcd...". */
  location: string;
  /** Who or what collected it: "quell-worker@host (activity snapshotLogs, attempt 1)". */
  collectedBy: string;
  /** ISO-8601 with the collector's UTC offset, e.g. "2026-11-28T09:14:03.120+00:00". */
  collectedAt: string;
  timeZone: string;
  source: string;
  /** The host or other target the evidence is about. */
  subject: string;
  window?: { from: string; to: string };
  custody: { at: string; actor: string; action: string; note?: string }[];
}

export interface EvidencePutRequest {
  incidentId: string;
  name: string;
  content: Buffer;
  collectedBy: string;
  source: string;
  subject: string;
  window?: { from: string; to: string };
  /** Makes a repeated put (an activity retry) return the first record instead of a second one. */
  idempotencyKey: string;
}
export interface EvidenceStore {
  put(req: EvidencePutRequest): Promise<EvidenceRecord>;
  get(evidenceId: string): Promise<{ record: EvidenceRecord; content: Buffer }>;
  /** Recomputes the hash of the stored bytes and compares it with the record. */
  verify(evidenceId: string): Promise<{ ok: boolean; expected: string; actual: string }>;
  list(incidentId: string): Promise<EvidenceRecord[]>;
}

export type { ApprovalNotice };

export interface Notification {
  /** A route name from configuration, e.g. "soc-slack", "oncall-pagerduty". */
  route: string;
  incidentId: string;
  subject: string;
  text: string;
  severity: 'critical' | 'high' | 'medium' | 'low';
  /** Vendors with dedup (PagerDuty) use it; others record it. */
  dedupKey: string;
  /** Stable per message, so a retried send is not delivered twice where the vendor allows. */
  idempotencyKey: string;
  /** trigger / resolve, for paging routes. */
  eventAction?: 'trigger' | 'resolve';
  link?: string;
  /** Set when the notification asks for a decision: chat channels render it with Approve / Reject. */
  approval?: ApprovalNotice;
}

export interface NotifyResult {
  route: string;
  delivered: boolean;
  vendorRef?: string;
}
export interface Notifier {
  /** Route names this notifier can deliver to. */
  routes(): string[];
  send(n: Notification): Promise<NotifyResult>;
}

/** Everything the activities need, chosen from configuration (vendors) or the built-in lab. */
export interface Connectors {
  edr: EdrConnector;
  identity: IdentityConnector;
  firewall: FirewallConnector;
  logs: LogSource;
  evidence: EvidenceStore;
  notifier: Notifier;
  /** Ticket sync (`QUELL_TICKETS`); absent when it is off (the default). */
  tickets?: TicketSystem;
  /** Threat-intelligence lookups (`QUELL_INTEL`); absent when turned off (`none`). */
  intel?: ThreatIntel;
}

export type {
  CloseTicketRequest,
  OpenTicketRequest,
  OpenTicketResult,
  TicketResolution,
  TicketSeverity,
  TicketSystem,
} from './tickets/types';
