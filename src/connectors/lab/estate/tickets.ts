import { type EstateContext, isoAt, trim } from './history';
import { hex } from './ids';

/** A Jira workflow status of the lab's project (the simplified To Do / In Progress / Done workflow). */
export interface LabJiraStatus {
  id: string;
  name: string;
  /** Jira's status category key. */
  category: 'new' | 'indeterminate' | 'done';
}

export const LAB_JIRA_STATUSES: readonly LabJiraStatus[] = [
  { id: '10000', name: 'To Do', category: 'new' },
  { id: '10001', name: 'In Progress', category: 'indeterminate' },
  { id: '10002', name: 'Done', category: 'done' },
];

/** The workflow's transitions: each leads to one status, from any other. */
export const LAB_JIRA_TRANSITIONS: readonly { id: string; name: string; to: string }[] = [
  { id: '11', name: 'To Do', to: '10000' },
  { id: '21', name: 'In Progress', to: '10001' },
  { id: '31', name: 'Done', to: '10002' },
];

export interface LabJiraComment {
  id: string;
  created: string;
  /** The ADF document, as sent. */
  body: unknown;
  incidentId?: string;
}

export interface LabJiraIssue {
  id: string;
  key: string;
  created: string;
  updated: string;
  project: string;
  issueType: string;
  summary: string;
  /** The ADF document, as sent. */
  description?: unknown;
  labels: string[];
  statusId: string;
  comments: LabJiraComment[];
  /** The transitions applied, oldest first (status names). */
  history: string[];
  incidentId?: string;
}

export interface LabServiceNowNote {
  sysId: string;
  element: 'work_notes' | 'comments';
  value: string;
  createdOn: string;
}

export interface LabServiceNowIncident {
  sysId: string;
  number: string;
  createdOn: string;
  updatedOn: string;
  /** The record's fields as strings, as the Table API answers them (journal fields excluded). */
  fields: Record<string, string>;
  notes: LabServiceNowNote[];
  incidentId?: string;
}

/** ServiceNow's time format (`2026-12-01 09:00:00`, UTC). */
export function serviceNowTime(t: number): string {
  return isoAt(t)
    .replace('T', ' ')
    .replace(/\.\d{3}Z$/, '');
}

/** The tickets the estate holds: Jira issues of the lab project and ServiceNow incident records. */
export class LabTickets {
  private issues: LabJiraIssue[] = [];
  private incidents: LabServiceNowIncident[] = [];
  private nextIssue = 1;
  private nextComment = 10000;
  private nextIncident = 10001;

  constructor(private readonly ctx: EstateContext) {}

  // ------------------------------------------------------------------------------------------ Jira

  addIssue(
    input: Pick<LabJiraIssue, 'project' | 'issueType' | 'summary' | 'description' | 'labels' | 'incidentId'>,
  ): LabJiraIssue {
    const n = this.nextIssue++;
    const at = isoAt(this.ctx.now());
    const issue: LabJiraIssue = {
      ...input,
      id: String(10000 + n - 1),
      key: `${input.project}-${n}`,
      created: at,
      updated: at,
      statusId: LAB_JIRA_STATUSES[0]!.id,
      comments: [],
      history: [],
    };
    this.issues.push(issue);
    trim(this.issues);
    this.ctx.changed();
    return issue;
  }

  /** An issue by key or ID. */
  issue(keyOrId: string): LabJiraIssue | undefined {
    return this.issues.find((i) => i.key === keyOrId || i.id === keyOrId);
  }

  jiraIssues(): LabJiraIssue[] {
    return [...this.issues];
  }

  addComment(issue: LabJiraIssue, body: unknown, incidentId?: string): LabJiraComment {
    const comment: LabJiraComment = {
      id: String(this.nextComment++),
      created: isoAt(this.ctx.now()),
      body,
      ...(incidentId ? { incidentId } : {}),
    };
    issue.comments.push(comment);
    issue.updated = comment.created;
    this.ctx.changed();
    return comment;
  }

  transition(issue: LabJiraIssue, statusId: string): void {
    const status = LAB_JIRA_STATUSES.find((s) => s.id === statusId)!;
    issue.statusId = statusId;
    issue.history.push(status.name);
    issue.updated = isoAt(this.ctx.now());
    this.ctx.changed();
  }

  // ------------------------------------------------------------------------------------------ ServiceNow

  addIncident(fields: Record<string, string>, notes: string[], incidentId?: string): LabServiceNowIncident {
    const now = this.ctx.now();
    const number = `INC${String(this.nextIncident++).padStart(7, '0')}`;
    const sysId = hex(`servicenow:${number}:${now}:${this.ctx.nextSeq()}`, 32);
    const at = serviceNowTime(now);
    const record: LabServiceNowIncident = {
      sysId,
      number,
      createdOn: at,
      updatedOn: at,
      fields: { state: '1', impact: '3', urgency: '3', ...fields },
      notes: [],
      ...(incidentId ? { incidentId } : {}),
    };
    for (const n of notes) this.addNote(record, 'work_notes', n);
    this.incidents.push(record);
    trim(this.incidents);
    this.ctx.changed();
    return record;
  }

  incident(sysId: string): LabServiceNowIncident | undefined {
    return this.incidents.find((i) => i.sysId === sysId);
  }

  serviceNowIncidents(): LabServiceNowIncident[] {
    return [...this.incidents];
  }

  updateIncident(record: LabServiceNowIncident, fields: Record<string, string>, notes: string[]): void {
    Object.assign(record.fields, fields);
    for (const n of notes) this.addNote(record, 'work_notes', n);
    record.updatedOn = serviceNowTime(this.ctx.now());
    this.ctx.changed();
  }

  private addNote(record: LabServiceNowIncident, element: 'work_notes', value: string): void {
    record.notes.push({
      sysId: hex(`journal:${record.sysId}:${this.ctx.nextSeq()}`, 32),
      element,
      value,
      createdOn: serviceNowTime(this.ctx.now()),
    });
  }

  // ------------------------------------------------------------------------------------------ persistence

  persisted(): { jiraIssues: LabJiraIssue[]; serviceNowIncidents: LabServiceNowIncident[] } {
    return { jiraIssues: this.issues, serviceNowIncidents: this.incidents };
  }

  restore(issues: LabJiraIssue[] = [], incidents: LabServiceNowIncident[] = []): void {
    this.issues = issues;
    this.incidents = incidents;
    // Numbering goes on after what was restored.
    this.nextIssue = 1 + Math.max(0, ...issues.map((i) => Number(i.key.split('-').pop()) || 0));
    this.nextComment = 1 + Math.max(9999, ...issues.flatMap((i) => i.comments.map((c) => Number(c.id) || 0)));
    this.nextIncident = 1 + Math.max(10000, ...incidents.map((i) => Number(i.number.slice(3)) || 0));
  }
}
