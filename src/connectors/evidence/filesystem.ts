import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  ConflictError,
  PermanentConnectorError,
  TargetNotFoundError,
  TransientConnectorError,
} from '../errors';
import type { EvidencePutRequest, EvidenceRecord, EvidenceStore } from '../types';
import { isoWithOffset, localTimeZone, sha256Hex, truncate } from '../util';

export interface FilesystemEvidenceOptions {
  /** Quell's data directory; evidence lives under `<dataDir>/evidence/`. */
  dataDir: string;
  /** Names the store in custody entries; default `quell-evidence-store@<hostname>`. */
  storeActor?: string;
  /** Injectable clock (tests). */
  now?: () => Date;
}

const INCIDENT_RE = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const EVIDENCE_ID_RE = /^ev-[0-9a-f]{32}$/;

/** The evidence ID for an idempotency key: stable, so a retried put finds the first record. */
export function evidenceIdFor(idempotencyKey: string): string {
  return `ev-${sha256Hex(`quell-evidence\u0000${idempotencyKey}`).slice(0, 32)}`;
}

function fsError(err: unknown, what: string): Error {
  const code = (err as NodeJS.ErrnoException).code ?? 'error';
  if (code === 'ENOSPC' || code === 'EROFS' || code === 'EACCES' || code === 'EPERM') {
    return new PermanentConnectorError(`evidence: ${what}: ${code}`, { vendor: 'evidence-fs', cause: err });
  }
  return new TransientConnectorError(`evidence: ${what}: ${code}`, { vendor: 'evidence-fs', cause: err });
}

/**
 * Evidence on the local filesystem (NIST SP 800-86 acquisition, SP 800-61 evidence log):
 *
 * ```
 * <dataDir>/evidence/sha256/<ab>/<sha256>                      the bytes, content-addressed, read-only (0444)
 * <dataDir>/evidence/records/<incidentId>/<evidenceId>.json    the custody record (EvidenceRecord)
 * <dataDir>/evidence/ids/<evidenceId>                           which incident an evidence ID belongs to
 * ```
 *
 * Write-once: every file is written to a temporary name, flushed, then published with `link()`, which fails
 * rather than replace an existing file (a plain rename would overwrite). A blob that already exists is reused
 * (after checking that its bytes still hash to its name); a record is never rewritten.
 * Idempotent: the evidence ID is derived from the put's idempotency key, so a retried put returns the first
 * record unchanged (even if the retry carried different bytes); the same key for another incident is a
 * {@link ConflictError}.
 */
export class FilesystemEvidenceStore implements EvidenceStore {
  private readonly root: string;
  private readonly storeActor: string;
  private readonly now: () => Date;

  constructor(opts: FilesystemEvidenceOptions) {
    this.root = path.resolve(opts.dataDir, 'evidence');
    this.storeActor = opts.storeActor ?? `quell-evidence-store@${os.hostname()}`;
    this.now = opts.now ?? (() => new Date());
  }

  /** Where the evidence lives (for banners). */
  get directory(): string {
    return this.root;
  }

  async put(req: EvidencePutRequest): Promise<EvidenceRecord> {
    assertIncidentId(req.incidentId);
    if (!req.idempotencyKey) {
      throw new PermanentConnectorError('evidence: idempotencyKey is required', { vendor: 'evidence-fs' });
    }
    const evidenceId = evidenceIdFor(req.idempotencyKey);
    const known = await this.incidentOf(evidenceId);
    if (known !== undefined) {
      if (known !== req.incidentId) {
        throw new ConflictError(
          `evidence: idempotency key already used for incident ${known}, not ${req.incidentId}`,
          { vendor: 'evidence-fs' },
        );
      }
      return this.readRecord(known, evidenceId);
    }
    const sha256 = sha256Hex(req.content);
    const blobPath = await this.writeBlob(sha256, req.content);
    const at = this.now();
    const collectedAt = isoWithOffset(at);
    const location = pathToFileURL(blobPath).href;
    const record: EvidenceRecord = {
      evidenceId,
      incidentId: req.incidentId,
      name: req.name,
      sha256,
      sizeBytes: req.content.length,
      location,
      collectedBy: req.collectedBy,
      collectedAt,
      timeZone: localTimeZone(),
      source: req.source,
      subject: req.subject,
      ...(req.window ? { window: { from: req.window.from, to: req.window.to } } : {}),
      custody: [
        {
          at: collectedAt,
          actor: req.collectedBy,
          action: 'collected',
          note: truncate(
            `from ${req.source} about ${req.subject}; sha256 ${sha256}; ${req.content.length} bytes`,
            500,
          ),
        },
        { at: collectedAt, actor: this.storeActor, action: 'stored', note: `write-once at ${location}` },
      ],
    };
    const recordPath = this.recordPath(req.incidentId, evidenceId);
    await mkdirp(path.dirname(recordPath));
    const created = await publishOnce(recordPath, `${JSON.stringify(record, null, 2)}\n`, 0o444);
    // Lost a race with a concurrent put of the same key: the first record wins.
    const result = created ? record : await this.readRecord(req.incidentId, evidenceId);
    const idPath = path.join(this.root, 'ids', evidenceId);
    await mkdirp(path.dirname(idPath));
    await publishOnce(idPath, req.incidentId, 0o444);
    return result;
  }

  async get(evidenceId: string): Promise<{ record: EvidenceRecord; content: Buffer }> {
    const record = await this.record(evidenceId);
    let content: Buffer;
    try {
      content = await fs.readFile(this.blobPath(record.sha256));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new TargetNotFoundError(`evidence: the bytes of ${evidenceId} are missing`, {
          vendor: 'evidence-fs',
        });
      }
      throw fsError(err, `read ${evidenceId}`);
    }
    return { record, content };
  }

  async verify(evidenceId: string): Promise<{ ok: boolean; expected: string; actual: string }> {
    const record = await this.record(evidenceId);
    const actual = await hashFile(this.blobPath(record.sha256));
    return { ok: actual === record.sha256, expected: record.sha256, actual: actual ?? 'missing' };
  }

  async list(incidentId: string): Promise<EvidenceRecord[]> {
    assertIncidentId(incidentId);
    const dir = path.join(this.root, 'records', incidentId);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw fsError(err, `list ${incidentId}`);
    }
    const records = await Promise.all(
      names
        .filter((n) => n.endsWith('.json') && EVIDENCE_ID_RE.test(n.slice(0, -5)))
        .map((n) => this.readRecord(incidentId, n.slice(0, -5))),
    );
    return records.sort(
      (a, b) =>
        Date.parse(a.collectedAt) - Date.parse(b.collectedAt) || a.evidenceId.localeCompare(b.evidenceId),
    );
  }

  /** The path of a blob, for operators (and tests that tamper with it). */
  blobPath(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) {
      throw new PermanentConnectorError('evidence: malformed sha256 in record', { vendor: 'evidence-fs' });
    }
    return path.join(this.root, 'sha256', sha256.slice(0, 2), sha256);
  }

  private recordPath(incidentId: string, evidenceId: string): string {
    return path.join(this.root, 'records', incidentId, `${evidenceId}.json`);
  }

  private async record(evidenceId: string): Promise<EvidenceRecord> {
    if (!EVIDENCE_ID_RE.test(evidenceId)) {
      throw new TargetNotFoundError(`evidence: no evidence ${truncate(evidenceId, 80)}`, {
        vendor: 'evidence-fs',
      });
    }
    const incidentId = await this.incidentOf(evidenceId);
    if (incidentId === undefined) {
      throw new TargetNotFoundError(`evidence: no evidence ${evidenceId}`, { vendor: 'evidence-fs' });
    }
    return this.readRecord(incidentId, evidenceId);
  }

  private async incidentOf(evidenceId: string): Promise<string | undefined> {
    try {
      return (await fs.readFile(path.join(this.root, 'ids', evidenceId), 'utf8')).trim();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw fsError(err, `look up ${evidenceId}`);
    }
  }

  private async readRecord(incidentId: string, evidenceId: string): Promise<EvidenceRecord> {
    let text: string;
    try {
      text = await fs.readFile(this.recordPath(incidentId, evidenceId), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new TargetNotFoundError(`evidence: no record for ${evidenceId}`, { vendor: 'evidence-fs' });
      }
      throw fsError(err, `read record ${evidenceId}`);
    }
    try {
      return JSON.parse(text) as EvidenceRecord;
    } catch {
      throw new PermanentConnectorError(`evidence: record ${evidenceId} is not valid JSON`, {
        vendor: 'evidence-fs',
      });
    }
  }

  private async writeBlob(sha256: string, content: Buffer): Promise<string> {
    const blobPath = this.blobPath(sha256);
    const existing = await hashFile(blobPath);
    if (existing !== undefined) {
      if (existing !== sha256) {
        throw new ConflictError(
          `evidence: the stored blob ${sha256} no longer matches its hash (tampered or corrupted); not reusing it`,
          { vendor: 'evidence-fs' },
        );
      }
      return blobPath;
    }
    await mkdirp(path.dirname(blobPath));
    await publishOnce(blobPath, content, 0o444);
    return blobPath;
  }
}

function assertIncidentId(incidentId: string): void {
  if (!INCIDENT_RE.test(incidentId) || incidentId.includes('..')) {
    throw new PermanentConnectorError(
      `evidence: invalid incident ID ${JSON.stringify(truncate(incidentId, 80))}`,
      {
        vendor: 'evidence-fs',
      },
    );
  }
}

async function mkdirp(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true, mode: 0o750 });
  } catch (err) {
    throw fsError(err, `create ${dir}`);
  }
}

/** SHA-256 of a file's bytes, streamed; undefined when the file does not exist. */
async function hashFile(file: string): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    const stream = createReadStream(file);
    stream.on('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') resolve(undefined);
      else reject(fsError(err, `read ${path.basename(file)}`));
    });
    stream.on('data', (chunk) => hash.update(chunk));
    stream.on('end', () => resolve(hash.digest('hex')));
  });
}

/**
 * Writes `data` to a temporary file beside `target`, flushes it, and publishes it with `link()`: atomic, and
 * never replaces an existing file. Returns false when `target` already existed (nothing was changed).
 */
async function publishOnce(target: string, data: string | Buffer, mode: number): Promise<boolean> {
  const tmp = `${target}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const fh = await fs.open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.chmod(tmp, mode);
    try {
      await fs.link(tmp, target);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  } catch (err) {
    throw fsError(err, `write ${path.basename(target)}`);
  } finally {
    await fs.rm(tmp, { force: true }).catch(() => undefined);
  }
}
