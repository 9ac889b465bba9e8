import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IncidentHistoryExport } from '../../src/audit/history';
import type { HistoryEventJson } from '../../src/audit/history-json';
import { buildTimeline, formatTimelineLine, stateFromHistory } from '../../src/audit/timeline';
import { allCommittedExports } from './helpers';

/**
 * Characterisation of the audit timeline: for every committed history (test/histories and legacy/), the
 * timeline (with and without deduplicated deliveries), its text lines and the last recorded state must stay
 * byte for byte what golden/timeline.json recorded. A refactoring of src/audit/timeline/ must not move it.
 * The same history cut at a quarter, half and three quarters of its last run stands for an incident still
 * open (activities and updates in progress, no final state); the half cut then ends with events no
 * recorded scenario has (`endedTail`).
 *
 * After a deliberate change of the timeline, or re-recorded histories, rewrite the golden file with
 * `UPDATE_TIMELINE_GOLDEN=1 npx jest test/audit/timeline-golden.test.ts` and review its diff.
 */
const GOLDEN = path.join(__dirname, 'golden', 'timeline.json');

interface GoldenEntry {
  entries: number;
  kinds: Record<string, number>;
  timelineSha256: string;
  withoutDeduplicatedSha256: string;
  linesSha256: string;
  stateSha256: string;
  openSha256: string;
  firstLine: string;
  lastLine: string;
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const jsonPayload = (value: unknown) => ({
  metadata: { encoding: Buffer.from('json/plain').toString('base64') },
  data: Buffer.from(JSON.stringify(value)).toString('base64'),
});

/** The export as it stood when `fraction` of its last run's events were written, with `tail` after them. */
function openAt(
  exported: IncidentHistoryExport,
  fraction: number,
  tail: (next: number, at: string | undefined) => HistoryEventJson[] = () => [],
): IncidentHistoryExport {
  const last = exported.runs.length - 1;
  const run = exported.runs[last]!;
  const events = run.history.events.slice(0, Math.max(1, Math.floor(run.history.events.length * fraction)));
  const end = events[events.length - 1]!;
  return {
    ...exported,
    runs: [
      ...exported.runs.slice(0, last),
      {
        ...run,
        status: 'RUNNING',
        history: { events: [...events, ...tail(Number(end.eventId) + 1, end.eventTime)] },
      },
    ],
  };
}

/**
 * Events no recorded scenario has: an unknown update (answered, then failed), an unknown activity timing out,
 * a signal the workflow does not handle, a failed workflow task, a termination.
 */
function endedTail(next: number, at: string | undefined): HistoryEventJson[] {
  const actor = { subject: 'rita@soc', roles: ['responder'] };
  const tail: Omit<HistoryEventJson, 'eventId' | 'eventTime'>[] = [
    ...['u-ok', 'u-failed'].flatMap((updateId) => [
      {
        eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED',
        workflowExecutionUpdateAcceptedEventAttributes: {
          acceptedRequest: {
            meta: { updateId },
            input: { name: 'snooze', args: { payloads: [jsonPayload({ minutes: 5, actor })] } },
          },
        },
      },
      {
        eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED',
        workflowExecutionUpdateCompletedEventAttributes: {
          meta: { updateId },
          outcome:
            updateId === 'u-ok'
              ? { success: { payloads: [jsonPayload({ until: at })] } }
              : { failure: { message: 'no', applicationFailureInfo: { type: 'NotAllowed' } } },
        },
      },
    ]),
    {
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_SCHEDULED',
      activityTaskScheduledEventAttributes: {
        activityId: '99',
        activityType: { name: 'enrichIndicator' },
        input: { payloads: [jsonPayload({ ip: '203.0.113.7' })] },
      },
    },
    {
      eventType: 'EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT',
      activityTaskTimedOutEventAttributes: {
        scheduledEventId: String(next + 4),
        retryState: 'RETRY_STATE_TIMEOUT',
        failure: {
          message: 'activity timeout',
          timeoutFailureInfo: { timeoutType: 'TIMEOUT_TYPE_START_TO_CLOSE' },
        },
      },
    },
    {
      eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED',
      workflowExecutionSignaledEventAttributes: {
        signalName: 'pageOnCall',
        input: { payloads: [jsonPayload({ route: 'soc' })] },
      },
    },
    {
      eventType: 'EVENT_TYPE_WORKFLOW_TASK_FAILED',
      workflowTaskFailedEventAttributes: {
        cause: 'WORKFLOW_TASK_FAILED_CAUSE_WORKFLOW_WORKER_UNHANDLED_FAILURE',
        failure: { message: 'unhandled', applicationFailureInfo: { type: 'Error' } },
      },
    },
    {
      eventType: 'EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED',
      workflowExecutionTerminatedEventAttributes: { reason: 'stuck', identity: 'ops@quell' },
    },
  ];
  return tail.map((e, i) => ({ eventId: String(next + i), eventTime: at, ...e }) as HistoryEventJson);
}

function characterise(exported: IncidentHistoryExport): GoldenEntry {
  const timeline = buildTimeline(exported);
  const lines = timeline.map(formatTimelineLine);
  const kinds: Record<string, number> = {};
  for (const e of timeline) kinds[e.kind] = (kinds[e.kind] ?? 0) + 1;
  return {
    entries: timeline.length,
    kinds: Object.fromEntries(Object.entries(kinds).sort(([a], [b]) => a.localeCompare(b))),
    timelineSha256: sha256(JSON.stringify(timeline)),
    withoutDeduplicatedSha256: sha256(
      JSON.stringify(buildTimeline(exported, { includeDeduplicated: false })),
    ),
    linesSha256: sha256(lines.join('\n')),
    stateSha256: sha256(JSON.stringify(stateFromHistory(exported) ?? null)),
    openSha256: sha256(
      JSON.stringify(
        [openAt(exported, 0.25), openAt(exported, 0.5, endedTail), openAt(exported, 0.75)].map((open) => ({
          timeline: buildTimeline(open),
          state: stateFromHistory(open) ?? null,
        })),
      ),
    ),
    firstLine: lines[0] ?? '',
    lastLine: lines[lines.length - 1] ?? '',
  };
}

describe('timeline golden: every committed history gives the recorded timeline', () => {
  const actual = Object.fromEntries(
    allCommittedExports().map(({ name, exported }) => [name, characterise(exported)]),
  );

  if (process.env.UPDATE_TIMELINE_GOLDEN === '1')
    writeFileSync(GOLDEN, `${JSON.stringify(actual, null, 2)}\n`);
  const golden = JSON.parse(readFileSync(GOLDEN, 'utf8')) as Record<string, GoldenEntry>;

  it('covers exactly the committed histories', () => {
    expect(Object.keys(actual)).toEqual(Object.keys(golden));
    expect(Object.keys(actual)).toEqual(
      expect.arrayContaining(['continue-as-new', 'legacy/2026-11-28/continue-as-new']),
    );
  });

  it.each(Object.keys(golden))('%s', (name) => {
    expect(actual[name]).toEqual(golden[name]);
  });
});
