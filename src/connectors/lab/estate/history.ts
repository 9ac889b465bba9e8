import type { LabVendor } from '../credentials';
import type { LabFaultKind } from './fault-rules';

/** How many ledger entries, messages, events and calls the lab keeps (the oldest go first). */
export const HISTORY_LIMIT = 5_000;

/** Drops the oldest entries beyond {@link HISTORY_LIMIT}. */
export function trim<T>(list: T[]): void {
  if (list.length > HISTORY_LIMIT) list.splice(0, list.length - HISTORY_LIMIT);
}

/** One effect the lab applied: a real state change, never a no-op repeat. */
export interface LabLedgerEntry {
  seq: number;
  at: string;
  vendor: LabVendor;
  /** Vendor-neutral effect name. */
  effect:
    | 'contain'
    | 'release'
    | 'disable'
    | 'enable'
    | 'revoke_sessions'
    | 'block'
    | 'unblock'
    | 'scan'
    | 'quarantine_file'
    | 'release_file'
    | 'collect_package';
  /** The vendor's own name for it (`lift_containment`, `suspend`, `unisolate`, ...). */
  vendorAction: string;
  /** Host name, account login, IP value, or `sha256:<hash>` (Falcon custom IOCs). */
  target: string;
  incidentId?: string;
  comment?: string;
  /** The call that caused it: `POST /crowdstrike/devices/entities/devices-actions/v2?action_name=contain`. */
  call: string;
  vendorRef?: string;
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

/** What the parts of the estate share: the clock, one sequence, the ledger and the state file. */
export interface EstateContext {
  now(): number;
  /** The next number of the sequence that orders ledger entries, messages, events and calls. */
  nextSeq(): number;
  /** The estate changed: it is persisted soon (once) when it has a state file. */
  changed(): void;
  /** Records a real effect in the ledger. */
  record(e: Omit<LabLedgerEntry, 'seq' | 'at'>): void;
}

export function isoAt(t: number): string {
  return new Date(t).toISOString();
}

/** The ledger of effects and the log of vendor calls. */
export class LabHistory {
  private ledgerList: LabLedgerEntry[] = [];
  private readonly callList: LabCall[] = [];

  constructor(private readonly ctx: Pick<EstateContext, 'now' | 'nextSeq' | 'changed'>) {}

  record(e: Omit<LabLedgerEntry, 'seq' | 'at'>): void {
    this.ledgerList.push({ seq: this.ctx.nextSeq(), at: isoAt(this.ctx.now()), ...e });
    trim(this.ledgerList);
    this.ctx.changed();
  }

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

  recordCall(c: Omit<LabCall, 'seq' | 'at'>): void {
    this.callList.push({ seq: this.ctx.nextSeq(), at: isoAt(this.ctx.now()), ...c });
    trim(this.callList);
  }

  calls(filter: { vendor?: string; method?: string; pathIncludes?: string } = {}): LabCall[] {
    return this.callList.filter(
      (c) =>
        (!filter.vendor || c.vendor === filter.vendor) &&
        (!filter.method || c.method === filter.method.toUpperCase()) &&
        (!filter.pathIncludes || c.url.includes(filter.pathIncludes)),
    );
  }

  /** The ledger as persisted (calls are not). */
  persisted(): LabLedgerEntry[] {
    return this.ledgerList;
  }

  restore(ledger: LabLedgerEntry[]): void {
    this.ledgerList = ledger;
  }
}
