/** `renderReportMarkdown`: the report as Markdown. */
import { markdownCode, markdownCodeBlock, markdownText } from '../../domain/untrusted-text';
import { formatTimelineLine } from '../timeline';
import type { IncidentReport } from './types';

/** Untrusted text inside the Markdown: escaped, one line (see src/domain/untrusted-text.ts). */
const md = (s: string | number | undefined | null) => markdownText(String(s ?? ''));
const code = (s: string | number | undefined | null) => markdownCode(String(s ?? ''));

/** The report as Markdown (GitHub-flavoured tables). Every value that came from outside is escaped. */
export function renderReportMarkdown(r: IncidentReport, opts: { maxTimelineEntries?: number } = {}): string {
  const i = r.incident;
  const out: string[] = [];
  out.push(`# Post-incident report: ${md(i.title)}`, '');
  out.push(
    `| | |`,
    `|---|---|`,
    `| Incident | ${code(i.incidentId)} |`,
    `| Workflow | ${code(i.workflowId)} (${i.runs} run${i.runs === 1 ? '' : 's'}) |`,
    `| Severity | ${md(i.severity)} |`,
    `| Status | ${md(i.status)}${i.resolution ? ` (${md(i.resolution.replace('_', ' '))})` : ''}, phase ${md(i.phase.replace('_', ' '))} |`,
    `| Playbook | ${md(i.playbook.name)} (${code(i.playbook.id)} v${i.playbook.version}, sha256 ${code(`${i.playbook.hash.slice(0, 12)}…`)}) |`,
    `| Opened | ${md(i.openedAt)} |`,
    ...(i.closedAt ? [`| Closed | ${md(i.closedAt)} |`] : []),
    `| Report generated | ${md(r.generatedAt)} (state from ${r.stateSource}) |`,
    '',
  );
  out.push('## Summary', '', md(r.summary), '');
  out.push('## Metrics', '', '| MTTD | MTTA | MTTC | MTTR |', '|---|---|---|---|');
  out.push(
    `| ${r.metrics.formatted.MTTD} | ${r.metrics.formatted.MTTA} | ${r.metrics.formatted.MTTC} | ${r.metrics.formatted.MTTR} |`,
    '',
    'MTTD: first activity to detection; MTTA: opening to first human response; MTTC: opening to containment ' +
      'complete; MTTR: opening to recovery complete (or closure as a false positive).',
    '',
  );
  out.push('## Scope', '');
  for (const [k, v] of Object.entries(r.scope) as [string, string[]][])
    out.push(`- **${md(k)}**: ${v.length ? v.map((x) => code(x)).join(', ') : '-'}`);
  out.push(
    '',
    `Alerts: ${r.alerts.count} (${r.alerts.deduplicated} duplicate deliveries) from ${md(r.alerts.sources.join(', ')) || '-'}, raised by ${md(r.alerts.raisedBy.join(', ')) || '-'}.`,
    '',
  );
  out.push('## Phases', '', '| Phase | Entered |', '|---|---|');
  for (const p of r.phases) out.push(`| ${md(p.phase.replace('_', ' '))} | ${md(p.enteredAt)} |`);
  out.push('');
  out.push(
    '## Actions',
    '',
    '| Action | Target | Purpose | Policy | Outcome | Attempts | Executions (history events) |',
    '|---|---|---|---|---|---|---|',
  );
  for (const a of r.actions) {
    const execs = a.executions
      .map(
        (x) =>
          `${x.outcome} after ${x.attempts} attempt(s)${x.durationSeconds !== undefined ? ` in ${x.durationSeconds.toFixed(2)}s` : ''} (#${x.refs.map((ref) => ref.eventId).join(',#')})`,
      )
      .join('; ');
    out.push(
      `| ${md(a.actionId)} ${md(a.kind)} | ${code(a.target)} | ${md(a.purpose)} | ${md(a.policy)} | ${md(a.state)}${a.reason ? ` (${md(a.reason)})` : ''} | ${a.attempts}${a.responderRetries ? ` (${a.responderRetries} responder retr${a.responderRetries === 1 ? 'y' : 'ies'})` : ''} | ${md(execs) || '-'} |`,
    );
  }
  out.push('');
  out.push(
    '## Approvals',
    '',
    '| Approval | Request | Policy | Outcome | Deciders | Refused attempts |',
    '|---|---|---|---|---|---|',
  );
  for (const ap of r.approvals) {
    const deciders = ap.deciders
      .map(
        (d) =>
          `${md(d.decider)} (${md(d.roles.join('/'))}) ${md(d.decision)} via ${md(d.via)} at ${md(d.at)}${d.comment ? `: "${md(d.comment)}"` : ''}`,
      )
      .join('; ');
    const refused = ap.refused
      .map(
        (x) =>
          `${md(x.decider)}${x.roles?.length ? ` (${md(x.roles.join('/'))})` : ''} ${md(x.decision)} via ${md(x.via)} at ${md(x.at)}: ${md(x.type)}`,
      )
      .join('; ');
    out.push(
      `| ${md(ap.approvalId)} | ${md(ap.action)} ${code(ap.target)} (requested ${md(ap.requestedAt)} by ${md(ap.requestedBy.join(', ')) || '-'}) | ${md(ap.policy)} | ${md(ap.state)}${ap.expiryOutcome ? ` (on expiry: ${md(ap.expiryOutcome)})` : ''}${ap.escalatedAt ? `, escalated ${md(ap.escalatedAt)}` : ''} | ${deciders || '-'} | ${refused || '-'} |`,
    );
  }
  out.push('');
  if (r.refusedRequests.length) {
    out.push(
      '### Refused requests without an approval',
      '',
      'Decisions on approvals that do not exist, and close requests the incident refused.',
      '',
      '| When | Who | Request | Refusal |',
      '|---|---|---|---|',
    );
    for (const x of r.refusedRequests) {
      out.push(
        `| ${md(x.at)} | ${md(x.decider)}${x.roles.length ? ` (${md(x.roles.join('/'))})` : ''} | ${md(x.request)} ${md(x.decision)}${x.approvalId ? ` on ${md(x.approvalId)}` : ''} via ${md(x.via)} | ${md(x.type)}: ${md(x.reason)} |`,
      );
    }
    out.push('');
  }
  out.push(
    '## Evidence',
    '',
    '| Evidence | Subject | SHA-256 | Size | Collected | Custody | History events |',
    '|---|---|---|---|---|---|---|',
  );
  for (const e of r.evidence) {
    out.push(
      `| ${code(e.evidenceId)} ${md(e.name)} | ${code(e.subject)} | ${code(e.sha256)} | ${e.sizeBytes} B | ${md(e.collectedAt)} (${md(e.timeZone)}) | ${md(e.collectedBy)}, ${md(e.location)} | ${e.refs.map((x) => `#${x.eventId}`).join(' ') || '-'} |`,
    );
  }
  if (!r.evidence.length) out.push('| - | | | | | | |');
  out.push('');
  out.push(
    '## Notifications',
    '',
    `${r.notifications.total} sent (${r.notifications.failed} failed): ${
      Object.entries(r.notifications.byRoute)
        .map(([k, v]) => `${md(k)} ${v}`)
        .join(', ') || '-'
    }.`,
    '',
  );
  out.push('## Eradication checklist', '');
  for (const c of r.checklist)
    out.push(
      `- [${c.completedAt ? 'x' : ' '}] ${md(c.text)}${c.completedBy ? ` — ${md(c.completedBy)}, ${md(c.completedAt)}${c.note ? `: ${md(c.note)}` : ''}` : ''}`,
    );
  out.push('');
  out.push('## Lessons learned', '');
  if (r.lessonsLearned.length)
    for (const n of r.lessonsLearned) out.push(`- ${md(n.text)} — ${md(n.author)}, ${md(n.at)}`);
  else out.push('_None recorded._');
  const otherNotes = r.notes.filter((n) => n.kind !== 'lessons_learned');
  if (otherNotes.length) {
    out.push('', '### Notes', '');
    for (const n of otherNotes) out.push(`- ${md(n.text)} — ${md(n.author)}, ${md(n.at)}`);
  }
  out.push('');
  const max = opts.maxTimelineEntries ?? 500;
  const shown = r.timeline.filter((e) => e.kind !== 'alert_deduplicated');
  out.push(
    '## Timeline',
    '',
    `From the workflow history (${r.history.events} events in ${r.history.runs.length || r.incident.runs} run(s)); ` +
      'each line cites its history events as `#<event ID>` in the run shown.',
    '',
  );
  const lines = shown.slice(0, max).map((e) => formatTimelineLine(e));
  if (shown.length > max) lines.push(`... ${shown.length - max} more entries (see the JSON report)`);
  out.push(...markdownCodeBlock(lines), '');
  return out.join('\n');
}
