import { LAB_DOMAIN, type LabVendor } from '../credentials';
import type { EstateContext } from './history';
import { hex, uuidFrom } from './ids';

/** Okta's user statuses (the lab's accounts have them all; SUSPENDED and DEPROVISIONED cannot sign in). */
export const LAB_ACCOUNT_STATUSES = [
  'ACTIVE',
  'SUSPENDED',
  'DEPROVISIONED',
  'LOCKED_OUT',
  'STAGED',
  'PROVISIONED',
  'RECOVERY',
  'PASSWORD_EXPIRED',
] as const;
export type LabAccountStatus = (typeof LAB_ACCOUNT_STATUSES)[number];

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

/** What an account change is recorded with in the ledger. */
export interface AccountMeta {
  vendor: LabVendor;
  vendorAction: string;
  call: string;
  incidentId?: string;
}

export const LAB_SEED_ACCOUNTS: readonly string[] = ['j.doe', 'a.smith', 'svc-backup'];

const LOGIN_RE = /^[A-Za-z0-9._%+-]{1,64}$/;

/** The estate's accounts, found by login, UPN, Okta ID or Entra object ID. */
export class LabAccounts {
  private readonly accounts = new Map<string, LabAccount>();

  constructor(private readonly ctx: EstateContext) {
    for (const a of LAB_SEED_ACCOUNTS) this.create(a);
  }

  private create(login: string): LabAccount {
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

  find(key: string, provision: boolean): LabAccount | undefined {
    const k = key.toLowerCase();
    const short = k.endsWith(`@${LAB_DOMAIN}`) ? k.slice(0, -(LAB_DOMAIN.length + 1)) : k;
    const direct = this.accounts.get(short);
    if (direct) return direct;
    for (const a of this.accounts.values()) if (a.oktaId.toLowerCase() === k || a.objectId === k) return a;
    if (!provision || !LOGIN_RE.test(short) || short.startsWith('00u')) return undefined;
    const created = this.create(short);
    this.ctx.changed();
    return created;
  }

  setStatus(login: string, status: LabAccountStatus): LabAccount {
    const account = this.find(login, true);
    if (!account) throw new Error(`invalid lab account ${JSON.stringify(login)}`);
    account.status = status;
    this.ctx.changed();
    return account;
  }

  setEnabled(account: LabAccount, enabled: boolean, meta: AccountMeta): boolean {
    const isEnabled = account.status !== 'SUSPENDED' && account.status !== 'DEPROVISIONED';
    if (isEnabled === enabled) return false;
    account.status = enabled ? 'ACTIVE' : 'SUSPENDED';
    this.ctx.record({ effect: enabled ? 'enable' : 'disable', target: account.login, ...meta });
    return true;
  }

  revokeSessions(account: LabAccount, meta: AccountMeta): number {
    const n = account.sessions;
    if (n === 0) return 0;
    account.sessions = 0;
    this.ctx.record({
      effect: 'revoke_sessions',
      target: account.login,
      comment: `${n} session(s)`,
      ...meta,
    });
    return n;
  }

  /** The accounts as `GET /lab/state` shows them. */
  snapshot() {
    return [...this.accounts.values()].map((a) => ({
      login: a.login,
      upn: a.upn,
      oktaId: a.oktaId,
      objectId: a.objectId,
      status: a.status,
      sessions: a.sessions,
    }));
  }

  persisted(): LabAccount[] {
    return [...this.accounts.values()];
  }

  restore(accounts: LabAccount[]): void {
    this.accounts.clear();
    for (const a of accounts) this.accounts.set(a.login, a);
  }
}
