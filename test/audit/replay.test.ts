import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import {
  formatReplaySummary,
  historiesFromFiles,
  installQuietRuntime,
  parseReplayError,
  replayHistories,
  ReplayOptionsError,
  ReplayProcessStartError,
  type ReplayItem,
  type ReplaySummary,
} from '../../src/audit/replay';
import type { JsonPayload } from '../../src/audit/history-json';
import { forEachPayload, jsonToPayload, payloadToJson } from '../../src/audit/payloads';
import {
  AesGcmPayloadCodec,
  encryptionDataConverter,
  ENCRYPTION_KEY_ENV,
  parseEncryptionKeys,
} from '../../src/temporal/codec';
import { requireEnv, TEST_ENV } from '../support/env';
import { bundleWithPatch, committedHistoryFiles, HISTORIES_DIR, legacyHistoryFiles, runCli } from './helpers';

/** The summary without what differs from run to run (timings). */
const countsOf = (s: ReplaySummary) => ({
  replayed: s.replayed,
  passed: s.passed,
  failed: s.failed,
  events: s.events,
  failures: s.failures,
});

const itemOf = (file: string): ReplayItem => ({
  label: file,
  file,
  workflowId: `replay-${path.basename(file, '.json')}`,
  history: JSON.parse(readFileSync(file, 'utf8')),
});

/** The replay processes this (jest worker) process forked, by PID. */
function replayProcessPids(): number[] {
  const out = execFileSync('ps', ['-o', 'pid=,args=', '--ppid', String(process.pid)], { encoding: 'utf8' });
  return out
    .split('\n')
    .filter((line) => /replay[/\\]child\.[jt]s/.test(line))
    .map((line) => Number(line.trim().split(/\s+/)[0]));
}

/**
 * CI's determinism check: every committed history (test/histories, recorded by scripts/record-histories.ts)
 * must replay against the CURRENT workflow code, and a deliberately changed workflow must be caught.
 */
describe('replay: committed histories against the current workflow code', () => {
  // The global setup bundles workflows/ as it is now: that is the code under test.
  const current = { codePath: requireEnv(TEST_ENV.bundle) };
  const files = committedHistoryFiles();
  let broken: { code: string };

  beforeAll(async () => {
    installQuietRuntime();
    // A plausible careless edit: a short pause at the start of the workflow (a new timer command) without
    // patched(). Every recorded history starts differently, so every one must fail.
    broken = await bundleWithPatch(
      'export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentState> {',
      'export async function incidentWorkflow(input: IncidentWorkflowInput): Promise<IncidentState> {\n  await condition(() => false, 1);',
    );
  }, 120_000);

  it('the committed set covers every workflow scenario, including a continue-as-new crossing', () => {
    const names = files.map((f) => path.basename(f, '.json'));
    expect(names).toEqual(
      expect.arrayContaining([
        'happy-path',
        'reject',
        'expiry-reject',
        'expiry-approve',
        'two-person',
        'signal-decisions',
        'transient-retries',
        'permanent-failure',
        'false-positive-compensation',
        'burst-dedup',
        'severity-escalation',
        'reopen',
        'continue-as-new-run1',
        'continue-as-new-run2',
      ]),
    );
  });

  it('replays every committed history with no determinism error (and measures throughput)', async () => {
    const summary = await replayHistories(historiesFromFiles(files), {
      workflowBundle: current,
      progress: false,
      total: files.length,
    });
    console.log(
      `Replay throughput (committed set): ${summary.replayed} histories in ${summary.seconds.toFixed(2)} s = ` +
        `${summary.historiesPerSecond.toFixed(1)} histories/s, ${summary.events} events = ` +
        `${Math.round(summary.eventsPerSecond)} events/s (bundling excluded)`,
    );
    // On failure this prints each history's explanation (file, run, event, error).
    expect(summary.failures.map((f) => f.explanation)).toEqual([]);
    expect(summary).toMatchObject({ replayed: files.length, passed: files.length, failed: 0 });
  }, 120_000);

  it('histories recorded with earlier workflow code still replay (every later change is behind patched())', async () => {
    const legacy = legacyHistoryFiles();
    expect(legacy.length).toBeGreaterThanOrEqual(27);
    const summary = await replayHistories(historiesFromFiles(legacy), {
      workflowBundle: current,
      progress: false,
      total: legacy.length,
    });
    expect(summary.failures.map((f) => f.explanation)).toEqual([]);
    expect(summary).toMatchObject({ replayed: legacy.length, failed: 0 });
  }, 120_000);

  it('a nondeterministic workflow change fails every history, naming the file, run, event and error', async () => {
    const summary = await replayHistories(historiesFromFiles(files), {
      workflowBundle: broken,
      progress: false,
    });
    expect(summary.failed).toBe(files.length);
    for (const [i, failure] of summary.failures.entries()) {
      expect(failure.kind).toBe('nondeterminism');
      expect(failure.file).toBe(files[i]);
      expect(failure.explanation).toContain(path.basename(files[i]!));
      expect(failure.explanation).toMatch(/NONDETERMINISM/);
      expect(failure.message).toMatch(/\[TMPRL1100\] Nondeterminism error/);
      expect(failure.runId).toMatch(/^[0-9a-f-]{36}$/);
      expect(failure.workflowId).toMatch(/^quell-incident-[0-9a-f]{16}$/);
      expect(failure.incidentId).toMatch(/^INC-/);
      // The event the SDK names is a real event of that history, with its type.
      expect(failure.eventId).toEqual(expect.any(Number));
      expect(failure.eventType).toEqual(expect.any(String));
      expect(failure.explanation).toContain(`event:    ${failure.eventId} (${failure.eventType}`);
    }
    expect(formatReplaySummary(summary)).toContain(`${files.length} failed`);
  }, 120_000);

  it('`quell replay <dir>` exits 0 on the committed set and 1 with explanations for a broken workflow', async () => {
    const ok = await runCli(['replay', path.dirname(files[0]!), '--no-progress'], {
      workflowBundle: current,
    });
    expect(ok.exitCode).toBe(0);
    const all = files.length + legacyHistoryFiles().length; // the directory holds legacy/ too
    expect(ok.stderr).toMatch(new RegExp(`Replayed ${all} histories .*: ${all} passed, 0 failed`));
    expect(ok.stderr).toMatch(/histories\/s/);

    const happy = files.find((f) => f.endsWith('happy-path.json'))!;
    const bad = await runCli(['replay', happy, '--json'], { workflowBundle: broken });
    expect(bad.exitCode).toBe(1);
    const json = JSON.parse(bad.stdout);
    expect(json).toMatchObject({ replayed: 1, failed: 1 });
    expect(json.failures[0]).toMatchObject({
      kind: 'nondeterminism',
      file: happy,
      eventType: expect.any(String),
    });
  }, 120_000);

  it('usage errors are refused before anything runs', async () => {
    await expect(runCli(['replay'])).rejects.toThrow(/exactly one of/);
    await expect(runCli(['replay', 'x.json', '--all'])).rejects.toThrow(/exactly one of/);
    for (const jobs of ['0', '-1', '1.5', 'two']) {
      await expect(runCli(['replay', 'x.json', '--jobs', jobs])).rejects.toThrow(
        /--jobs must be a whole number of replay processes, 1 or more/,
      );
    }
  });

  it('parses event references out of SDK nondeterminism messages', () => {
    expect(
      parseReplayError(
        'Replay failed with a nondeterminism error. Details: Failure { failure: Some(Failure { message: "[TMPRL1100] Nondeterminism error: Timer machine does not handle this event: HistoryEvent(id: 12, ActivityTaskScheduled)", source: "" }) }',
      ),
    ).toEqual({
      eventId: 12,
      eventType: 'ActivityTaskScheduled',
      cause:
        '[TMPRL1100] Nondeterminism error: Timer machine does not handle this event: HistoryEvent(id: 12, ActivityTaskScheduled)',
    });
  });

  it('two processes replay the committed histories to the same summary as one in-process worker', async () => {
    const one = await replayHistories(historiesFromFiles(files), {
      workflowBundle: current,
      progress: false,
      jobs: 1,
    });
    const seen: string[] = [];
    const two = await replayHistories(historiesFromFiles(files), {
      workflowBundle: current,
      progress: false,
      jobs: 2,
      onResult: (item) => seen.push(item.label),
    });
    expect(countsOf(two)).toEqual(countsOf(one));
    expect(two).toMatchObject({ replayed: files.length, passed: files.length, failed: 0 });
    // Results are reported in the order the histories came in, whichever process finished first.
    expect(seen).toEqual(files);
  }, 120_000);

  it('nondeterministic and invalid histories fail the same way, in the same order, with two processes', async () => {
    const items = [
      itemOf(files[0]!),
      { label: 'not-a-history', workflowId: 'replay-broken-json', history: { events: [{ eventId: '1' }] } },
      itemOf(files[1]!),
      itemOf(files[2]!),
    ] as ReplayItem[];
    const one = await replayHistories(items, { workflowBundle: broken, progress: false, jobs: 1 });
    const two = await replayHistories(items, { workflowBundle: broken, progress: false, jobs: 2 });
    expect(one.failures.map((f) => [f.label, f.kind])).toEqual([
      [files[0], 'nondeterminism'],
      ['not-a-history', 'invalid-history'],
      [files[1], 'nondeterminism'],
      [files[2], 'nondeterminism'],
    ]);
    expect(countsOf(two)).toEqual(countsOf(one));
  }, 120_000);

  it('replay processes that die fail only the histories they held, are replaced, and the replay completes', async () => {
    const smallest = files.map(itemOf).sort((a, b) => a.history.events.length - b.history.events.length)[0]!;
    const copies = 12;
    let killed: number[] | undefined;
    const summary = await replayHistories(
      Array.from({ length: copies }, () => smallest),
      {
        workflowBundle: current,
        progress: false,
        jobs: 2,
        // At the first result every replay process dies: the one that reported it still holds the next
        // history (two are sent ahead); one that had not started yet holds none.
        onResult: () => {
          if (killed) return;
          killed = replayProcessPids();
          for (const pid of killed) process.kill(pid, 'SIGKILL');
        },
      },
    );
    expect(killed?.length).toBe(2);
    expect(summary.replayed).toBe(copies);
    expect(summary.failed).toBeGreaterThanOrEqual(1);
    expect(summary.failed).toBeLessThanOrEqual(4);
    expect(summary.passed).toBe(copies - summary.failed);
    for (const failure of summary.failures) {
      expect(failure).toMatchObject({
        kind: 'replay-error',
        message: expect.stringMatching(
          new RegExp(`^replay process (${killed!.join('|')}) stopped \\(killed by SIGKILL`),
        ),
      });
    }
    expect(replayProcessPids()).toEqual([]);
  }, 120_000);

  it('encrypted histories replay in replay processes, which build the codec from QUELL_ENCRYPTION_KEY', async () => {
    const spec = `replay-k1:${randomBytes(32).toString('base64')}`;
    const codec = new AesGcmPayloadCodec(parseEncryptionKeys(spec));
    const item = itemOf(files[0]!);
    // The workflow's input and the activities' results, as an encrypted deployment stores them.
    const sealed: JsonPayload[] = [];
    forEachPayload(item.history, (p, at) => {
      if (/workflowExecutionStarted|activityTaskCompleted/.test(at)) sealed.push(p);
    });
    const encrypted = await codec.encode(sealed.map(jsonToPayload));
    sealed.forEach((p, i) => Object.assign(p, payloadToJson(encrypted[i]!)));
    expect(sealed.length).toBeGreaterThan(0);

    const dataConverter = encryptionDataConverter(codec);
    const withKey = { ...process.env, [ENCRYPTION_KEY_ENV]: spec };
    const { [ENCRYPTION_KEY_ENV]: _k, ...withoutKey } = process.env;
    const opts = { workflowBundle: current, progress: false as const, dataConverter };
    const replayed = await replayHistories([item, item], { ...opts, jobs: 2, env: withKey });
    expect(replayed).toMatchObject({ replayed: 2, passed: 2, jobs: 2 });
    // Processes could not decrypt without the key: two jobs are refused, the default replays in process.
    await expect(replayHistories([item, item], { ...opts, jobs: 2, env: withoutKey })).rejects.toThrow(
      ReplayOptionsError,
    );
    expect(await replayHistories([item, item], { ...opts, env: withoutKey })).toMatchObject({
      passed: 2,
      jobs: 1,
    });
  }, 120_000);

  it('refuses the replay when no replay process can start', async () => {
    const item = itemOf(files[0]!);
    await expect(
      replayHistories([item, item], {
        workflowBundle: { codePath: path.join(HISTORIES_DIR, 'no-such-bundle.js') },
        progress: false,
        jobs: 2,
      }),
    ).rejects.toThrow(ReplayProcessStartError);
    expect(replayProcessPids()).toEqual([]);
  }, 120_000);
});
