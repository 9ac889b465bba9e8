import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { promises as fs, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  assembleBundle,
  canonicalJson,
  codeSha256,
  createSigner,
  defaultBuildId,
  entryHash,
  GENESIS_HASH,
  verifyBundle,
  type AuditBundle,
  type AuditSigner,
  type VerifyResult,
} from '../../src/audit/bundle';
import { eventAttributes, type HistoryJson, type JsonPayload } from '../../src/audit/history-json';
import { forEachPayload, jsonToPayload, payloadToJson } from '../../src/audit/payloads';
import { installQuietRuntime } from '../../src/audit/replay';
import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { buildTimeline, stateFromHistory } from '../../src/audit/timeline';
import { AesGcmPayloadCodec, ENCRYPTION_KEY_ENV, parseEncryptionKeys } from '../../src/temporal/codec';
import { requireEnv, TEST_ENV } from '../support/env';
import { startHarness, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { testClient } from '../support/temporal';
import { committedExport, runCli, runRichIncident } from './helpers';

const clone = <T>(x: T): T => JSON.parse(JSON.stringify(x)) as T;

function signingKey(): { pem: string; signer: AuditSigner } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
  return { pem, signer: createSigner(pem) };
}

/**
 * What someone holding a signing key can do after editing entries: re-chain every hash, rewrite the manifest's
 * index and head hash, and sign again, so the chain and the signature both pass.
 */
function rechainAndSign(bundle: AuditBundle, signer: AuditSigner): void {
  let prev = GENESIS_HASH;
  for (const e of bundle.entries) {
    e.hash = entryHash(prev, e);
    prev = e.hash;
  }
  const m = bundle.manifest;
  m.index = bundle.entries.map((e) => ({ seq: e.seq, kind: e.kind, id: e.id, hash: e.hash }));
  m.headHash = prev;
  const { signature: _s, ...unsigned } = m;
  m.signature = {
    algorithm: 'Ed25519',
    keyId: signer.keyId,
    publicKey: signer.publicKey,
    value: signer.sign(Buffer.from(canonicalJson(unsigned), 'utf8')).toString('base64'),
  };
}

/** The verify JSON's replay part. */
const replayOf = (stdout: string) => (JSON.parse(stdout) as VerifyResult).replay;

/** A Temporal address nothing listens on: verify must not need it. */
const NO_SERVER = '127.0.0.1:1';
const offline = () => Promise.reject(new Error('verify --replay must not connect to Temporal'));

describe('quell audit verify --replay: offline replay of an exported bundle', () => {
  let estate: MemoryEstate;
  let h: Harness;
  let dir: string;
  /** The code the test worker ran the incident with (the global setup's bundle, loaded from a file). */
  const current = { codePath: requireEnv(TEST_ENV.bundle) };
  const currentSha = codeSha256(readFileSync(current.codePath, 'utf8'));
  let key: ReturnType<typeof signingKey>;
  let env: NodeJS.ProcessEnv;
  let signedFile: string;
  let hashOnlyFile: string;
  let incidentId: string;

  beforeAll(async () => {
    installQuietRuntime();
    estate = new MemoryEstate();
    h = await startHarness({ connectors: estate.connectors() });
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-verify-replay-'));
    key = signingKey();
    env = { ...process.env, QUELL_AUDIT_SIGNING_KEY: key.pem };
    ({ incidentId } = await runRichIncident(h, estate, `rpl-${randomUUID().slice(0, 8)}`));
    const signed = await runCli(['audit', 'export', incidentId, '--out', path.join(dir, 'signed')], {
      connect: () => testClient(),
      env,
      workflowBundle: current,
    });
    expect(signed.exitCode).toBe(0);
    expect(signed.stderr).toMatch(
      /workflow code sha256 [0-9a-f]{64} \(Quell \S+, SDK \S+; .*\), carried in the bundle/,
    );
    signedFile = signed.stdout.trim();
    const hashOnly = await runCli(
      ['audit', 'export', incidentId, '--out', path.join(dir, 'hash-only'), '--no-embed-code'],
      { connect: () => testClient(), env, workflowBundle: current },
    );
    expect(hashOnly.exitCode).toBe(0);
    expect(hashOnly.stderr).toMatch(/named by hash only/);
    hashOnlyFile = hashOnly.stdout.trim();
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await fs.rm(dir, { recursive: true, force: true });
  });

  /** `quell audit verify` with no Temporal server reachable. */
  const verify = (args: string[], workflowBundle: { codePath: string } | { code: string } = current) =>
    runCli(['audit', 'verify', ...args], {
      connect: offline,
      env: { ...env, TEMPORAL_ADDRESS: NO_SERVER },
      workflowBundle,
    });

  it('the manifest names the code the history ran on, and the signature covers it', async () => {
    const bundle = JSON.parse(await fs.readFile(signedFile, 'utf8')) as AuditBundle;
    const wc = bundle.manifest.workflowCode!;
    expect(wc).toMatchObject({
      sha256: currentSha,
      quellVersion: (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version,
      sdkVersion: '1.24.0',
      buildId: defaultBuildId('1.24.0', currentSha),
      entryId: 'workflow-code',
    });
    // The test worker loads the bundle from a file, so Temporal recorded exactly this code's build ID.
    expect(wc.recordedBuildIds).toEqual([wc.buildId]);
    const entry = bundle.entries.at(-1)!;
    expect(entry).toMatchObject({ kind: 'workflow-code', id: 'workflow-code', body: { sha256: currentSha } });
    expect(codeSha256((entry.body as { code: string }).code)).toBe(currentSha);

    const edited = clone(bundle);
    edited.manifest.workflowCode!.sha256 = 'f'.repeat(64);
    const r = await verifyBundle(edited);
    expect(r.signature.status).toBe('invalid');
    expect(r.ok).toBe(false);
  });

  it('VERIFIED with nothing but the bundle: the carried code replays every run, no server needed', async () => {
    const r = await verify([signedFile, '--replay']);
    expect({ exitCode: r.exitCode, stderr: r.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(r.stdout).toMatch(/^VERIFIED/);
    expect(r.stdout).toMatch(
      new RegExp(
        `replay:\\s+VERIFIED: 1 run\\(s\\), \\d+ events replayed against the workflow code the bundle carries, ` +
          `sha256 ${currentSha.slice(0, 16)}… \\(Quell \\S+, SDK 1\\.24\\.0\\), without a Temporal server; ` +
          "the history's workflow tasks recorded this code's build ID",
      ),
    );
    expect(r.stdout).toMatch(
      /workflow code: sha256 [0-9a-f]{64} \(Quell \S+, SDK 1\.24\.0\), carried in the bundle/,
    );
    // Even with this installation's code changed: the bundle's own code is what replays.
    const json = await verify([signedFile, '--replay', '--json'], { code: 'not workflow code' });
    expect(json.exitCode).toBe(0);
    expect(replayOf(json.stdout)).toMatchObject({
      status: 'verified',
      namedSha256: currentSha,
      runs: 1,
      events: expect.any(Number),
      code: { sha256: currentSha, source: 'bundled', sdkVersion: '1.24.0', ranTheHistory: true },
    });
  }, 60_000);

  it('a history edited and re-signed so every other check passes: replay names the first diverging event', async () => {
    const bundle = JSON.parse(await fs.readFile(signedFile, 'utf8')) as AuditBundle;
    const run = bundle.entries.find((e) => e.kind === 'history')!.body as { history: HistoryJson };
    // The timeline reads no patch markers, so only replaying the code notices a marker for a change the code
    // does not make (e.g. an edit meant to claim the incident ran other code).
    const marker = run.history.events.find((e) => e.eventType === 'EVENT_TYPE_MARKER_RECORDED')!;
    expect(marker).toBeDefined();
    const payload = eventAttributes<{ details: Record<string, { payloads: { data: string }[] }> }>(marker)
      .details['patch-data']!.payloads[0]!;
    const patch = JSON.parse(Buffer.from(payload.data, 'base64').toString('utf8')) as { id: string };
    payload.data = Buffer.from(JSON.stringify({ ...patch, id: `${patch.id}-forged` })).toString('base64');
    rechainAndSign(bundle, key.signer);
    const file = path.join(dir, 'edited.audit-bundle.json');
    await fs.writeFile(file, JSON.stringify(bundle));

    const plain = await verify([file, '--json']);
    expect(plain.exitCode).toBe(0);
    expect(JSON.parse(plain.stdout)).toMatchObject({
      ok: true,
      chain: { ok: true },
      signature: { status: 'valid' },
      consistency: { status: 'match' },
    });

    const r = await verify([file, '--replay']);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/^FAILED/);
    expect(r.stdout).toMatch(
      new RegExp(
        `replay:\\s+DIVERGED in run 1/1 \\(\\S+\\) at event ${marker.eventId} \\(MarkerRecorded\\): ` +
          `.*patch marker encountered for change ${patch.id}-forged`,
      ),
    );
    // explain.ts's account of the event, as `quell replay` prints it.
    expect(r.stdout).toMatch(new RegExp(`NONDETERMINISM: \\S+ run 1/1\\n\\s+incident: `));
    expect(r.stdout).toMatch(new RegExp(`event:\\s+${marker.eventId} \\(MarkerRecorded, at `));
    const json = await verify([file, '--replay', '--json']);
    expect(replayOf(json.stdout)).toMatchObject({
      status: 'diverged',
      firstDivergence: {
        run: 1,
        eventId: Number(marker.eventId),
        eventType: 'MarkerRecorded',
        kind: 'nondeterminism',
      },
    });
  }, 60_000);

  it("a bundle naming other code than this installation's fails clearly, naming both; --against-current replays anyway", async () => {
    // Functionally the same code, but other bytes: another SHA-256.
    const other = { code: `${readFileSync(current.codePath, 'utf8')}\n// rebuilt\n` };
    const otherSha = codeSha256(other.code);
    const r = await verify([hashOnlyFile, '--replay'], other);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/workflow code: .*named by hash \(the code is not in the bundle\)/);
    expect(r.stdout).toContain(
      `replay:      FAILED: the bundle names workflow code sha256 ${currentSha} (Quell `,
    );
    expect(r.stdout).toContain(`but this installation's is sha256 ${otherSha} (Quell `);
    expect(r.stdout).toMatch(/--against-current/);

    const forced = await verify([hashOnlyFile, '--replay', '--against-current', '--json'], other);
    expect(forced.exitCode).toBe(0);
    expect(replayOf(forced.stdout)).toMatchObject({
      status: 'verified',
      namedSha256: currentSha,
      code: { sha256: otherSha, source: 'current-forced', ranTheHistory: false },
      message: expect.stringMatching(/NOT the code the bundle names \(--against-current\)/),
    });
    // The matching installation needs nothing more.
    expect((await verify([hashOnlyFile, '--replay'])).exitCode).toBe(0);
  }, 60_000);

  it('carried code is run only under a valid signature: unsigned, it needs an installation with that code', async () => {
    const { QUELL_AUDIT_SIGNING_KEY: _k, ...noKey } = env;
    const u = await runCli(['audit', 'export', incidentId, '--out', path.join(dir, 'unsigned')], {
      connect: () => testClient(),
      env: noKey,
      workflowBundle: current,
    });
    expect(u.exitCode).toBe(0);
    const file = u.stdout.trim();
    const other = { code: 'globalThis.surprise = 1;' };
    const r = await verify([file, '--replay'], other);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toMatch(/carries its workflow code but is unsigned, so the code is not run/);
    const same = await verify([file, '--replay', '--json']);
    expect(same.exitCode).toBe(0);
    expect(replayOf(same.stdout)).toMatchObject({ status: 'verified', code: { source: 'current' } });
  }, 60_000);

  it('--against-current goes with --replay', async () => {
    const r = await verify([signedFile, '--against-current']).catch((e: Error) => e);
    expect(r instanceof Error ? r.message : '').toMatch(/--against-current goes with --replay/);
  });
});

describe('bundles exported before manifests named the code', () => {
  /** A bundle as earlier Quell assembled it: no `workflowCode`, no `workflow-code` entry. */
  function olderBundle(signer: AuditSigner): AuditBundle {
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
        evidence: [],
        createdAt: '2026-01-01T00:00:00.000Z',
      },
      signer,
    );
  }

  let dir: string;
  beforeAll(async () => {
    installQuietRuntime();
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-verify-older-'));
  });
  afterAll(() => fs.rm(dir, { recursive: true, force: true }));

  it('verify as before; --replay matches the code by the build IDs its history recorded', async () => {
    const bundle = olderBundle(signingKey().signer);
    expect(bundle.manifest.workflowCode).toBeUndefined();
    expect(bundle.manifest.format).toBe('quell.audit-bundle/v1');
    const file = path.join(dir, 'older.audit-bundle.json');
    await fs.writeFile(file, JSON.stringify(bundle));
    const current = { codePath: requireEnv(TEST_ENV.bundle) };
    const deps = { connect: offline, workflowBundle: current };

    const plain = await runCli(['audit', 'verify', file, '--json'], deps);
    expect(plain.exitCode).toBe(0);
    const result = JSON.parse(plain.stdout) as VerifyResult;
    expect(result).toMatchObject({ ok: true, consistency: { status: 'match' } });
    expect(result.workflowCode).toBeUndefined();
    expect(result.replay).toBeUndefined();

    // The committed history was recorded by an earlier build: its build ID names code this is not.
    const history = (bundle.entries[0]!.body as { history: HistoryJson }).history;
    const recorded = eventAttributes<{ workerVersion: { buildId: string } }>(
      history.events.find((e) => e.eventType === 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED')!,
    ).workerVersion.buildId.split('+')[1]!;
    const currentSha = codeSha256(readFileSync(current.codePath, 'utf8'));
    expect(recorded).not.toBe(currentSha);
    const r = await runCli(['audit', 'verify', file, '--replay'], deps);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain(
      `the bundle names workflow code sha256 ${recorded} (by its history's build IDs)`,
    );
    expect(r.stdout).toContain(`this installation's is sha256 ${currentSha}`);
    // Every committed history replays against today's code (test/audit/replay.test.ts), so forced, it verifies.
    const forced = await runCli(['audit', 'verify', file, '--replay', '--against-current', '--json'], deps);
    expect(forced.exitCode).toBe(0);
    expect((JSON.parse(forced.stdout) as VerifyResult).replay).toMatchObject({
      status: 'verified',
      namedSha256: recorded,
      code: { source: 'current-forced', ranTheHistory: false },
    });
  }, 60_000);
});

describe('encrypted bundles', () => {
  it('replay needs QUELL_ENCRYPTION_KEY, and without it fails naming the key ID', async () => {
    installQuietRuntime();
    const spec = `audit-k1:${randomBytes(32).toString('base64')}`;
    const codec = new AesGcmPayloadCodec(parseEncryptionKeys(spec));
    const readable = committedExport('permanent-failure');
    const timeline = buildTimeline(readable);
    const { state } = stateFromHistory(readable)!;
    const report = buildReport(state, timeline, { exported: readable, now: () => new Date(0) });
    // Stored as an encrypted deployment stores it: the workflow input and the activities' results sealed.
    const stored = clone(readable);
    const sealed: JsonPayload[] = [];
    forEachPayload(stored.runs[0]!.history, (p, at) => {
      if (/workflowExecutionStarted|activityTaskCompleted/.test(at)) sealed.push(p);
    });
    const encrypted = await codec.encode(sealed.map(jsonToPayload));
    sealed.forEach((p, i) => Object.assign(p, payloadToJson(encrypted[i]!)));
    stored.encryption = { encrypted: true, keyIds: ['audit-k1'] };
    const code = readFileSync(requireEnv(TEST_ENV.bundle), 'utf8');
    const bundle = assembleBundle(
      {
        exported: stored,
        state,
        stateSource: 'history',
        timeline,
        report,
        reportMarkdown: renderReportMarkdown(report),
        evidence: [],
        createdAt: new Date(0).toISOString(),
        workflowCode: { code, quellVersion: '0.1.0', sdkVersion: '1.24.0', embed: true },
      },
      signingKey().signer,
    );
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-verify-encrypted-'));
    try {
      const file = path.join(dir, 'encrypted.audit-bundle.json');
      await fs.writeFile(file, JSON.stringify(bundle));
      const { [ENCRYPTION_KEY_ENV]: _k, ...noKey } = process.env;
      const without = await runCli(['audit', 'verify', file, '--replay'], { connect: offline, env: noKey });
      expect(without.exitCode).toBe(1);
      expect(without.stdout).toMatch(/consistency: skipped: the history is encrypted/);
      expect(without.stdout).toMatch(/replay:\s+FAILED: run 1\/1 could not be replayed: .*"audit-k1"/);

      const withKey = await runCli(['audit', 'verify', file, '--replay', '--json'], {
        connect: offline,
        env: { ...noKey, [ENCRYPTION_KEY_ENV]: spec },
      });
      expect(withKey.exitCode).toBe(0);
      expect(JSON.parse(withKey.stdout)).toMatchObject({
        ok: true,
        consistency: { status: 'match' },
        replay: { status: 'verified', runs: 1, code: { source: 'bundled', sha256: codeSha256(code) } },
      });
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it("a manifest whose recorded build IDs are not the history's fails (unsigned, so only this check sees it)", async () => {
    const exported = committedExport('permanent-failure');
    const timeline = buildTimeline(exported);
    const { state } = stateFromHistory(exported)!;
    const report = buildReport(state, timeline, { exported, now: () => new Date(0) });
    const bundle = assembleBundle({
      exported,
      state,
      stateSource: 'history',
      timeline,
      report,
      reportMarkdown: renderReportMarkdown(report),
      evidence: [],
      createdAt: new Date(0).toISOString(),
      workflowCode: { code: '/* code */', quellVersion: '0.1.0', sdkVersion: '1.24.0', embed: false },
    });
    expect((await verifyBundle(clone(bundle))).ok).toBe(true);
    const edited = clone(bundle);
    edited.manifest.workflowCode!.recordedBuildIds = [edited.manifest.workflowCode!.buildId];
    const r = await verifyBundle(edited);
    expect(r.ok).toBe(false);
    expect(r.workflowCode).toMatchObject({
      status: 'mismatch',
      message: expect.stringMatching(/recorded build IDs .* are not the bundled history's/),
    });
  });
});
