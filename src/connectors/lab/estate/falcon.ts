import { randomBytes } from 'node:crypto';
import { type EstateContext, isoAt } from './history';
import type { LabActionOutcome } from './hosts';

/** A Falcon custom IOC (the fields the lab keeps of `/iocs/entities/indicators/v1`). */
export interface LabFalconIndicator {
  /** 64 hex, as Falcon's indicator IDs. */
  id: string;
  type: string;
  value: string;
  action: string;
  severity?: string;
  platforms: string[];
  applied_globally: boolean;
  host_groups: string[];
  source?: string;
  description?: string;
  created_on: string;
  created_by: string;
  modified_on: string;
}

export type LabScanStatus = 'pending' | 'running' | 'completed' | 'failed' | 'cancelled';

/** A Falcon on-demand scan (the fields the lab keeps of `/ods/entities/scans/v1`). */
export interface LabScan {
  id: string;
  hosts: string[];
  file_paths: string[];
  description: string;
  initiated_from?: string;
  quarantine: boolean;
  status: LabScanStatus;
  created_on: string;
  created_by: string;
  startsAt: number;
  completesAt: number;
  outcome: 'completed' | 'failed' | 'cancelled';
}

/** What an indicator or scan change is recorded with in the ledger. */
export interface FalconMeta {
  call: string;
  incidentId?: string;
  comment?: string;
}

const SCAN_OUTCOME: Record<LabActionOutcome, LabScan['outcome']> = {
  Failed: 'failed',
  TimeOut: 'failed',
  Cancelled: 'cancelled',
};

/**
 * Falcon's custom IOCs and on-demand scans. A prevent indicator for a SHA-256 is the lab's record of a
 * Falcon quarantine (it applies across the tenant, as at Falcon, not to one host). Scans go pending ->
 * running -> completed over the response-action delay, settled lazily on read.
 */
export class LabFalcon {
  private indicatorList: LabFalconIndicator[] = [];
  private scanList: LabScan[] = [];

  constructor(
    private readonly ctx: EstateContext,
    private readonly opts: { responseActionDelayMs: number; createdBy: string },
  ) {}

  indicators(): LabFalconIndicator[] {
    return [...this.indicatorList];
  }

  findIndicator(type: string, value: string): LabFalconIndicator | undefined {
    return this.indicatorList.find((i) => i.type === type && i.value === value);
  }

  addIndicator(
    input: Omit<LabFalconIndicator, 'id' | 'created_on' | 'created_by' | 'modified_on'>,
    meta: FalconMeta,
  ): LabFalconIndicator {
    const at = isoAt(this.ctx.now());
    const ioc: LabFalconIndicator = {
      ...input,
      id: randomBytes(32).toString('hex'),
      created_on: at,
      created_by: this.opts.createdBy,
      modified_on: at,
    };
    this.indicatorList.push(ioc);
    if (ioc.action === 'prevent') this.record('quarantine_file', ioc, meta);
    this.ctx.changed();
    return ioc;
  }

  deleteIndicator(id: string, meta: FalconMeta): LabFalconIndicator | undefined {
    const ioc = this.indicatorList.find((i) => i.id === id);
    if (!ioc) return undefined;
    this.indicatorList = this.indicatorList.filter((i) => i.id !== id);
    if (ioc.action === 'prevent') this.record('release_file', ioc, meta);
    this.ctx.changed();
    return ioc;
  }

  private record(
    effect: 'quarantine_file' | 'release_file',
    ioc: LabFalconIndicator,
    meta: FalconMeta,
  ): void {
    this.ctx.record({
      effect,
      target: `${ioc.type}:${ioc.value}`,
      vendor: 'crowdstrike',
      vendorAction: effect === 'quarantine_file' ? 'create_indicator' : 'delete_indicator',
      vendorRef: ioc.id,
      call: meta.call,
      ...(meta.incidentId ? { incidentId: meta.incidentId } : {}),
      ...(meta.comment ? { comment: meta.comment } : {}),
    });
  }

  /** A new scan of the hosts (device IDs); `outcome` for the first host told to fail its next action. */
  addScan(
    input: Pick<LabScan, 'hosts' | 'file_paths' | 'description' | 'initiated_from' | 'quarantine'>,
    outcome: LabActionOutcome | undefined,
    hostNames: string[],
    meta: FalconMeta,
  ): LabScan {
    const now = this.ctx.now();
    const delay = this.opts.responseActionDelayMs;
    const scan: LabScan = {
      ...input,
      id: randomBytes(16).toString('hex'),
      status: 'pending',
      created_on: isoAt(now),
      created_by: this.opts.createdBy,
      startsAt: now + Math.floor(delay / 2),
      completesAt: now + delay,
      outcome: outcome ? SCAN_OUTCOME[outcome] : 'completed',
    };
    this.scanList.push(scan);
    for (const target of hostNames) {
      this.ctx.record({
        effect: 'scan',
        target,
        vendor: 'crowdstrike',
        vendorAction: 'create_scan',
        vendorRef: scan.id,
        call: meta.call,
        comment: scan.description,
        ...(meta.incidentId ? { incidentId: meta.incidentId } : {}),
      });
    }
    return this.settle(scan);
  }

  scans(): LabScan[] {
    return this.scanList.map((s) => this.settle(s));
  }

  scan(id: string): LabScan | undefined {
    const s = this.scanList.find((x) => x.id === id);
    return s ? this.settle(s) : undefined;
  }

  private settle(s: LabScan): LabScan {
    const now = this.ctx.now();
    if (s.status === 'pending' || s.status === 'running') {
      if (now >= s.completesAt) s.status = s.outcome;
      else if (now >= s.startsAt) s.status = 'running';
    }
    return s;
  }

  persisted(): { falconIndicators: LabFalconIndicator[]; scans: LabScan[] } {
    return { falconIndicators: this.indicatorList, scans: this.scanList };
  }

  restore(indicators: LabFalconIndicator[], scans: LabScan[]): void {
    this.indicatorList = indicators;
    this.scanList = scans;
  }
}
