import { randomBytes, randomUUID } from 'node:crypto';
import type { HostContainmentState } from '../../types';
import type { LabVendor } from '../credentials';
import { type EstateContext, isoAt } from './history';
import { hex } from './ids';

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
  /** Files stopped and quarantined on this host (Defender StopAndQuarantineFile), oldest first. */
  quarantinedFiles?: LabQuarantinedFile[];
  /** How the next response action on this host ends (set from the control plane; consumed once). */
  nextActionOutcome?: LabActionOutcome;
}

export interface LabQuarantinedFile {
  sha1: string;
  at: string;
  vendorRef: string;
  incidentId?: string;
}

/** How a response action may end besides Succeeded (Defender's names; Falcon scans map them). */
export type LabActionOutcome = 'Failed' | 'TimeOut' | 'Cancelled';
export const LAB_ACTION_OUTCOMES: readonly LabActionOutcome[] = ['Failed', 'TimeOut', 'Cancelled'];

export type LabResponseActionType =
  'RunAntiVirusScan' | 'StopAndQuarantineFile' | 'CollectInvestigationPackage';

export interface LabMachineAction {
  id: string;
  type: 'Isolate' | 'Unisolate' | LabResponseActionType;
  scope?: string;
  machineId: string;
  computerDnsName: string;
  requestor: string;
  requestorComment: string;
  status: 'Pending' | 'InProgress' | 'Succeeded' | LabActionOutcome;
  creationDateTimeUtc: string;
  /** Response actions: when Pending turns InProgress (epoch ms). */
  startsAt?: number;
  completesAt: number;
  /** Response actions: the final status they reach at `completesAt`. */
  outcome?: 'Succeeded' | LabActionOutcome;
  relatedFileInfo?: { fileIdentifier: string; fileIdentifierType: 'Sha1' };
  /** CollectInvestigationPackage: the signature of its download URI. */
  packageToken?: string;
}

/** What a response action is requested with. */
export interface ResponseActionRequest {
  type: LabResponseActionType;
  comment: string;
  scope?: string;
  sha1?: string;
  call: string;
  incidentId?: string;
}

const LEDGER_EFFECT = {
  RunAntiVirusScan: 'scan',
  StopAndQuarantineFile: 'quarantine_file',
  CollectInvestigationPackage: 'collect_package',
} as const;

/** What a containment change is recorded with in the ledger. */
export interface ContainmentMeta {
  vendor: LabVendor;
  vendorAction: string;
  call: string;
  incidentId?: string;
  comment?: string;
  vendorRef?: string;
}

export const LAB_SEED_HOSTS: readonly { name: string; platform: 'Windows' | 'Linux' }[] = [
  { name: 'ws-fin-042', platform: 'Windows' },
  { name: 'ws-eng-007', platform: 'Windows' },
  { name: 'srv-db-prod-01', platform: 'Linux' },
  { name: 'srv-web-01', platform: 'Linux' },
  { name: 'dc-01', platform: 'Windows' },
];

const NAME_RE = /^[A-Za-z0-9](?:[A-Za-z0-9._-]{0,252}[A-Za-z0-9])?$/;

/**
 * The estate's hosts (by name, CrowdStrike device ID and Defender machine ID), their containment, and
 * Defender's machine actions. Pending transitions settle lazily, on every read: no timers run.
 */
export class LabHosts {
  private readonly hosts = new Map<string, LabHost>();
  private actions: LabMachineAction[] = [];

  constructor(
    private readonly ctx: EstateContext,
    private readonly opts: {
      containmentDelayMs: number;
      /** Response actions are Pending for the first half of this, InProgress for the second. */
      responseActionDelayMs: number;
      /** The Azure AD app named as the requestor of machine actions. */
      requestor: string;
      /** Applies a containment change: the store's own `setContainment`, so that a hook on it sees Defender's too. */
      contain: (host: LabHost, want: 'contain' | 'release', meta: ContainmentMeta) => boolean;
    },
  ) {
    for (const h of LAB_SEED_HOSTS) this.create(h.name, h.platform);
  }

  private create(name: string, platform: 'Windows' | 'Linux' = 'Windows'): LabHost {
    const host: LabHost = {
      name,
      deviceId: hex(`crowdstrike-device:${name.toLowerCase()}`, 32),
      machineId: hex(`defender-machine:${name.toLowerCase()}`, 40),
      platform,
      status: 'normal',
      firstSeen: isoAt(this.ctx.now()),
    };
    this.hosts.set(name.toLowerCase(), host);
    return host;
  }

  add(name: string, platform: 'Windows' | 'Linux' = 'Windows'): LabHost {
    if (!NAME_RE.test(name)) throw new Error(`invalid lab host name ${JSON.stringify(name)}`);
    const existing = this.hosts.get(name.toLowerCase());
    if (existing) return existing;
    const host = this.create(name, platform);
    this.ctx.changed();
    return host;
  }

  find(name: string, provision: boolean): LabHost | undefined {
    const existing = this.hosts.get(name.toLowerCase());
    if (existing) return this.settle(existing);
    if (!provision || !NAME_RE.test(name)) return undefined;
    return this.add(name, name.startsWith('srv-') ? 'Linux' : 'Windows');
  }

  list(): LabHost[] {
    return [...this.hosts.values()].map((h) => this.settle(h));
  }

  byDeviceId(id: string): LabHost | undefined {
    for (const h of this.hosts.values()) if (h.deviceId === id) return this.settle(h);
    return undefined;
  }

  byMachineId(id: string): LabHost | undefined {
    for (const h of this.hosts.values()) if (h.machineId === id) return this.settle(h);
    return undefined;
  }

  startingWith(prefix: string): LabHost[] {
    return [...this.hosts.values()].filter((h) => h.name.toLowerCase().startsWith(prefix.toLowerCase()));
  }

  private settle(host: LabHost): LabHost {
    if (host.pendingUntil !== undefined && this.ctx.now() >= host.pendingUntil) {
      host.status = host.status === 'containment_pending' ? 'contained' : 'normal';
      host.pendingUntil = undefined;
      this.ctx.changed();
    }
    return host;
  }

  setContainment(host: LabHost, want: 'contain' | 'release', meta: ContainmentMeta): boolean {
    this.settle(host);
    const inState =
      want === 'contain'
        ? host.status === 'contained' || host.status === 'containment_pending'
        : host.status === 'normal' || host.status === 'lift_containment_pending';
    if (inState) return false;
    if (this.opts.containmentDelayMs > 0) {
      host.status = want === 'contain' ? 'containment_pending' : 'lift_containment_pending';
      host.pendingUntil = this.ctx.now() + this.opts.containmentDelayMs;
    } else {
      host.status = want === 'contain' ? 'contained' : 'normal';
      host.pendingUntil = undefined;
    }
    this.ctx.record({ effect: want, target: host.name, ...meta });
    return true;
  }

  addMachineAction(
    host: LabHost,
    type: 'Isolate' | 'Unisolate',
    comment: string,
    scope: string | undefined,
    call: string,
    incidentId?: string,
  ): LabMachineAction {
    const now = this.ctx.now();
    const action: LabMachineAction = {
      id: randomUUID(),
      type,
      ...(scope ? { scope } : {}),
      machineId: host.machineId,
      computerDnsName: host.name,
      requestor: this.opts.requestor,
      requestorComment: comment,
      status: 'Pending',
      creationDateTimeUtc: new Date(now).toISOString(),
      completesAt: now + this.opts.containmentDelayMs,
    };
    this.actions.push(action);
    this.opts.contain(host, type === 'Isolate' ? 'contain' : 'release', {
      vendor: 'defender',
      vendorAction: type.toLowerCase(),
      call,
      comment,
      vendorRef: action.id,
      ...(incidentId ? { incidentId } : {}),
    });
    this.ctx.changed();
    return this.settleAction(action);
  }

  /**
   * A new scan, quarantine or package collection on the host. Its outcome is Succeeded unless the host was
   * told otherwise ({@link setNextActionOutcome}); a quarantine that will succeed is recorded on the host and
   * every request in the ledger, at request time as containment is.
   */
  addResponseAction(host: LabHost, req: ResponseActionRequest): LabMachineAction {
    const now = this.ctx.now();
    const outcome = this.takeNextOutcome(host) ?? 'Succeeded';
    const delay = this.opts.responseActionDelayMs;
    const action: LabMachineAction = {
      id: randomUUID(),
      type: req.type,
      ...(req.scope ? { scope: req.scope } : {}),
      machineId: host.machineId,
      computerDnsName: host.name,
      requestor: this.opts.requestor,
      requestorComment: req.comment,
      status: 'Pending',
      creationDateTimeUtc: new Date(now).toISOString(),
      startsAt: now + Math.floor(delay / 2),
      completesAt: now + delay,
      outcome,
      ...(req.sha1
        ? { relatedFileInfo: { fileIdentifier: req.sha1, fileIdentifierType: 'Sha1' as const } }
        : {}),
      ...(req.type === 'CollectInvestigationPackage'
        ? { packageToken: randomBytes(16).toString('hex') }
        : {}),
    };
    this.actions.push(action);
    const incident = req.incidentId ? { incidentId: req.incidentId } : {};
    if (req.sha1 && outcome === 'Succeeded') {
      (host.quarantinedFiles ??= []).push({
        sha1: req.sha1,
        at: isoAt(now),
        vendorRef: action.id,
        ...incident,
      });
    }
    this.ctx.record({
      effect: LEDGER_EFFECT[req.type],
      target: host.name,
      vendor: 'defender',
      vendorAction: req.type,
      call: req.call,
      comment: req.comment,
      vendorRef: action.id,
      ...incident,
    });
    return this.settleAction(action);
  }

  /** Makes the host's next response action (Defender machine action or Falcon scan) end with `outcome`. */
  setNextActionOutcome(host: LabHost, outcome: LabActionOutcome | undefined): void {
    host.nextActionOutcome = outcome;
    this.ctx.changed();
  }

  takeNextOutcome(host: LabHost): LabActionOutcome | undefined {
    const outcome = host.nextActionOutcome;
    if (outcome) {
      host.nextActionOutcome = undefined;
      this.ctx.changed();
    }
    return outcome;
  }

  machineAction(id: string): LabMachineAction | undefined {
    const a = this.actions.find((x) => x.id === id);
    return a ? this.settleAction(a) : undefined;
  }

  private settleAction(a: LabMachineAction): LabMachineAction {
    const now = this.ctx.now();
    if (a.outcome === undefined) {
      if (a.status === 'Pending' && now >= a.completesAt) a.status = 'Succeeded';
    } else if (a.status === 'Pending' || a.status === 'InProgress') {
      if (now >= a.completesAt) a.status = a.outcome;
      else if (now >= (a.startsAt ?? a.completesAt)) a.status = 'InProgress';
    }
    return a;
  }

  machineActions(machineId?: string): LabMachineAction[] {
    return this.actions
      .filter((a) => machineId === undefined || a.machineId === machineId)
      .map((a) => this.settleAction(a))
      .sort((a, b) => b.creationDateTimeUtc.localeCompare(a.creationDateTimeUtc));
  }

  /** The hosts as `GET /lab/state` shows them (settled). */
  snapshot() {
    return [...this.hosts.values()].map((h) => {
      this.settle(h);
      return {
        name: h.name,
        deviceId: h.deviceId,
        machineId: h.machineId,
        platform: h.platform,
        status: h.status,
        quarantinedFiles: h.quarantinedFiles ?? [],
      };
    });
  }

  persisted(): { hosts: LabHost[]; machineActions: LabMachineAction[] } {
    return { hosts: [...this.hosts.values()], machineActions: this.actions };
  }

  restore(hosts: LabHost[], machineActions: LabMachineAction[]): void {
    this.hosts.clear();
    for (const h of hosts) this.hosts.set(h.name.toLowerCase(), h);
    this.actions = machineActions;
  }
}
