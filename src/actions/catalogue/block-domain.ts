/** A block rule for a domain at the firewall (DNS or proxy policy, as the vendor offers). */
import { defineAction } from '../define';

export default defineAction({
  name: 'block_domain',
  capability: 'firewall',
  entity: 'domains',
  phases: ['containment'],
  activity: 'blockDomain',
  changesState: true,
  defaultApproval: { critical: 'auto', high: 'auto', medium: 'approve', low: 'approve' },
  describe: { verb: 'Block domain', done: 'domain blocked' },
  perform: (c, req) => c.firewall.blockDomain(req.target, req),
  check: { activity: 'checkDomainState', read: (c, domain) => c.firewall.getDomainState(domain) },
  undo: {
    name: 'unblock_domain',
    activity: 'unblockDomain',
    description: 'remove the block rule for the domain',
    perform: (c, req) => c.firewall.unblockDomain(req.target, req),
    restored: 'allowed',
  },
});
