import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assembleBundle,
  canonicalJson,
  createSigner,
  entryHash,
  GENESIS_HASH,
  readPublicKey,
  verifyBundle,
  type AuditBundle,
} from '../../src/audit/bundle';
import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { buildTimeline, stateFromHistory } from '../../src/audit/timeline';
import { startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { requireEnv, TEST_ENV } from '../support/env';
import { testClient } from '../support/temporal';
import { committedExport, runCli, runRichIncident } from './helpers';

function keyPair() {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return {
    pem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    der: privateKey.export({ type: 'pkcs8', format: 'der' }).toString('base64'),
    publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString(),
  };
}

/** A bundle built from a committed history (no server needed). */
function committedBundle(signed: boolean, key = keyPair()): AuditBundle {
  const exported = committedExport('permanent-failure');
  const timeline = buildTimeline(exported);
  const { state } = stateFromHistory(exported)!;
  const report = buildReport(state, timeline, { exported, now: () => new Date('2026-01-01T00:00:00Z') });
  return assembleBundle(
    {
      exported,
      state,
      stateSource: 'history',
      timeline,
      report,
      reportMarkdown: renderReportMarkdown(report),
      evidence: state.evidence.map((e) => ({
        ...e,
        custody: [{ at: e.collectedAt, actor: e.collectedBy, action: 'collected' }],
        custodySource: 'incident-state' as const,
        refs: [],
      })),
      createdAt: '2026-01-01T00:00:00.000Z',
    },
    signed ? createSigner(key.pem) : undefined,
  );
}

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

describe('audit bundle: hash chain, manifest, signature', () => {
  it('canonical JSON sorts keys and drops undefined; entry hashes chain from the genesis hash', () => {
    expect(canonicalJson({ b: 1, a: [true, null, 'x', { d: undefined, c: 2.5 }] })).toBe(
      '{"a":[true,null,"x",{"c":2.5}],"b":1}',
    );
    const bundle = committedBundle(false);
    expect(bundle.entries[0]!.hash).toBe(entryHash(GENESIS_HASH, bundle.entries[0]!));
    expect(bundle.entries[1]!.hash).toBe(entryHash(bundle.entries[0]!.hash, bundle.entries[1]!));
    expect(bundle.manifest.headHash).toBe(bundle.entries[bundle.entries.length - 1]!.hash);
    expect(bundle.manifest.counts).toMatchObject({
      history: 1,
      state: 1,
      report: 1,
      'report-markdown': 1,
      evidence: 1,
    });
  });

  it('an intact signed bundle verifies; the signature is checked against a trusted key when given', async () => {
    const key = keyPair();
    const bundle = committedBundle(true, key);
    const result = await verifyBundle(clone(bundle));
    expect(result).toMatchObject({
      ok: true,
      chain: { ok: true },
      signature: { status: 'valid', keyId: expect.stringMatching(/^ed25519:[0-9a-f]{16}$/) },
      consistency: { status: 'match' },
    });
    const trusted = await verifyBundle(clone(bundle), {
      trustedPublicKey: await readPublicKey(key.publicPem),
    });
    expect(trusted.signature.trusted).toBe(true);
    const other = await verifyBundle(clone(bundle), {
      trustedPublicKey: await readPublicKey(keyPair().publicPem),
    });
    expect(other.ok).toBe(false);
    expect(other.signature.message).toMatch(/NOT by the trusted key/);
    // A DER (base64 PKCS#8) key signs the same way.
    expect(createSigner(key.der).keyId).toBe(bundle.manifest.signature!.keyId);
  });

  it('an unsigned bundle says so clearly (and fails when a signature is required)', async () => {
    const result = await verifyBundle(clone(committedBundle(false)));
    expect(result.ok).toBe(true);
    expect(result.signature).toMatchObject({
      status: 'unsigned',
      message: expect.stringMatching(/^UNSIGNED/),
    });
    expect((await verifyBundle(clone(committedBundle(false)), { requireSignature: true })).ok).toBe(false);
  });

  it('names the first edited entry', async () => {
    const bundle = clone(committedBundle(true));
    const target = bundle.entries.find(
      (e) => e.kind === 'timeline' && (e.body as { kind: string }).kind === 'action_resolution',
    )!;
    (target.body as { actor: string }).actor = 'mallory';
    const r = await verifyBundle(bundle);
    expect(r.ok).toBe(false);
    expect(r.chain.firstProblem).toMatchObject({
      kind: 'changed',
      position: target.seq,
      found: { id: target.id },
    });
    expect(r.chain.firstProblem!.message).toContain(`#${target.seq} ${target.id}`);
    expect(r.consistency.status).toBe('skipped');
  });

  it('an edit that recomputes the entry hash and the rest of the chain is still caught (manifest, signature)', async () => {
    const bundle = clone(committedBundle(true));
    const evidence = bundle.entries.find((e) => e.kind === 'evidence')!;
    (evidence.body as { sha256: string }).sha256 = 'f'.repeat(64);
    let prev = evidence.seq === 0 ? GENESIS_HASH : bundle.entries[evidence.seq - 1]!.hash;
    for (const e of bundle.entries.slice(evidence.seq)) {
      e.hash = entryHash(prev, e);
      prev = e.hash;
    }
    const r = await verifyBundle(bundle);
    expect(r.chain.firstProblem).toMatchObject({ kind: 'changed', position: evidence.seq });
    // Rewriting the manifest too leaves only the signature to catch it.
    bundle.manifest.index = bundle.entries.map((e) => ({ seq: e.seq, kind: e.kind, id: e.id, hash: e.hash }));
    bundle.manifest.headHash = prev;
    const r2 = await verifyBundle(bundle);
    expect(r2.chain.ok).toBe(true);
    expect(r2.signature.status).toBe('invalid');
    expect(r2.ok).toBe(false);
  });

  it('names a removed entry', async () => {
    const bundle = clone(committedBundle(true));
    const removed = bundle.entries.splice(7, 1)[0]!;
    const r = await verifyBundle(bundle);
    expect(r.chain.firstProblem).toMatchObject({
      kind: 'removed',
      position: 7,
      expected: { id: removed.id },
    });
    expect(r.chain.firstProblem!.message).toContain(`${removed.id} was removed`);
  });

  it('names swapped entries', async () => {
    const bundle = clone(committedBundle(true));
    const [a, b] = [bundle.entries[5]!, bundle.entries[9]!];
    bundle.entries[5] = b;
    bundle.entries[9] = a;
    const r = await verifyBundle(bundle);
    expect(r.chain.firstProblem).toMatchObject({ kind: 'reordered', position: 5 });
    expect(r.chain.firstProblem!.message).toContain(`entries #5 ${a.id} and #9 ${b.id} were swapped`);
  });

  it('a changed signature is caught', async () => {
    const bundle = clone(committedBundle(true));
    const sig = Buffer.from(bundle.manifest.signature!.value, 'base64');
    sig[0] = sig[0]! ^ 0xff;
    bundle.manifest.signature!.value = sig.toString('base64');
    const r = await verifyBundle(bundle);
    expect(r.chain.ok).toBe(true);
    expect(r.signature).toMatchObject({ status: 'invalid', message: expect.stringMatching(/^INVALID/) });
    expect(r.ok).toBe(false);
  });

  it('a changed manifest field (head hash) is caught by the chain and the signature', async () => {
    const bundle = clone(committedBundle(true));
    bundle.manifest.createdAt = '2030-01-01T00:00:00.000Z';
    const r = await verifyBundle(bundle);
    expect(r.signature.status).toBe('invalid');
  });
});

describe('quell audit export / verify against a live incident', () => {
  let estate: MemoryEstate;
  let h: Harness;
  let dir: string;
  beforeAll(async () => {
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-audit-bundle-'));
  });
  afterAll(async () => {
    await h?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('exports a signed bundle that verifies, and verify names each kind of tampering (exit code 1)', async () => {
    const { incidentId } = await runRichIncident(h, estate, `bdl-${randomUUID().slice(0, 8)}`);
    const key = keyPair();
    const env = { ...process.env, QUELL_AUDIT_SIGNING_KEY: key.pem };
    // The code the test worker runs (without it, export bundles workflows/ itself).
    const workflowBundle = { codePath: requireEnv(TEST_ENV.bundle) };
    const exported = await runCli(['audit', 'export', incidentId, '--out', dir, '--markdown'], {
      connect: () => testClient(),
      env,
      workflowBundle,
    });
    expect(exported.exitCode).toBe(0);
    const file = exported.stdout.trim();
    expect(path.basename(file)).toBe(`${incidentId}.audit-bundle.json`);
    expect(exported.stderr).toMatch(/signed by ed25519:/);
    expect(await fs.readFile(path.join(dir, `${incidentId}.report.md`), 'utf8')).toContain('## Approvals');

    const pubFile = path.join(dir, 'audit.pub.pem');
    await fs.writeFile(pubFile, key.publicPem);
    const ok = await runCli(['audit', 'verify', file, '--public-key', pubFile], { env });
    expect(ok.exitCode).toBe(0);
    expect(ok.stdout).toMatch(/^VERIFIED/);
    expect(ok.stdout).toMatch(/hash chain:\s+intact/);
    expect(ok.stdout).toMatch(/valid Ed25519 signature by key ed25519:[0-9a-f]{16} \(the trusted key\)/);
    expect(ok.stdout).toMatch(/timeline entries follow from the bundled history/);

    const original = JSON.parse(await fs.readFile(file, 'utf8')) as AuditBundle;
    const bundle = original.entries;
    const decision = bundle.find(
      (e) => e.kind === 'timeline' && (e.body as { kind: string }).kind === 'approval_decision',
    )!;
    const cases: [string, (b: AuditBundle) => void, RegExp][] = [
      [
        'edited',
        (b) => ((b.entries[decision.seq]!.body as { actor: string }).actor = 'mallory'),
        new RegExp(`#${decision.seq} ${decision.id} \\(timeline\\) was changed`),
      ],
      ['removed', (b) => b.entries.splice(3, 1), new RegExp(`#3 ${bundle[3]!.id} was removed`)],
      [
        'swapped',
        (b) => ([b.entries[4], b.entries[6]] = [b.entries[6]!, b.entries[4]!]),
        new RegExp(`#4 ${bundle[4]!.id} and #6 ${bundle[6]!.id} were swapped`),
      ],
      [
        'signature',
        (b) => (b.manifest.signature!.value = Buffer.alloc(64, 1).toString('base64')),
        /signature:\s+INVALID/,
      ],
    ];
    for (const [name, tamper, expected] of cases) {
      const copy = clone(original);
      tamper(copy);
      const tampered = path.join(dir, `${name}.audit-bundle.json`);
      await fs.writeFile(tampered, JSON.stringify(copy));
      const r = await runCli(['audit', 'verify', tampered], { env });
      expect({ name, exitCode: r.exitCode }).toEqual({ name, exitCode: 1 });
      expect(r.stdout).toMatch(/^FAILED/);
      expect(r.stdout).toMatch(expected);
    }

    // Unsigned export: verify passes the chain and says UNSIGNED.
    const unsignedDir = path.join(dir, 'unsigned');
    const { QUELL_AUDIT_SIGNING_KEY: _k, ...noKeyEnv } = env;
    const u = await runCli(['audit', 'export', incidentId, '--out', unsignedDir], {
      connect: () => testClient(),
      env: noKeyEnv,
      workflowBundle,
    });
    expect(u.stderr).toMatch(/UNSIGNED/);
    const uv = await runCli(['audit', 'verify', unsignedDir, '--json'], { env: noKeyEnv });
    expect(uv.exitCode).toBe(0);
    expect(JSON.parse(uv.stdout)).toMatchObject({ ok: true, signature: { status: 'unsigned' } });
    const required = await runCli(['audit', 'verify', unsignedDir, '--require-signature'], { env: noKeyEnv });
    expect(required.exitCode).toBe(1);
  });

  it('a bad signing key is reported clearly', async () => {
    const r = await runCli(['audit', 'export', 'INC-0000000000000000-000000'], {
      connect: () => testClient(),
      env: { ...process.env, QUELL_AUDIT_SIGNING_KEY: 'not a key' },
    });
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/QUELL_AUDIT_SIGNING_KEY is not a readable private key/);
  });
});
