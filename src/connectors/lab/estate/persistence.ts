import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LabAccount } from './accounts';
import type { LabAccessRule, LabGatewayRule } from './blocklists';
import type { LabLedgerEntry } from './history';
import type { LabFalconIndicator, LabScan } from './falcon';
import type { LabHost, LabMachineAction } from './hosts';
import type { LabIndicator } from './indicators';
import type { LabMessage, LabPagerDutyEvent } from './inbox';
import type { LabJiraIssue, LabServiceNowIncident } from './tickets';

/** The state file's content (issued tokens, fault rules and the call log are not kept). */
export interface PersistedState {
  version: 1;
  seq: number;
  hosts: LabHost[];
  accounts: LabAccount[];
  rules: LabAccessRule[];
  gatewayRules?: LabGatewayRule[];
  machineActions: LabMachineAction[];
  /** Falcon custom IOCs and on-demand scans (absent in files written before they existed). */
  falconIndicators?: LabFalconIndicator[];
  scans?: LabScan[];
  ledger: LabLedgerEntry[];
  messages: LabMessage[];
  pagerduty: LabPagerDutyEvent[];
  pagerdutyAlerts: [string, { status: 'triggered' | 'acknowledged' | 'resolved'; events: number }][];
  /** Absent in files written before the lab had tickets. */
  jiraIssues?: LabJiraIssue[];
  serviceNowIncidents?: LabServiceNowIncident[];
  /** Threat-intelligence indicators (absent in files written before the lab had them: the seeds apply). */
  indicators?: LabIndicator[];
}

/**
 * The estate's state file: rewritten after changes (temporary file, fsync, rename), at most one write
 * queued at a time, each with the state as it is when the write starts.
 */
export class StateFile {
  private writeChain: Promise<void> = Promise.resolve();
  private dirty = false;

  constructor(
    readonly path: string,
    private readonly collect: () => PersistedState,
  ) {}

  /** Queues a write, unless one is queued already (it will see this change too). */
  changed(): void {
    if (this.dirty) return;
    this.dirty = true;
    this.writeChain = this.writeChain.then(async () => {
      await Promise.resolve();
      this.dirty = false;
      await this.write().catch(() => undefined);
    });
  }

  /** Waits for the queued writes. */
  async flush(): Promise<void> {
    await this.writeChain;
  }

  private async write(): Promise<void> {
    const state = this.collect();
    await fs.mkdir(path.dirname(this.path), { recursive: true });
    const tmp = `${this.path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const fh = await fs.open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state));
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, this.path);
  }

  /** The state in the file; undefined when there is no file yet. Thrown: a file of another version. */
  async read(): Promise<PersistedState | undefined> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
    const s = JSON.parse(text) as PersistedState;
    if (s.version !== 1) throw new Error(`lab state ${this.path}: unsupported version ${String(s.version)}`);
    return s;
  }
}
