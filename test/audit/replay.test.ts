import path from 'node:path';
import {
  formatReplaySummary,
  historiesFromFiles,
  installQuietRuntime,
  parseReplayError,
  replayHistories,
} from '../../src/audit/replay';
import { requireEnv, TEST_ENV } from '../support/env';
import { bundleWithPatch, committedHistoryFiles, legacyHistoryFiles, runCli } from './helpers';

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
});
