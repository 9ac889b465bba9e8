/** An antivirus scan of a host through the EDR (Defender `runAntiVirusScan`, Falcon on-demand scan). */
import { z } from 'zod';
import { defineAction } from '../define';
import { responseActionsOf } from './responses';

export default defineAction({
  name: 'run_antivirus_scan',
  capability: 'edr',
  entity: 'hosts',
  phases: ['containment', 'eradication'],
  activity: 'runAntivirusScan',
  input: z.strictObject({ scanType: z.enum(['quick', 'full']).default('full') }),
  // A scan changes nothing it could undo, but it loads the host and the EDR: a person agrees first by default.
  changesState: false,
  defaultApproval: { critical: 'approve', high: 'approve', medium: 'approve', low: 'approve' },
  // The vendor's scan may take many minutes; the connector waits for it up to its own deadline.
  defaultRetry: { attemptTimeout: 15 * 60_000, totalTimeout: 60 * 60_000, maximumAttempts: 4 },
  describe: { verb: 'Run an antivirus scan on host', done: 'host scanned' },
  perform: (c, req) =>
    responseActionsOf(c, 'run_antivirus_scan').runAntivirusScan(
      req.target,
      { scanType: req.input.scanType },
      req,
    ),
});
