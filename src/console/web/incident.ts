/**
 * One incident: phases, scope, its ticket and threat intelligence (intel.ts), approvals (with decisions),
 * actions, checklist, notes, evidence (evidence.ts), alerts, and for auditors the report, the timeline and the
 * audit bundle download. Every change is a call to the REST API as the signed-in person; the incident answers
 * with its own rules, and refusals are shown in plain words.
 */
import { h, type ComponentChildren } from 'preact';
import { useState } from 'preact/hooks';
import MarkdownIt from 'markdown-it';
import {
  PHASES,
  type ActionKind,
  type Approval,
  type IncidentAction,
  type IncidentState,
} from '../../domain/incident';
import { call, describeProblem, fetchAttachment, may, type Me } from './api';
import { Evidence } from './evidence';
import { duration, until, useClock, useFocusOnShow, when, words } from './format';
import { Enrichment, TicketLine } from './intel';
import { usePolled } from './poll';

const POLL_MS = 2_000;

/** What the console reads of a timeline entry (src/audit/timeline/types.ts has the whole contract). */
interface TimelineEntry {
  seq: number;
  at: string;
  summary: string;
  actor?: string;
  runId: string;
  eventIds: number[];
}
// html: false: any HTML in the report (alert titles, host names) is shown as text, never interpreted.
const markdown = new MarkdownIt({ html: false, linkify: false });

type Outcome = { ok: true; text: string } | { ok: false; text: string } | undefined;

function section(title: string, id: string, ...children: ComponentChildren[]) {
  return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id }, title), ...children);
}

function outcomeLine(outcome: Outcome) {
  if (!outcome) return null;
  return h(
    'p',
    { class: outcome.ok ? 'ok' : 'error', role: outcome.ok ? 'status' : 'alert', 'data-testid': 'outcome' },
    outcome.text,
  );
}

/** Runs an API call for a button, then shows its outcome and reloads the incident. */
function useAction(refresh: () => void) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const run = async (method: 'POST', path: string, body: unknown, success: string) => {
    setBusy(true);
    const answer = await call<unknown>(method, path, { body });
    setBusy(false);
    setOutcome(
      answer.ok ? { ok: true, text: success } : { ok: false, text: describeProblem(answer.problem) },
    );
    refresh();
  };
  return { busy, outcome, run };
}

function actionWords(action: { kind: ActionKind; label?: string }): string {
  return action.label ?? words(action.kind);
}

function PhaseProgress({ state }: { state: IncidentState }) {
  const current = PHASES.indexOf(state.phase);
  return h(
    'ol',
    { class: 'phases' },
    ...PHASES.map((p, i) => {
      const at = state.phaseTimestamps[p];
      const cls = i < current ? 'done' : i === current ? 'current' : 'todo';
      return h(
        'li',
        { class: cls, ...(i === current ? { 'aria-current': 'step' } : {}) },
        h('span', { class: 'phase-name' }, words(p)),
        at ? h('time', { dateTime: at }, when(at)) : null,
      );
    }),
  );
}

function ApprovalCard(props: { incidentId: string; approval: Approval; me: Me; refresh: () => void }) {
  const { approval: a, me } = props;
  const [comment, setComment] = useState('');
  const { busy, outcome, run } = useAction(props.refresh);
  const approvals = a.decisions.filter((d) => d.decision === 'approve').length;
  const stillNeeded = Math.max(0, a.requiredApprovers - approvals);
  const decide = (decision: 'approve' | 'reject') =>
    void run(
      'POST',
      `/api/v1/incidents/${props.incidentId}/approvals/${a.approvalId}`,
      { decision, ...(comment.trim() ? { comment: comment.trim() } : {}) },
      decision === 'approve' ? 'Your approval was recorded.' : 'Your rejection was recorded.',
    );
  const pending = a.state === 'pending';
  const commentId = `comment-${a.approvalId}`;
  return h(
    'article',
    {
      class: `approval state-${a.state}`,
      'data-approval': a.approvalId,
      'aria-label': `Approval ${a.approvalId}`,
    },
    h(
      'h3',
      null,
      `${actionWords({ kind: a.request.action })} `,
      h('code', null, a.request.target),
      h('span', { class: `badge state-${a.state}`, 'data-testid': 'approval-state' }, a.state),
    ),
    h(
      'dl',
      null,
      h('dt', null, 'Why'),
      h('dd', null, a.request.why),
      h('dt', null, 'Undo'),
      h('dd', null, a.request.undo),
      h('dt', null, 'Severity'),
      h('dd', null, h('span', { class: `sev sev-${a.request.severity}` }, a.request.severity)),
      h('dt', null, 'Requested by'),
      h('dd', null, `${a.requestedBy.join(', ') || 'the playbook'}, ${when(a.requestedAt)}`),
      h('dt', null, 'Policy'),
      h(
        'dd',
        null,
        a.policy === 'two_person' ? 'two distinct approvers' : 'one approver',
        pending ? `; still needed: ${stillNeeded}` : '',
      ),
      a.escalateAt && pending ? h('dt', null, 'Escalates') : null,
      a.escalateAt && pending
        ? h('dd', null, a.escalatedAt ? `escalated ${when(a.escalatedAt)}` : until(a.escalateAt))
        : null,
      a.expiresAt && pending ? h('dt', null, 'Expires') : null,
      a.expiresAt && pending ? h('dd', null, until(a.expiresAt)) : null,
      a.decidedAt ? h('dt', null, 'Decided') : null,
      a.decidedAt ? h('dd', null, when(a.decidedAt)) : null,
      a.expiryOutcome ? h('dt', null, 'On expiry') : null,
      a.expiryOutcome ? h('dd', null, a.expiryOutcome) : null,
    ),
    a.notice ? h('p', { class: 'notice' }, a.notice) : null,
    a.decisions.length
      ? h(
          'ul',
          { class: 'decisions' },
          ...a.decisions.map((d) =>
            h(
              'li',
              null,
              `${d.decision === 'approve' ? 'Approved' : 'Rejected'} by ${d.decider}, ${when(d.at)}`,
              d.comment ? `: “${d.comment}”` : '',
            ),
          ),
        )
      : null,
    a.refusedAttempts.length
      ? h(
          'details',
          null,
          h('summary', null, `Refused attempts (${a.refusedAttempts.length})`),
          h(
            'ul',
            null,
            ...a.refusedAttempts.map((r) =>
              h('li', null, `${r.decider} (${r.type}), ${when(r.at)}: ${r.reason}`),
            ),
          ),
        )
      : null,
    pending && may(me, 'approver')
      ? h(
          'div',
          { class: 'decide' },
          h('label', { for: commentId }, 'Comment (optional)'),
          h('textarea', {
            id: commentId,
            rows: 2,
            value: comment,
            onInput: (e: Event) => setComment((e.target as HTMLTextAreaElement).value),
          }),
          h(
            'div',
            { class: 'buttons' },
            h(
              'button',
              { type: 'button', class: 'approve', disabled: busy, onClick: () => decide('approve') },
              'Approve',
            ),
            h(
              'button',
              { type: 'button', class: 'reject', disabled: busy, onClick: () => decide('reject') },
              'Reject',
            ),
          ),
        )
      : null,
    pending && !may(me, 'approver') ? h('p', { class: 'hint' }, 'Only approvers can decide this.') : null,
    outcomeLine(outcome),
  );
}

function ActionRow(props: { incidentId: string; action: IncidentAction; me: Me; refresh: () => void }) {
  const { action: a } = props;
  const { busy, outcome, run } = useAction(props.refresh);
  const resolve = (resolution: 'retry' | 'skip') =>
    void run(
      'POST',
      `/api/v1/incidents/${props.incidentId}/actions/${a.actionId}/${resolution}`,
      {},
      resolution === 'retry' ? 'Retry requested.' : 'Skip requested.',
    );
  return h(
    'tr',
    { 'data-action': a.actionId },
    h('td', { 'data-label': 'Action' }, actionWords(a), a.purpose === 'recovery' ? ' (recovery)' : ''),
    h(
      'td',
      { 'data-label': 'Target' },
      h('code', null, a.target),
      ...(a.files ?? []).map((f) => [' ', h('code', { key: f, class: 'hash' }, f)]).flat(),
    ),
    h(
      'td',
      { 'data-label': 'State' },
      h('span', { class: `badge state-${a.state}`, 'data-testid': 'action-state' }, words(a.state)),
    ),
    h('td', { 'data-label': 'Attempts' }, String(a.attempts)),
    h(
      'td',
      { 'data-label': 'Details' },
      a.lastError ? h('span', { class: 'error' }, `${a.lastError.type}: ${a.lastError.message}`) : null,
      a.result?.verifiedState ? ` verified ${a.result.verifiedState}` : '',
      a.result?.detail ? ` ${a.result.detail}` : '',
      a.reason ? ` ${a.reason}` : '',
      a.state === 'failed' && may(props.me, 'responder')
        ? h(
            'span',
            { class: 'buttons' },
            h('button', { type: 'button', disabled: busy, onClick: () => resolve('retry') }, 'Retry'),
            h('button', { type: 'button', disabled: busy, onClick: () => resolve('skip') }, 'Skip'),
          )
        : null,
      outcomeLine(outcome),
    ),
  );
}

function Checklist(props: { state: IncidentState; me: Me; refresh: () => void }) {
  const { busy, outcome, run } = useAction(props.refresh);
  const items = props.state.checklist;
  if (!items.length) return h('p', null, 'No checklist items yet (they come with eradication).');
  return h(
    'div',
    null,
    h(
      'ul',
      { class: 'checklist' },
      ...items.map((i) =>
        h(
          'li',
          { 'data-item': i.itemId, class: i.completedAt ? 'done' : '' },
          h('span', null, i.completedAt ? '✓ ' : '○ ', i.text),
          i.completedAt
            ? h('span', { class: 'hint' }, ` completed by ${i.completedBy ?? '?'}, ${when(i.completedAt)}`)
            : may(props.me, 'responder') && props.state.status === 'open'
              ? h(
                  'button',
                  {
                    type: 'button',
                    disabled: busy,
                    onClick: () =>
                      void run(
                        'POST',
                        `/api/v1/incidents/${props.state.incidentId}/checklist/${i.itemId}`,
                        {},
                        `Completed: ${i.text}`,
                      ),
                  },
                  'Complete',
                )
              : null,
        ),
      ),
    ),
    outcomeLine(outcome),
  );
}

function Notes(props: { state: IncidentState; me: Me; refresh: () => void }) {
  const [text, setText] = useState('');
  const { busy, outcome, run } = useAction(props.refresh);
  return h(
    'div',
    null,
    props.state.notes.length
      ? h(
          'ul',
          { class: 'notes' },
          ...props.state.notes.map((n) =>
            h(
              'li',
              null,
              h(
                'span',
                { class: 'hint' },
                `${n.author}, ${when(n.at)}${n.kind === 'lessons_learned' ? ' (lessons learned)' : ''}: `,
              ),
              n.text,
            ),
          ),
        )
      : h('p', null, 'No notes yet.'),
    may(props.me, 'responder') && props.state.status === 'open'
      ? h(
          'form',
          {
            onSubmit: (e: Event) => {
              e.preventDefault();
              if (!text.trim()) return;
              void run(
                'POST',
                `/api/v1/incidents/${props.state.incidentId}/notes`,
                { text },
                'Note added.',
              ).then(() => setText(''));
            },
          },
          h('label', { for: 'note-text' }, 'Add a note'),
          h('textarea', {
            id: 'note-text',
            rows: 3,
            value: text,
            onInput: (e: Event) => setText((e.target as HTMLTextAreaElement).value),
          }),
          h('button', { type: 'submit', disabled: busy }, 'Add note'),
        )
      : null,
    outcomeLine(outcome),
  );
}

function Report({ incidentId }: { incidentId: string }) {
  const [html, setHtml] = useState<string | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const load = async () => {
    const answer = await call<string>('GET', `/api/v1/incidents/${incidentId}/report?format=markdown`, {
      accept: 'text/markdown',
      text: true,
    });
    if (answer.ok && 'body' in answer) {
      setHtml(markdown.render(answer.body));
      setError(undefined);
    } else if (!answer.ok) setError(describeProblem(answer.problem));
  };
  return h(
    'div',
    null,
    h('button', { type: 'button', onClick: () => void load() }, html ? 'Refresh report' : 'Show report'),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    html
      ? h('div', { class: 'report', 'data-testid': 'report', dangerouslySetInnerHTML: { __html: html } })
      : null,
  );
}

/** Saves the tamper-evident audit bundle (the file `quell audit export` writes) for `quell audit verify`. */
function AuditBundle({ incidentId }: { incidentId: string }) {
  const [busy, setBusy] = useState(false);
  const [outcome, setOutcome] = useState<Outcome>(undefined);
  const download = async () => {
    setBusy(true);
    const answer = await fetchAttachment(
      `/api/v1/incidents/${incidentId}/bundle`,
      `${incidentId}.audit-bundle.json`,
    );
    setBusy(false);
    if (!answer.ok) {
      setOutcome({ ok: false, text: describeProblem(answer.problem) });
      return;
    }
    // The token stays in memory, so the browser cannot fetch the file itself: hand it the fetched copy.
    const url = URL.createObjectURL(answer.blob);
    const link = document.createElement('a');
    link.href = url;
    link.download = answer.fileName;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
    setOutcome({ ok: true, text: `Saved ${answer.fileName}: check it with \`quell audit verify\`.` });
  };
  return h(
    'div',
    null,
    h(
      'p',
      { class: 'hint' },
      'The history, state, timeline, evidence manifest and report, chained by SHA-256 (and signed when the ' +
        'server has a signing key).',
    ),
    h('button', { type: 'button', disabled: busy, onClick: () => void download() }, 'Download audit bundle'),
    outcomeLine(outcome),
  );
}

function Timeline({ incidentId }: { incidentId: string }) {
  const [entries, setEntries] = useState<TimelineEntry[] | undefined>(undefined);
  const [error, setError] = useState<string | undefined>(undefined);
  const load = async () => {
    const answer = await call<{ entries: TimelineEntry[] }>(
      'GET',
      `/api/v1/incidents/${incidentId}/timeline`,
    );
    if (answer.ok && 'body' in answer) setEntries(answer.body.entries);
    else if (!answer.ok) setError(describeProblem(answer.problem));
  };
  return h(
    'div',
    null,
    h(
      'button',
      { type: 'button', onClick: () => void load() },
      entries ? 'Refresh timeline' : 'Show timeline',
    ),
    error ? h('p', { class: 'error', role: 'alert' }, error) : null,
    entries
      ? h(
          'table',
          { class: 'timeline' },
          h(
            'thead',
            null,
            h(
              'tr',
              null,
              ...['When', 'What', 'Who', 'History events'].map((c) => h('th', { scope: 'col' }, c)),
            ),
          ),
          h(
            'tbody',
            null,
            ...entries.map((e) =>
              h(
                'tr',
                { key: String(e.seq) },
                h('td', { 'data-label': 'When' }, when(e.at)),
                h('td', { 'data-label': 'What' }, e.summary),
                h('td', { 'data-label': 'Who' }, e.actor ?? ''),
                h('td', { 'data-label': 'Events', title: `run ${e.runId}` }, e.eventIds.join(', ')),
              ),
            ),
          ),
        )
      : null,
  );
}

/** `cls: 'hash'` for values too long to fit a phone's width unbroken (SHA-256s). */
function list(label: string, values: string[], cls?: string) {
  return [
    h('dt', null, label),
    h('dd', null, values.length ? values.map((v) => h('code', { key: v, class: cls }, v)) : '—'),
  ];
}

export function IncidentPage({ incidentId, me }: { incidentId: string; me: Me }) {
  const incident = usePolled<IncidentState>(`/api/v1/incidents/${incidentId}`, POLL_MS);
  useClock();
  const s = incident.data;
  const heading = useFocusOnShow(s !== undefined);
  if (!s) {
    return h(
      'main',
      null,
      h('p', null, h('a', { href: '#/' }, '← Incidents')),
      incident.problem
        ? h('p', { class: 'error', role: 'alert' }, describeProblem(incident.problem))
        : h('p', null, 'Loading…'),
    );
  }
  const refresh = incident.refresh;
  const m = s.metrics;
  return h(
    'main',
    { class: 'incident' },
    h('p', null, h('a', { href: '#/' }, '← Incidents')),
    h(
      'h1',
      { ref: heading, tabIndex: -1 },
      s.title,
      ' ',
      h('span', { class: `sev sev-${s.severity}` }, s.severity),
    ),
    h(
      'p',
      { class: 'meta' },
      h('code', null, s.incidentId),
      ` · ${s.status}${s.resolution ? ` (${words(s.resolution)})` : ''} · phase `,
      h('strong', { 'data-testid': 'phase' }, words(s.phase)),
      ` · playbook ${s.playbook.name} v${s.playbook.version} · opened ${when(s.openedAt)}`,
    ),
    s.ticket ? h(TicketLine, { ticket: s.ticket }) : null,
    incident.problem ? h('p', { class: 'error', role: 'alert' }, describeProblem(incident.problem)) : null,
    s.waitingFor ? h('p', { class: 'notice', role: 'status' }, s.waitingFor.summary) : null,
    h(PhaseProgress, { state: s }),
    h(
      'div',
      { class: 'grid' },
      section(
        'Scope',
        'h-scope',
        h(
          'dl',
          null,
          ...list('Hosts', s.scope.hosts),
          ...list('Accounts', s.scope.accounts),
          ...list('IPs', s.scope.ips),
          ...list('Domains', s.scope.domains),
          ...(s.scope.files?.length ? list('File hashes', s.scope.files, 'hash') : []),
        ),
      ),
      section(
        'Metrics',
        'h-metrics',
        h(
          'dl',
          null,
          ...(
            [
              ['Time to detect', m.mttdSeconds],
              ['Time to acknowledge', m.mttaSeconds],
              ['Time to contain', m.mttcSeconds],
              ['Time to recover', m.mttrSeconds],
            ] as const
          ).flatMap(([label, v]) => [h('dt', null, label), h('dd', null, v === null ? '—' : duration(v))]),
        ),
      ),
    ),
    s.enrichment
      ? section('Threat intelligence', 'h-intel', h(Enrichment, { enrichment: s.enrichment }))
      : null,
    section(
      'Approvals',
      'h-approvals',
      s.approvals.length
        ? h(
            'div',
            { class: 'approvals' },
            ...[...s.approvals]
              .sort((a, b) => Number(b.state === 'pending') - Number(a.state === 'pending'))
              .map((a) =>
                h(ApprovalCard, { key: a.approvalId, incidentId: s.incidentId, approval: a, me, refresh }),
              ),
          )
        : h('p', null, 'No approvals requested.'),
    ),
    section(
      'Actions',
      'h-actions',
      s.actions.length
        ? h(
            'table',
            { class: 'actions' },
            h(
              'thead',
              null,
              h(
                'tr',
                null,
                ...['Action', 'Target', 'State', 'Attempts', 'Details'].map((c) =>
                  h('th', { scope: 'col' }, c),
                ),
              ),
            ),
            h(
              'tbody',
              null,
              ...s.actions.map((a) =>
                h(ActionRow, { key: a.actionId, incidentId: s.incidentId, action: a, me, refresh }),
              ),
            ),
          )
        : h('p', null, 'No actions yet.'),
    ),
    section('Eradication checklist', 'h-checklist', h(Checklist, { state: s, me, refresh })),
    section(
      `Alerts (${s.alerts.count}, ${s.alerts.deduplicated} duplicates)`,
      'h-alerts',
      h(
        'ul',
        { class: 'alerts' },
        ...s.alerts.recent.map((a) =>
          h(
            'li',
            { key: a.alertId },
            h('strong', null, a.title),
            ` — ${a.source}, rule ${a.ruleName}, ${a.severity}, detected ${when(a.detectedAt)}, raised by ${a.raisedBy}`,
          ),
        ),
      ),
    ),
    section('Evidence', 'h-evidence', h(Evidence, { state: s, me })),
    section('Notes', 'h-notes', h(Notes, { state: s, me, refresh })),
    may(me, 'auditor') ? section('Report', 'h-report', h(Report, { incidentId: s.incidentId })) : null,
    may(me, 'auditor') ? section('Timeline', 'h-timeline', h(Timeline, { incidentId: s.incidentId })) : null,
    may(me, 'auditor')
      ? section('Audit bundle', 'h-bundle', h(AuditBundle, { incidentId: s.incidentId }))
      : null,
  );
}
