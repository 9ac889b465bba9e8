/**
 * Server-side timings from workflow histories: how long the first workflow task waited to be picked up, how
 * long the worker took to complete it (the update and the first commands), and how long the isolation activity
 * waited to be picked up. Event times are the server's clock, so these are exact intervals on its side.
 */
import type { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { pool, summarize } from './stats';

const E = temporal.api.enums.v1.EventType;

type HistoryEvent = temporal.api.history.v1.IHistoryEvent;

function at(e: HistoryEvent | undefined): number | undefined {
  const t = e?.eventTime;
  if (!t) return undefined;
  return Number(t.seconds ?? 0) * 1000 + (t.nanos ?? 0) / 1e6;
}

export interface HistoryTimings {
  sampled: number;
  /** First workflow task: scheduled -> started (waiting for a worker poll). */
  firstTaskQueued: { p50: number; p95: number };
  /** First workflow task: started -> completed (the worker's turn: activation, update, commands). */
  firstTaskOnWorker: { p50: number; p95: number };
  /** Isolation activity: scheduled -> started (waiting for a worker poll). */
  isolateQueued: { p50: number; p95: number };
  /** History events per workflow when sampled (the incident's whole life so far). */
  events: number;
}

export async function historyTimings(
  client: Client,
  workflowIds: string[],
  isolateActivity: string,
  sample = 40,
): Promise<HistoryTimings> {
  const ids = workflowIds.slice(0, sample);
  const queued: number[] = [];
  const onWorker: number[] = [];
  const isolate: number[] = [];
  const events: number[] = [];
  await pool(ids, 8, async (id) => {
    const history = await client.workflow.getHandle(id).fetchHistory();
    const list = history.events ?? [];
    events.push(list.length);
    const scheduled = list.find((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED);
    const started = list.find((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_STARTED);
    const completed = list.find((e) => e.eventType === E.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    const s = at(scheduled);
    const st = at(started);
    const c = at(completed);
    if (s !== undefined && st !== undefined) queued.push(st - s);
    if (st !== undefined && c !== undefined) onWorker.push(c - st);
    const act = list.find(
      (e) =>
        e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
        e.activityTaskScheduledEventAttributes?.activityType?.name === isolateActivity,
    );
    const actStarted = list.find(
      (e) =>
        e.eventType === E.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
        String(e.activityTaskStartedEventAttributes?.scheduledEventId ?? '') === String(act?.eventId ?? '-'),
    );
    const a = at(act);
    const as = at(actStarted);
    if (a !== undefined && as !== undefined) isolate.push(as - a);
  });
  const p = (v: number[]) => {
    const s = summarize(v);
    return { p50: s.p50, p95: s.p95 };
  };
  return {
    sampled: ids.length,
    firstTaskQueued: p(queued),
    firstTaskOnWorker: p(onWorker),
    isolateQueued: p(isolate),
    events: summarize(events).p50,
  };
}
