/**
 * A block rule for an IP address at the firewall. Internal addresses are left alone unless the playbook
 * says `targets: all` (the workflow applies that rule to every action on IP addresses).
 */
import { defineAction } from '../define';

export default defineAction({
  name: 'block_ip',
  capability: 'firewall',
  entity: 'ips',
  phases: ['containment'],
  activity: 'blockIp',
  changesState: true,
  defaultApproval: { critical: 'auto', high: 'auto', medium: 'approve', low: 'approve' },
  describe: { verb: 'Block IP address', done: 'IP address blocked' },
  perform: (c, req) => c.firewall.blockIp(req.target, req),
  check: { activity: 'checkIpState', read: (c, ip) => c.firewall.getIpState(ip) },
  undo: {
    name: 'unblock_ip',
    activity: 'unblockIp',
    description: 'remove the block rule for the IP address',
    perform: (c, req) => c.firewall.unblockIp(req.target, req),
    restored: 'allowed',
  },
});
