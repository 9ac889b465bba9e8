/** Network isolation of a host through the EDR (the host keeps talking to the EDR only). */
import { defineAction } from '../define';

export default defineAction({
  name: 'isolate_host',
  capability: 'edr',
  entity: 'hosts',
  phases: ['containment'],
  activity: 'isolateHost',
  changesState: true,
  defaultApproval: { critical: 'approve', high: 'approve', medium: 'approve', low: 'approve' },
  describe: { verb: 'Isolate host', done: 'host isolated' },
  perform: (c, req) => c.edr.isolateHost(req.target, req),
  check: { activity: 'checkHostState', read: (c, host) => c.edr.getHostState(host) },
  undo: {
    name: 'release_host',
    activity: 'releaseHost',
    description: 'release the host from network isolation',
    perform: (c, req) => c.edr.releaseHost(req.target, req),
    restored: 'normal',
  },
});
