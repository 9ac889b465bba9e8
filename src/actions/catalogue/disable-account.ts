/** Disabling an account at the identity provider, then revoking its sessions so issued tokens stop working too. */
import { defineAction } from '../define';

export default defineAction({
  name: 'disable_account',
  capability: 'identity',
  entity: 'accounts',
  phases: ['containment'],
  activity: 'disableAccount',
  changesState: true,
  defaultApproval: { critical: 'approve', high: 'approve', medium: 'approve', low: 'approve' },
  describe: {
    verb: 'Disable account (and revoke its sessions)',
    done: 'account disabled and its sessions revoked',
  },
  async perform(c, req) {
    const disabled = await c.identity.disableAccount(req.target, req);
    await c.identity.revokeSessions(req.target, { ...req, idempotencyKey: `${req.idempotencyKey}:sessions` });
    return disabled;
  },
  check: { activity: 'checkAccountState', read: (c, account) => c.identity.getAccountState(account) },
  undo: {
    name: 'enable_account',
    activity: 'enableAccount',
    description: 're-enable the account',
    perform: (c, req) => c.identity.enableAccount(req.target, req),
    restored: 'active',
  },
});
