/**
 * `quell playbook simulate`: what a (changed) set of playbooks would do with past alerts or recorded incidents,
 * compared with what the recordings say happened. Nothing is executed and nothing is sent; only `--incident`
 * talks to Temporal, to read one history.
 */
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import { loadConfig } from '../config';
import { oneLine } from '../domain/untrusted-text';
import { UserFixableError } from '../errors';
import { AmbiguousIncidentIdError } from '../audit/history';
import { IncidentNotFoundError } from '../incidents/errors';
import { loadPlaybooks } from '../playbooks/loader';
import {
  groupAlerts,
  simulateIncident,
  type ActionComparison,
  type IncidentSimulation,
  type SimulationInput,
} from '../playbooks/simulate';
import {
  fetchRecordedIncident,
  readAlertFiles,
  readRecordedIncidents,
  SimulationInputError,
} from '../playbooks/simulate-inputs';
import { codecFromEnv } from '../temporal/codec';

export interface SimulateCommandDeps {
  env: NodeJS.ProcessEnv;
  stdout: { write(s: string): boolean };
  stderr: { write(s: string): boolean };
  setExitCode: (code: number) => void;
  /** How `--incident` reaches Temporal (default: the environment's server, as `quell audit timeline`). */
  connect?: () => Promise<Client>;
}

/** What `simulate --json` prints. */
export interface SimulationReport {
  playbooks: string;
  source: 'alerts' | 'histories' | 'incident';
  incidents: IncidentSimulation[];
  summary: { incidents: number; compared: number; same: number; differs: number };
}

interface SimulateOptions {
  playbooks?: string;
  alerts?: string[];
  histories?: string[];
  incident?: string;
  json?: boolean;
  failOnDiff?: boolean;
}

const plural = (n: number, one: string, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;

/** Columns padded to their widest cell (the last left ragged). Cells are one-lined by the caller. */
export function alignedTable(rows: string[][], indent = '  '): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map(
    (row) => indent + row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  '),
  );
}

function recordedCell(c: ActionComparison): string {
  if (!c.recorded) return '-';
  const who = c.recorded.decidedBy.length ? ` (${c.recorded.decidedBy.map(oneLine).join(', ')})` : '';
  const where = c.change === 'target differs' ? ` on ${oneLine(c.recorded.target)}` : '';
  return `${c.recorded.policy}${where}, ${c.recorded.state}${who}`;
}

function resultCell(c: ActionComparison): string {
  if (c.result === 'same') return 'same';
  if (c.change === 'policy changed') return `DIFFERS: policy ${c.recorded?.policy} -> ${c.simulated?.policy}`;
  if (c.change === 'target differs')
    return `DIFFERS: target ${oneLine(c.recorded?.target ?? '')} -> ${oneLine(c.target)}`;
  return `DIFFERS: ${c.change}`;
}

/** The human-readable report: per incident its playbook, severity and actions, then the summary. */
export function formatSimulation(report: SimulationReport): string {
  const lines: string[] = [];
  for (const sim of report.incidents) {
    const cmp = sim.comparison;
    lines.push(
      `${oneLine(sim.label)}${sim.incidentId ? ` (incident ${oneLine(sim.incidentId)})` : ''}: ` +
        `${plural(sim.alerts, 'alert')}${cmp ? `: ${cmp.result === 'same' ? 'same' : 'DIFFERS'}` : ''}`,
    );
    const pb = `${oneLine(sim.playbook.id)} v${sim.playbook.version}`;
    const recPb = cmp ? `${oneLine(cmp.playbook.recorded.id)} v${cmp.playbook.recorded.version}` : '';
    const facts = [
      [
        'playbook',
        `${pb}: ${oneLine(sim.playbook.why)}`,
        ...(cmp
          ? [
              `recorded ${recPb}${cmp.playbook.same ? '' : ': DIFFERS'}` +
                (cmp.playbook.same && cmp.playbook.recorded.hash !== sim.playbook.hash
                  ? ' (other content)'
                  : ''),
            ]
          : []),
      ],
      [
        'severity',
        `${sim.severity.value}: ${sim.severity.reasons.map(oneLine).join('; ')}`,
        ...(cmp ? [`recorded ${cmp.severity.recorded ?? '?'}${cmp.severity.same ? '' : ': DIFFERS'}`] : []),
      ],
    ];
    lines.push(...alignedTable(facts));
    if (cmp) {
      const rows = [['PHASE', 'ACTION', 'TARGET', 'WOULD', 'RECORDED', 'RESULT']];
      for (const c of cmp.actions) {
        rows.push([
          c.purpose,
          oneLine(c.kind),
          oneLine(c.target),
          c.simulated?.verdict ?? '-',
          recordedCell(c),
          resultCell(c),
        ]);
      }
      lines.push(...(rows.length > 1 ? alignedTable(rows) : ['  (no actions planned or recorded)']));
    } else {
      const rows = [['PHASE', 'ACTION', 'TARGET', 'WOULD', 'MAY NOT APPROVE']];
      for (const a of sim.actions) {
        rows.push([
          a.purpose,
          oneLine(a.kind),
          oneLine(a.target),
          a.verdict,
          a.mayNotApprove ? a.mayNotApprove.map(oneLine).join(', ') || 'whoever raised the alerts' : '-',
        ]);
      }
      lines.push(...(rows.length > 1 ? alignedTable(rows) : ['  (no actions planned)']));
    }
    lines.push('');
  }
  const s = report.summary;
  lines.push(
    `${plural(s.incidents, 'incident')} simulated with ${oneLine(report.playbooks)}` +
      (s.compared
        ? `; ${s.compared} compared with their recording: ${s.same} same, ${s.differs} differ`
        : ''),
  );
  return lines.join('\n') + '\n';
}

/** Registers `quell playbook simulate` on the `playbook` command. */
export function registerPlaybookSimulate(playbook: Command, deps: SimulateCommandDeps): void {
  const { env, stdout: out, stderr: err, setExitCode } = deps;
  const say = (s: string) => err.write(`${s}\n`);
  playbook
    .command('simulate')
    .description(
      'Show what playbooks would do with past alerts or recorded incidents: the playbook each selects and why, the ' +
        'severity and the rules that raised it, each action it would plan and whether it runs at once, waits for ' +
        'one or two approvers, or never runs; for recorded incidents, per action whether that is what happened. ' +
        'Nothing is executed and nothing is sent.',
    )
    .option('--playbooks <dir>', 'the playbooks to simulate (default: QUELL_PLAYBOOKS_DIR, ./playbooks)')
    .option(
      '--alerts <paths...>',
      'alert files or directories (*.json; generic, OCSF, Elastic or Alertmanager)',
    )
    .option(
      '--histories <paths...>',
      'recorded histories: files or directories (temporal workflow show --output json, quell history export, audit bundles)',
    )
    .option(
      '--incident <id>',
      "one incident's recording, read from Temporal (as `quell audit timeline` reads it)",
    )
    .option('--json', 'print { playbooks, source, incidents: [...], summary } on stdout')
    .option('--fail-on-diff', 'exit 1 when any recorded incident differs from the simulation')
    .addHelpText(
      'after',
      '\nExactly one of --alerts, --histories, --incident. Loose alerts are grouped into incidents by the correlation\n' +
        "key of the playbook each selects; a recording's alerts are its ingestAlert updates, in order. Compared per\n" +
        'action (phase, kind, target): same, policy changed, new action, no longer planned, target differs; and the\n' +
        'playbook (id, version) and the final severity.\n' +
        "Not simulated: people's decisions and their timing (every approval is taken as still waiting when a later\n" +
        'alert raises the severity), recovery (it undoes what containment did).\n' +
        'Exit code 0 when it ran (with or without differences), 1 with --fail-on-diff when any incident differs,\n' +
        '2 for a usage error or an input that cannot be read.\n' +
        'Encrypted histories are decrypted with QUELL_ENCRYPTION_KEY. --incident connects to Temporal as\n' +
        '`quell audit timeline` does (TEMPORAL_ADDRESS or TEMPORAL_PROFILE, ...).',
    )
    .action(async (opts: SimulateOptions) => {
      const sources = [opts.alerts, opts.histories, opts.incident].filter((s) => s !== undefined);
      if (sources.length !== 1) {
        say(
          'quell: give exactly one of --alerts, --histories, --incident (see `quell playbook simulate --help`)',
        );
        setExitCode(2);
        return;
      }
      try {
        const dir = opts.playbooks ?? loadConfig(env).playbooksDir;
        const registry = await loadPlaybooks(dir);
        const codec = codecFromEnv(env);
        let source: SimulationReport['source'];
        let inputs: SimulationInput[];
        if (opts.alerts) {
          source = 'alerts';
          inputs = groupAlerts(registry, await readAlertFiles(opts.alerts, new Date().toISOString()));
        } else if (opts.histories) {
          source = 'histories';
          const recorded = await readRecordedIncidents(opts.histories, {
            ...(codec ? { codec } : {}),
            onFile: (file, i, total) => {
              // Progress only where it helps: many files.
              if (total >= 20 && (i + 1) % 10 === 0) say(`read ${i + 1}/${total} history files`);
            },
          });
          inputs = recorded.map((r) => ({ label: r.label, alerts: r.alerts, recorded: r }));
        } else {
          source = 'incident';
          if (!deps.connect) throw new SimulationInputError('--incident needs a Temporal connection');
          const client = await deps.connect();
          try {
            const r = await fetchRecordedIncident(client, opts.incident!, codec);
            inputs = [{ label: r.label, alerts: r.alerts, recorded: r }];
          } finally {
            await client.connection.close().catch(() => undefined);
          }
        }
        const incidents: IncidentSimulation[] = [];
        for (const input of inputs) {
          if (input.alerts.length === 0) {
            say(`quell: ${oneLine(input.label)}: no alerts recorded; skipped`);
            continue;
          }
          incidents.push(simulateIncident(registry, input));
        }
        const compared = incidents.filter((i) => i.comparison);
        const differs = compared.filter((i) => i.comparison!.result === 'differs').length;
        const report: SimulationReport = {
          playbooks: dir,
          source,
          incidents,
          summary: {
            incidents: incidents.length,
            compared: compared.length,
            same: compared.length - differs,
            differs,
          },
        };
        out.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : formatSimulation(report));
        if (opts.failOnDiff && differs > 0) setExitCode(1);
      } catch (e) {
        const unreadable =
          e instanceof UserFixableError ||
          e instanceof IncidentNotFoundError ||
          e instanceof AmbiguousIncidentIdError;
        if (!unreadable) throw e;
        say(`quell: ${e.message}`);
        setExitCode(2);
      }
    });
}
