/**
 * Workflow tasks, and how facts that live only in the state are anchored to them. Workflow code's clock is the
 * `WorkflowTaskStarted` event time, so a state timestamp such as an approval's `requestedAt` names the task in
 * which it happened exactly; such a fact sorts after that task's own update and search-attribute events (its
 * causes and the phase change) and before the activities it scheduled.
 */
import type { Anchor, EventReader, EventRef, RunEvent } from './types';
import { toMs } from './events';

export interface WorkflowTask {
  runIndex: number;
  runId: string;
  scheduledEventId?: number;
  startedEventId: number;
  /** The `WorkflowTaskStarted` event time, in milliseconds: the workflow's clock during the task. */
  startedAt?: string;
  completedEventId?: number;
  /** TimerFired events delivered in this task. */
  timers: number[];
  /** Signals delivered in this task. */
  signals: number[];
  /** Where facts from this task's state changes sort (see the module comment). */
  anchor?: number;
}

/** The workflow tasks of every run, read as the events go by. */
export class WorkflowTasks {
  private readonly all: WorkflowTask[] = [];
  private readonly byTime = new Map<string, WorkflowTask[]>();

  /** The reader of one run's tasks. */
  run(runIndex: number, runId: string): EventReader {
    return new RunTasks(runIndex, runId, (task) => {
      this.all.push(task);
      if (task.startedAt) this.byTime.set(task.startedAt, [...(this.byTime.get(task.startedAt) ?? []), task]);
    });
  }

  /** The task in which workflow code saw this time (a state timestamp). */
  at(iso: string | undefined): WorkflowTask | undefined {
    if (!iso) return undefined;
    return this.byTime.get(toMs(iso) ?? '')?.[0];
  }

  /** The task that delivered this signal. */
  ofSignal(runIndex: number, signalEventId: number): WorkflowTask | undefined {
    return this.all.find((t) => t.runIndex === runIndex && t.signals.includes(signalEventId));
  }
}

/** The events of a task: its start and, when it completed, its completion. */
export function taskRefs(task: WorkflowTask | undefined): EventRef[] {
  if (!task) return [];
  const r: EventRef[] = [
    { runId: task.runId, eventId: task.startedEventId, eventType: 'WorkflowTaskStarted' },
  ];
  if (task.completedEventId !== undefined)
    r.push({ runId: task.runId, eventId: task.completedEventId, eventType: 'WorkflowTaskCompleted' });
  return r;
}

/** The timers that woke the task. */
export function timerRefs(task: WorkflowTask | undefined): EventRef[] {
  return task ? task.timers.map((id) => ({ runId: task.runId, eventId: id, eventType: 'TimerFired' })) : [];
}

/** Where a state fact sorts: at its task, or at the snapshot it was read from when no task names its time. */
export function anchorOf(
  task: WorkflowTask | undefined,
  fallback: { ref: EventRef; runIndex: number },
): Anchor {
  return task
    ? { runIndex: task.runIndex, eventId: task.anchor ?? task.startedEventId }
    : { runIndex: fallback.runIndex, eventId: fallback.ref.eventId };
}

/** One run's tasks: which is open, and whose command events (after its WorkflowTaskCompleted) are read. */
class RunTasks implements EventReader {
  private readonly byStarted = new Map<number, WorkflowTask>();
  private open: WorkflowTask | undefined;
  private batch: WorkflowTask | undefined;
  private lastScheduled: number | undefined;
  private timers: number[] = [];
  private signals: number[] = [];

  constructor(
    private readonly runIndex: number,
    private readonly runId: string,
    private readonly started: (task: WorkflowTask) => void,
  ) {}

  read({ event, id, attrs }: RunEvent): void {
    switch (event.eventType) {
      case 'EVENT_TYPE_WORKFLOW_TASK_SCHEDULED':
        this.lastScheduled = id;
        this.batch = undefined;
        break;
      case 'EVENT_TYPE_WORKFLOW_TASK_STARTED': {
        const startedAt = toMs(event.eventTime);
        const task: WorkflowTask = {
          runIndex: this.runIndex,
          runId: this.runId,
          ...(this.lastScheduled !== undefined ? { scheduledEventId: this.lastScheduled } : {}),
          startedEventId: id,
          ...(startedAt ? { startedAt } : {}),
          timers: this.timers,
          signals: this.signals,
        };
        this.timers = [];
        this.signals = [];
        this.byStarted.set(id, task);
        this.open = task;
        this.started(task);
        break;
      }
      case 'EVENT_TYPE_WORKFLOW_TASK_COMPLETED': {
        const task = this.byStarted.get(Number(attrs.startedEventId)) ?? this.open;
        if (task) {
          task.completedEventId = id;
          task.anchor = id + 0.5;
        }
        this.batch = task;
        break;
      }
      case 'EVENT_TYPE_TIMER_FIRED':
        this.timers.push(id);
        break;
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED':
        this.signals.push(id);
        break;
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED':
      case 'EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_COMPLETED':
      case 'EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES':
        // Commands of the task just completed: its state facts sort after them.
        if (this.batch) this.batch.anchor = id + 0.5;
        break;
      default:
        break;
    }
  }
}
