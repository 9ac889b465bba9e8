/**
 * The EDR's forensic package of a host (Defender `collectInvestigationPackage`): stored as evidence with its
 * hash and custody record, like the log snapshots.
 */
import { defineAction } from '../define';
import { responseActionsOf } from './responses';

export default defineAction({
  name: 'collect_investigation_package',
  capability: 'edr',
  entity: 'hosts',
  phases: ['investigation'],
  activity: 'collectInvestigationPackage',
  changesState: false,
  defaultApproval: { critical: 'auto', high: 'auto', medium: 'approve', low: 'approve' },
  defaultRetry: { attemptTimeout: 20 * 60_000, totalTimeout: 60 * 60_000, maximumAttempts: 4 },
  describe: { verb: 'Collect an investigation package from host', done: 'investigation package collected' },
  async perform(c, req) {
    const pkg = await responseActionsOf(c, 'collect_investigation_package').collectInvestigationPackage(
      req.target,
      req,
    );
    return {
      alreadyInState: false,
      vendorRef: pkg.vendorRef,
      evidence: { name: `investigation-package:${req.target}`, content: pkg.content, source: pkg.source },
    };
  },
});
