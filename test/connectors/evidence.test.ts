import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FilesystemEvidenceStore, evidenceIdFor } from '../../src/connectors/evidence/filesystem';
import type { EvidencePutRequest } from '../../src/connectors/types';
import { expectConnectorError } from './support';

let dataDir: string;
let store: FilesystemEvidenceStore;

beforeEach(async () => {
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-evidence-'));
  store = new FilesystemEvidenceStore({ dataDir, storeActor: 'store@test' });
});
afterEach(async () => {
  await fs.rm(dataDir, { recursive: true, force: true });
});

function req(over: Partial<EvidencePutRequest> = {}): EvidencePutRequest {
  return {
    incidentId: 'INC-2026-0001',
    name: 'logs:ws-fin-042',
    content: Buffer.from('2026-11-28T09:00:00Z ws-fin-042 sshd: hello\n'),
    collectedBy: 'quell-worker@test (activity snapshotLogs, attempt 1)',
    source: 'lab',
    subject: 'ws-fin-042',
    window: { from: '2026-11-28T09:00:00Z', to: '2026-11-28T10:00:00Z' },
    idempotencyKey: 'INC-2026-0001:snapshot-logs:ws-fin-042',
    ...over,
  };
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('FilesystemEvidenceStore', () => {
  it('stores content-addressed bytes and a custody record; get, verify and list read them back', async () => {
    const r = req();
    const record = await store.put(r);
    const hash = sha(r.content);
    expect(record).toMatchObject({
      evidenceId: evidenceIdFor(r.idempotencyKey),
      incidentId: r.incidentId,
      name: r.name,
      sha256: hash,
      sizeBytes: r.content.length,
      collectedBy: r.collectedBy,
      source: 'lab',
      subject: 'ws-fin-042',
      window: r.window,
    });
    expect(record.collectedAt).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{2}:\d{2}$/);
    expect(record.timeZone).toBeTruthy();
    expect(record.custody.map((c) => c.action)).toEqual(['collected', 'stored']);
    expect(record.custody[1]!.actor).toBe('store@test');
    const blob = path.join(dataDir, 'evidence', 'sha256', hash.slice(0, 2), hash);
    expect(fileURLToPath(record.location)).toBe(blob);
    expect((await fs.stat(blob)).mode & 0o777).toBe(0o444);
    const recordFile = path.join(dataDir, 'evidence', 'records', r.incidentId, `${record.evidenceId}.json`);
    expect(JSON.parse(await fs.readFile(recordFile, 'utf8'))).toEqual(record);

    const got = await store.get(record.evidenceId);
    expect(got.record).toEqual(record);
    expect(got.content.equals(r.content)).toBe(true);
    expect(await store.verify(record.evidenceId)).toEqual({ ok: true, expected: hash, actual: hash });
    expect(await store.list(r.incidentId)).toEqual([record]);
    expect(await store.list('INC-OTHER')).toEqual([]);
  });

  it('is idempotent on the key: a retried put returns the first record, even with other bytes', async () => {
    const first = await store.put(req());
    const retry = await store.put(req({ content: Buffer.from('different bytes from a retry') }));
    expect(retry).toEqual(first);
    expect((await store.get(first.evidenceId)).content.equals(req().content)).toBe(true);
    expect(await store.list(first.incidentId)).toHaveLength(1);
    // Concurrent puts of one key agree on one record.
    const key = 'INC-2026-0001:concurrent';
    const results = await Promise.all(
      [1, 2, 3, 4].map((i) => store.put(req({ idempotencyKey: key, content: Buffer.from(`v${i}`) }))),
    );
    expect(new Set(results.map((r) => r.sha256)).size).toBe(1);
    expect(new Set(results.map((r) => r.collectedAt)).size).toBe(1);
    const leftovers = (await fs.readdir(path.join(dataDir, 'evidence', 'records', 'INC-2026-0001'))).filter(
      (n) => n.includes('.tmp-'),
    );
    expect(leftovers).toEqual([]);
  });

  it('reuses the blob for the same bytes under another key, and keeps records apart', async () => {
    const a = await store.put(req({ idempotencyKey: 'k1' }));
    const b = await store.put(req({ idempotencyKey: 'k2', name: 'copy' }));
    expect(a.evidenceId).not.toBe(b.evidenceId);
    expect(a.location).toBe(b.location);
    const hash = sha(req().content);
    expect(await fs.readdir(path.join(dataDir, 'evidence', 'sha256', hash.slice(0, 2)))).toEqual([hash]);
    expect((await store.list('INC-2026-0001')).map((r) => r.name).sort()).toEqual([
      'copy',
      'logs:ws-fin-042',
    ]);
  });

  it('never overwrites: a record on disk stays as first written', async () => {
    const rec = await store.put(req());
    const file = path.join(dataDir, 'evidence', 'records', rec.incidentId, `${rec.evidenceId}.json`);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o444);
    await store.put(req({ name: 'renamed in a retry' }));
    expect(JSON.parse(await fs.readFile(file, 'utf8'))).toEqual(rec);
  });

  it('detects tampering: verify reports the mismatch, and the blob is not reused', async () => {
    const rec = await store.put(req());
    const blob = store.blobPath(rec.sha256);
    await fs.chmod(blob, 0o644);
    await fs.writeFile(blob, 'tampered');
    const v = await store.verify(rec.evidenceId);
    expect(v).toEqual({ ok: false, expected: rec.sha256, actual: sha(Buffer.from('tampered')) });
    await expectConnectorError(store.put(req({ idempotencyKey: 'fresh-key' })), 'conflict');
    await fs.rm(blob);
    expect(await store.verify(rec.evidenceId)).toEqual({
      ok: false,
      expected: rec.sha256,
      actual: 'missing',
    });
    await expectConnectorError(store.get(rec.evidenceId), 'not_found');
  });

  it('refuses a key reused for another incident, unknown IDs, and unsafe incident IDs', async () => {
    await store.put(req());
    await expectConnectorError(store.put(req({ incidentId: 'INC-2026-0002' })), 'conflict');
    await expectConnectorError(store.get('ev-0123456789abcdef0123456789abcdef'), 'not_found');
    await expectConnectorError(store.verify('../../etc/passwd'), 'not_found');
    await expectConnectorError(store.put(req({ incidentId: '../escape', idempotencyKey: 'x' })), 'permanent');
    await expectConnectorError(store.list('a/b'), 'permanent');
    await expectConnectorError(store.put(req({ idempotencyKey: '' })), 'permanent');
  });

  it('lists an incident in collection order and survives a new store instance (restart)', async () => {
    let t = Date.parse('2026-11-28T09:00:00Z');
    const clocked = new FilesystemEvidenceStore({ dataDir, now: () => new Date((t += 1000)) });
    const ids = [];
    for (const k of ['c', 'a', 'b'])
      ids.push(
        (await clocked.put(req({ idempotencyKey: `order-${k}`, content: Buffer.from(k) }))).evidenceId,
      );
    const reopened = new FilesystemEvidenceStore({ dataDir });
    expect((await reopened.list('INC-2026-0001')).map((r) => r.evidenceId)).toEqual(ids);
    expect((await reopened.verify(ids[0]!)).ok).toBe(true);
  });
});
