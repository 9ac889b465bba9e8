import { randomBytes, randomUUID } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Client } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import * as proto from '@temporalio/proto';
import type { Worker } from '@temporalio/worker';
import {
  decryptExport,
  exportIncidentHistory,
  writeRunFiles,
  type IncidentHistoryExport,
} from '../../src/audit/history';
import type { HistoryJson } from '../../src/audit/history-json';
import { encryptionKeyIdsIn } from '../../src/audit/payloads';
import {
  historiesFromFiles,
  historiesOfIncident,
  installQuietRuntime,
  replayHistories,
} from '../../src/audit/replay';
import { buildReport, renderReportMarkdown } from '../../src/audit/report';
import { createAuditService } from '../../src/audit/service';
import { buildTimeline, stateFromHistory } from '../../src/audit/timeline';
import type { IncidentState } from '../../src/domain/incident';
import { normalizeGeneric } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import {
  AesGcmPayloadCodec,
  decodePayloadProto,
  encodePayloadProto,
  EncryptionConfigError,
  encryptionDataConverter,
  FAILURE_CONVERTER_PATH,
  MissingEncryptionKeyError,
  parseEncryptionKeys,
  PayloadDecryptionError,
} from '../../src/temporal/codec';
import { connectClient, connectWorker } from '../../src/temporal/connection';
import { bundleWorkflows, createIncidentWorker } from '../../src/worker';
import { genericAlert } from '../support/alerts';
import { requireEnv, TEST_ENV } from '../support/env';
import { actors, testPlaybookYaml, type Harness } from '../support/incident-harness';
import { MemoryEstate } from '../support/memory-estate';
import { waitFor } from '../support/processes';
import { testClient, testEndpoint, uniqueTaskQueue } from '../support/temporal';
import { runCli, runRichIncident } from './helpers';

const execFileAsync = promisify(execFile);
const key32 = () => randomBytes(32).toString('base64');
const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? []).toString('utf8');

/** Every place a secret is readable in a JSON document: plain strings, and base64 strings decoded. */
function findSecrets(doc: unknown, secrets: string[]): { path: string; secret: string }[] {
  const hits: { path: string; secret: string }[] = [];
  const visit = (node: unknown, at: string): void => {
    if (typeof node === 'string') {
      const readable = [node];
      if (node.length >= 4 && /^[A-Za-z0-9+/]+=*$/.test(node))
        readable.push(Buffer.from(node, 'base64').toString('latin1'));
      for (const s of secrets) if (readable.some((r) => r.includes(s))) hits.push({ path: at, secret: s });
    } else if (Array.isArray(node)) node.forEach((c, i) => visit(c, `${at}[${i}]`));
    else if (node && typeof node === 'object')
      for (const [k, v] of Object.entries(node)) visit(v, at ? `${at}.${k}` : k);
  };
  visit(doc, '');
  return hits;
}

describe('AES-256-GCM payload codec', () => {
  const payload: Payload = {
    metadata: { encoding: utf8('json/plain') },
    data: utf8('{"host":"ws-secret-1"}'),
  };

  it('parses QUELL_ENCRYPTION_KEY and refuses malformed values, naming the entry but never the key', () => {
    const a = key32();
    expect(parseEncryptionKeys(`k1:${a}, k0:${key32()}`).map((k) => k.id)).toEqual(['k1', 'k0']);
    expect(() => parseEncryptionKeys('nokey')).toThrow(EncryptionConfigError);
    expect(() => parseEncryptionKeys(`k1:${randomBytes(16).toString('base64')}`)).toThrow(/"k1" is 16 bytes/);
    expect(() => parseEncryptionKeys(`k1:${a},k1:${a}`)).toThrow(/twice/);
    try {
      parseEncryptionKeys(`k1:${randomBytes(20).toString('base64')}`);
    } catch (err) {
      expect((err as Error).message).not.toContain(a);
    }
  });

  it('encrypts with the first key (metadata encoding and key ID), decrypts with any listed key (rotation)', async () => {
    const [k1, k2] = [key32(), key32()];
    const old = new AesGcmPayloadCodec(parseEncryptionKeys(`k1:${k1}`));
    const rotated = new AesGcmPayloadCodec(parseEncryptionKeys(`k2:${k2},k1:${k1}`));
    const [sealed] = await old.encode([payload]);
    expect(text(sealed!.metadata!.encoding)).toBe('binary/encrypted');
    expect(text(sealed!.metadata!['encryption-key-id'])).toBe('k1');
    expect(text(sealed!.data)).not.toContain('ws-secret-1');
    expect(sealed!.data!.length).toBe(12 + encodePayloadProto(payload).length + 16);
    const [again] = await old.encode([payload]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(sealed!.data!))).toBe(false); // fresh IV
    const [opened] = await rotated.decode([sealed!]);
    expect(text(opened!.data)).toBe('{"host":"ws-secret-1"}');
    const [newer] = await rotated.encode([payload]);
    expect(text(newer!.metadata!['encryption-key-id'])).toBe('k2');
    // Plain payloads pass through decode untouched.
    expect(await rotated.decode([payload])).toEqual([payload]);
  });

  it('names the missing key ID, and refuses payloads that do not authenticate', async () => {
    const [sealed] = await new AesGcmPayloadCodec(parseEncryptionKeys(`prod-2026:${key32()}`)).encode([
      payload,
    ]);
    const other = new AesGcmPayloadCodec(parseEncryptionKeys(`dev:${key32()}`));
    await expect(other.decode([sealed!])).rejects.toThrow(MissingEncryptionKeyError);
    await expect(other.decode([sealed!])).rejects.toThrow(
      /key "prod-2026".*QUELL_ENCRYPTION_KEY holds only "dev"/,
    );
    const impostor = new AesGcmPayloadCodec(parseEncryptionKeys(`prod-2026:${key32()}`));
    await expect(impostor.decode([sealed!])).rejects.toThrow(PayloadDecryptionError);
  });

  it('serializes the Payload proto exactly like protobufjs (the format Temporal samples encrypt)', () => {
    const p = {
      metadata: { encoding: utf8('json/plain'), 'encryption-key-id': utf8('k') },
      data: utf8('x'.repeat(300)),
    };
    const reference = proto.temporal.api.common.v1.Payload.encode(p).finish();
    expect(Buffer.from(encodePayloadProto(p)).equals(Buffer.from(reference))).toBe(true);
    const back = decodePayloadProto(reference);
    expect(text(back.data)).toBe('x'.repeat(300));
    expect(text(back.metadata!.encoding)).toBe('json/plain');
  });
});

/** A harness whose worker and client encrypt every payload, on their own task queue. */
async function encryptedHarness(
  estate: MemoryEstate,
  dataConverter: ReturnType<typeof encryptionDataConverter>,
  workflowBundle: { code: string } | { codePath: string },
): Promise<Harness & { rawWorker: Worker }> {
  const endpoint = testEndpoint();
  const taskQueue = uniqueTaskQueue('enc');
  const connection = await connectWorker(endpoint);
  const worker = await createIncidentWorker({
    connection,
    namespace: endpoint.namespace,
    taskQueue,
    activityDeps: { connectors: estate.connectors() },
    workflowBundle,
    shutdownGraceTimeMs: 2_000,
    dataConverter,
  });
  const running = worker.run();
  const client = await connectClient(endpoint, { dataConverter });
  const service = new IncidentService(
    client,
    taskQueue,
    PlaybookRegistry.from([parsePlaybook(testPlaybookYaml(), 'test-pb.yaml')]),
    undefined,
    { redactSearchAttributes: true },
  );
  const stop = async () => {
    if (worker.getState() === 'RUNNING') worker.shutdown();
    await running.catch(() => undefined);
    await connection.close();
    await client.connection.close();
  };
  return {
    service,
    client,
    rawWorker: worker,
    worker: { worker, taskQueue, connection, running, stop },
    ingest: (alert = {}, raisedBy = actors.siem.subject) =>
      service.ingestAlert(normalizeGeneric(genericAlert(alert), new Date().toISOString()), raisedBy),
    state: (id) => service.getState(id),
    until: (id, predicate, what, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const s = await service.getState(id);
          try {
            return predicate(s) ? s : undefined;
          } catch {
            return undefined;
          }
        },
        timeoutMs,
        what,
      ),
    stop,
  };
}

describe('encrypted payloads end to end (worker + client with the codec, separate task queue)', () => {
  const keyId = `k-${randomUUID().slice(0, 6)}`;
  const spec = `${keyId}:${key32()}`;
  const codec = new AesGcmPayloadCodec(parseEncryptionKeys(spec));
  const dataConverter = encryptionDataConverter(codec);
  let estate: MemoryEstate;
  let h: Harness & { rawWorker: Worker };
  let raw: Client;
  let incident: {
    incidentId: string;
    workflowId: string;
    state: IncidentState;
    hosts: string[];
    accounts: string[];
  };
  let stored: IncidentHistoryExport;
  let secrets: string[];
  let dir: string;

  beforeAll(async () => {
    installQuietRuntime();
    estate = new MemoryEstate();
    // The recommended production setup: the failure converter is also bundled into the workflow code.
    h = await encryptedHarness(
      estate,
      dataConverter,
      await bundleWorkflows({ failureConverterPath: FAILURE_CONVERTER_PATH }),
    );
    raw = await testClient(); // no codec: what Temporal's database and UI hold
    incident = await runRichIncident(h, estate, `enc-${randomUUID().slice(0, 8)}`);
    stored = await exportIncidentHistory(raw, incident.incidentId);
    const s = incident.state;
    secrets = [
      ...incident.hosts,
      ...incident.accounts,
      '203.0.113.99',
      s.title,
      'ran an admin script', // close comment
      'vendor fixed', // retry comment
      'rotate', // lessons-learned note
      `isolate ${incident.hosts[0]!} now`, // decision comment
      `refused (400)`, // activity failure message
    ];
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'quell-audit-enc-'));
  }, 120_000);
  afterAll(async () => {
    await h?.stop();
    await raw?.connection.close();
    if (dir) await fs.rm(dir, { recursive: true, force: true });
  });

  it("a raw history (no codec, and `temporal workflow show`) holds none of the incident's hosts, users or comments", async () => {
    expect(stored.encryption).toEqual({ encrypted: true, keyIds: [keyId], decrypted: false });
    const run = stored.runs[0]!;
    const cliJson: unknown = JSON.parse(
      (
        await execFileAsync(
          requireEnv(TEST_ENV.cliPath),
          [
            'workflow',
            'show',
            '--workflow-id',
            incident.workflowId,
            '--run-id',
            run.runId,
            '--output',
            'json',
            '--address',
            requireEnv(TEST_ENV.address),
            '--namespace',
            requireEnv(TEST_ENV.namespace),
          ],
          { maxBuffer: 64 * 1024 * 1024 },
        )
      ).stdout,
    );
    expect(cliJson).toEqual(run.history);
    for (const doc of [run.history, cliJson]) {
      // Nowhere: not in payloads, failures, stack traces, nor search attributes (which no codec reaches, so
      // the workflow leaves entity names out of them when encryption is on).
      expect(findSecrets(doc, secrets)).toEqual([]);
    }
    // Failure messages and stack traces are encoded, then encrypted.
    const failed = run.history.events.find((e) => e.eventType === 'EVENT_TYPE_ACTIVITY_TASK_FAILED')!;
    const failure = (
      failed.activityTaskFailedEventAttributes as {
        failure: {
          message: string;
          stackTrace?: string;
          encodedAttributes: { metadata: Record<string, string> };
        };
      }
    ).failure;
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace ?? '').toBe('');
    expect(Buffer.from(failure.encodedAttributes.metadata.encoding!, 'base64').toString()).toBe(
      'binary/encrypted',
    );
    // Every payload outside search attributes is encrypted with the configured key.
    expect(encryptionKeyIdsIn(run.history)).toEqual([keyId]);
  });

  it('with the key: decrypt, timeline, report, replay and the audit service all work', async () => {
    const readable = await decryptExport(stored, codec);
    expect(readable.encryption).toMatchObject({ encrypted: true, decrypted: true });
    const timeline = buildTimeline(readable);
    const failedRun = timeline.find((e) => e.kind === 'action_executed' && e.details.outcome === 'failed')!;
    expect(failedRun.details.failure).toMatchObject({
      type: 'PermanentConnectorError',
      message: expect.stringContaining(incident.hosts[0]!),
    });
    expect(timeline.find((e) => e.kind === 'close_requested')!.details.comment).toContain(
      'ran an admin script',
    );
    const { state } = stateFromHistory(readable)!;
    expect(renderReportMarkdown(buildReport(state, timeline, { exported: readable }))).toContain(
      incident.accounts[0]!,
    );

    const summary = await replayHistories(historiesOfIncident(raw, incident.incidentId), {
      workflowBundle: { codePath: requireEnv(TEST_ENV.bundle) },
      dataConverter,
      progress: false,
    });
    expect(summary.failures).toEqual([]);

    const service = createAuditService(raw, { codec });
    expect(
      encryptionKeyIdsIn((await service.history(incident.incidentId)).runs.map((r) => r.history)),
    ).toEqual([]);
    expect(await service.report(incident.incidentId, 'markdown')).toContain(incident.hosts[0]!);

    const env = { ...process.env, QUELL_ENCRYPTION_KEY: spec };
    const cli = await runCli(['audit', 'timeline', incident.incidentId], {
      connect: () => testClient(),
      env,
    });
    expect(cli.exitCode).toBe(0);
    expect(cli.stdout).toContain(incident.hosts[0]!);
    const files = await writeRunFiles(stored, dir);
    const replayed = await runCli(['replay', ...files, '--json'], {
      env,
      workflowBundle: { codePath: requireEnv(TEST_ENV.bundle) },
    });
    expect(JSON.parse(replayed.stdout)).toMatchObject({ replayed: 1, failed: 0 });
  });

  it('without the key (or with another one): every view fails clearly, naming the missing key ID', async () => {
    await expect(decryptExport(stored, undefined)).rejects.toThrow(
      new RegExp(`key "${keyId}".*QUELL_ENCRYPTION_KEY is not set`),
    );
    expect(() => buildTimeline(stored)).toThrow(MissingEncryptionKeyError);
    const wrong = new AesGcmPayloadCodec(parseEncryptionKeys(`other:${key32()}`));
    await expect(decryptExport(stored, wrong)).rejects.toThrow(
      new RegExp(`key "${keyId}".*holds only "other"`),
    );

    const summary = await replayHistories(
      historiesFromFiles(await writeRunFiles(stored, path.join(dir, 'nokey'))),
      {
        workflowBundle: { codePath: requireEnv(TEST_ENV.bundle) },
        progress: false,
      },
    );
    expect(summary.failures).toEqual([
      expect.objectContaining({ kind: 'missing-key', message: expect.stringContaining(`"${keyId}"`) }),
    ]);

    const { QUELL_ENCRYPTION_KEY: _k, ...noKey } = process.env;
    for (const args of [
      ['audit', 'timeline', incident.incidentId],
      ['audit', 'report', incident.incidentId],
      ['audit', 'export', incident.incidentId, '--out', dir],
      ['history', 'export', incident.incidentId, '--decrypt'],
      ['replay', '--incident', incident.incidentId],
    ]) {
      const r = await runCli(args, {
        connect: () => testClient(),
        env: noKey,
        workflowBundle: { codePath: requireEnv(TEST_ENV.bundle) },
      });
      expect({ args, exitCode: r.exitCode }).toEqual({ args, exitCode: 1 });
      expect(r.stderr).toContain(`"${keyId}"`);
    }
    // The raw export itself needs no key: it is what Temporal stores.
    const asStored = await runCli(['history', 'export', incident.incidentId], {
      connect: () => testClient(),
      env: noKey,
    });
    expect(asStored.exitCode).toBe(0);
    expect(asStored.stderr).toMatch(/payloads are encrypted .*exported as stored/);
    expect(
      findSecrets(JSON.parse(asStored.stdout).runs[0].history, [incident.accounts[0]!]).every((x) =>
        /searchAttributes/.test(x.path),
      ),
    ).toBe(true);
  });

  it('refusals raised inside the workflow (encoded by the bundled failure converter) still reach callers intact', async () => {
    const host = `ws-refuse-${randomUUID().slice(0, 8)}`;
    const { incidentId } = await h.ingest({ severity: 'high', hosts: [host], accounts: [] });
    const s = await h.until(incidentId, (x) => x.approvals.some((a) => a.state === 'pending'), 'approval');
    await expect(
      h.service.decideApproval(incidentId, s.approvals[0]!.approvalId, 'approve', undefined, actors.rita),
    ).rejects.toMatchObject({
      type: 'NotAnApprover',
      httpStatus: 403,
      message: expect.stringContaining('rita'),
    });
    await h.service.close(incidentId, 'false_positive', undefined, actors.alice);
    await h.until(incidentId, (x) => x.status === 'closed', 'closed');
  });

  it('codecs need no workflow bundle change: the plain prebuilt bundle with the codec on the worker encrypts too', async () => {
    const plainEstate = new MemoryEstate();
    const plain = await encryptedHarness(plainEstate, dataConverter, {
      codePath: requireEnv(TEST_ENV.bundle),
    });
    try {
      const host = `ws-plain-${randomUUID().slice(0, 8)}`;
      const { incidentId } = await plain.ingest({ severity: 'high', hosts: [host], accounts: [] });
      await plain.until(incidentId, (s) => s.approvals.some((a) => a.state === 'pending'), 'approval');
      const exported = await exportIncidentHistory(raw, incidentId);
      const history: HistoryJson = exported.runs[0]!.history;
      expect(encryptionKeyIdsIn(history)).toEqual([keyId]);
      expect(findSecrets(history, [host]).filter((x) => !/searchAttributes/.test(x.path))).toEqual([]);
      await plain.service.close(incidentId, 'false_positive', undefined, actors.alice);
      await plain.until(incidentId, (s) => s.status === 'closed', 'closed');
    } finally {
      await plain.stop();
    }
  });
});
