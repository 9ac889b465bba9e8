/**
 * Stopping and quarantining a file on a host (Defender `StopAndQuarantineFile` by SHA-1; Falcon a `prevent`
 * custom IOC by SHA-256, which applies beyond the one host: to the tenant or the configured host groups).
 * The playbook names the file (`with: { sha1 | sha256 }`, a known implant), or gives no `with:` and the action
 * quarantines the file hashes the incident's alerts name on each host in scope.
 */
import { z } from 'zod';
import { FILE_HASH, hashAlgorithm } from '../../domain/alert';
import { PermanentConnectorError, UnsupportedActionError } from '../../connectors/errors';
import type { FileHashes } from '../../connectors/types';
import { defineAction } from '../define';
import { responseActionsOf } from './responses';

const hex = (length: number) =>
  z.string().regex(new RegExp(`^[0-9a-fA-F]{${length}}$`), `a ${length}-digit hexadecimal hash`);

const input = z.strictObject({
  sha1: hex(40).optional(),
  sha256: hex(64).optional(),
  /** The alerts' hashes (the workflow sends them when the playbook names no file): MD5, SHA-1 or SHA-256. */
  files: z.array(z.string().regex(FILE_HASH, 'an MD5, SHA-1 or SHA-256 hash')).min(1).max(500).optional(),
});
type Input = z.infer<typeof input>;

/**
 * The files to quarantine, one vendor call each: the playbook's file, else each of the alerts' hashes (an
 * MD5 names a file neither vendor's quarantine takes, so it has none).
 */
function filesOf(i: Input): { name: string; file?: FileHashes }[] {
  if (i.sha1 !== undefined || i.sha256 !== undefined) {
    const file = { ...(i.sha1 ? { sha1: i.sha1 } : {}), ...(i.sha256 ? { sha256: i.sha256 } : {}) };
    return [{ name: (i.sha256 ?? i.sha1)!, file }];
  }
  return (i.files ?? []).map((hash) => {
    const algorithm = hashAlgorithm(hash);
    const name = hash.toLowerCase();
    if (algorithm === 'sha1') return { name, file: { sha1: name } };
    if (algorithm === 'sha256') return { name, file: { sha256: name } };
    return { name };
  });
}

export default defineAction({
  name: 'quarantine_file',
  capability: 'edr',
  entity: 'hosts',
  phases: ['containment', 'eradication'],
  activity: 'quarantineFile',
  input,
  filesFromScope: true,
  changesState: true,
  defaultApproval: { critical: 'approve', high: 'approve', medium: 'approve', low: 'approve' },
  defaultRetry: { attemptTimeout: 15 * 60_000, totalTimeout: 60 * 60_000, maximumAttempts: 4 },
  describe: { verb: 'Stop and quarantine the file on host', done: 'file quarantined' },
  /**
   * Alerts often name one file by several hashes (Elastic gives MD5, SHA-1 and SHA-256): each vendor acts on
   * the kind it takes and the others are listed in the outcome's detail. Thrown: UnsupportedActionError when
   * the vendor can act on none of them; otherwise what the connector throws.
   */
  perform: async (c, req) => {
    const edr = responseActionsOf(c, 'quarantine_file');
    const files = filesOf(req.input);
    if (!files.length) {
      throw new PermanentConnectorError(
        'quarantine_file: no file to quarantine (no sha1/sha256, no alert hashes)',
        {
          vendor: c.edr.vendor,
        },
      );
    }
    const refs: string[] = [];
    const passedOver: string[] = [];
    let alreadyInState = true;
    for (const { name, file } of files) {
      if (!file) {
        passedOver.push(`${name}: an MD5 (quarantine takes a SHA-1 or SHA-256)`);
        continue;
      }
      try {
        // One vendor action per file: each is found again by its own key when the activity is retried.
        const key = files.length > 1 ? `${req.idempotencyKey}:${name}` : req.idempotencyKey;
        const r = await edr.quarantineFile(req.target, file, { ...req, idempotencyKey: key });
        alreadyInState &&= r.alreadyInState;
        if (r.vendorRef) refs.push(r.vendorRef);
      } catch (err) {
        if (!(err instanceof UnsupportedActionError) || files.length === 1) throw err;
        passedOver.push(`${name}: ${err.message}`);
      }
    }
    if (refs.length === 0 && passedOver.length === files.length) {
      throw new UnsupportedActionError(
        `${c.edr.vendor} can quarantine none of the files: ${passedOver.join('; ')}`,
        { vendor: c.edr.vendor },
      );
    }
    return {
      alreadyInState,
      ...(refs.length ? { vendorRef: refs.join(', ') } : {}),
      ...(passedOver.length ? { detail: `Not quarantined (${c.edr.vendor}): ${passedOver.join('; ')}` } : {}),
    };
  },
});
