/**
 * Stopping and quarantining a file on a host (Defender `StopAndQuarantineFile` by SHA-1; Falcon a `prevent`
 * custom IOC by SHA-256, which applies beyond the one host: to the tenant or the configured host groups).
 * Alerts carry no file hashes as an entity yet, so the playbook names the file (a known implant's hash).
 */
import { z } from 'zod';
import { defineAction } from '../define';
import { responseActionsOf } from './responses';

const hex = (length: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${length}}$`), `a ${length}-digit hexadecimal hash`);

export default defineAction({
  name: 'quarantine_file',
  capability: 'edr',
  entity: 'hosts',
  phases: ['containment', 'eradication'],
  activity: 'quarantineFile',
  input: z
    .strictObject({ sha1: hex(40).optional(), sha256: hex(64).optional() })
    .refine(
      (f) => f.sha1 !== undefined || f.sha256 !== undefined,
      'name the file by sha1 or sha256 (or both)',
    ),
  changesState: true,
  defaultApproval: { critical: 'approve', high: 'approve', medium: 'approve', low: 'approve' },
  defaultRetry: { attemptTimeout: 15 * 60_000, totalTimeout: 60 * 60_000, maximumAttempts: 4 },
  describe: { verb: 'Stop and quarantine the file on host', done: 'file quarantined' },
  perform: (c, req) => responseActionsOf(c, 'quarantine_file').quarantineFile(req.target, req.input, req),
});
