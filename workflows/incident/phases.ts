/**
 * The phase loop: identification, containment, investigation, eradication, recovery, lessons learned, closed.
 * It parks (resumably) wherever it waits for people or for actions, which is where continue-as-new may happen.
 */
import { patched } from '@temporalio/workflow';
import { isSettled } from '../../src/domain/actions';
import type { ActionPhase, ActionPurpose } from '../../src/domain/incident';
import { formatDuration } from '../../src/domain/metrics';
import { planContainment, planPhaseActions } from './actions';
import { leaveInternalIps } from './alerts';
import { enrichIdentification } from './enrichment';
import { collectEvidence, uninvestigatedHosts } from './evidence';
import { notifyPhase } from './notify';
import { PATCHES } from './patches';
import { closeAsFalsePositive, finishClose, recover, waitForEradicationActions } from './recovery';
import type { IncidentRun } from './run';

function describeActions(run: IncidentRun, purpose: ActionPurpose): string {
  const actions = run.state.actions.filter((a) => a.purpose === purpose);
  if (!actions.length) return `No ${purpose} actions.`;
  return actions.map((a) => `${a.kind} ${a.target}: ${a.state}`).join('; ');
}

/** Never true for a phase's actions: only containment's IP targets have internal addresses left alone. */
const noInternalRule = () => false;

function phaseActionsSettled(run: IncidentRun, phase: ActionPhase): boolean {
  return run.state.actions.filter((a) => a.purpose === phase).every(isSettled);
}

/** Back to containment: a correlated alert widened the incident after recovery began. */
function reopen(run: IncidentRun): void {
  run.reopenRequested = false;
  run.state.reopened++;
  run.enterPhase('containment');
}

/** Runs the phases from wherever the state says the incident is, to closure. */
export async function runPhases(run: IncidentRun): Promise<'done'> {
  const { state, playbook } = run;
  for (;;) {
    if (run.closingAsFalsePositive()) {
      await closeAsFalsePositive(run);
      return 'done';
    }
    switch (state.phase) {
      case 'identification': {
        await run.parkUntil(() => state.alerts.count > 0 || run.closeRequest !== undefined);
        if (run.closeRequest) continue;
        // Threat intelligence may raise severity before containment is planned (playbooks with `enrichment` only).
        if (playbook.enrichment) {
          await enrichIdentification(run);
          // Closed as a false positive while the lookups ran: nothing to contain.
          if (run.closingAsFalsePositive()) continue;
        }
        // Containment starts before the identification notice is delivered: seconds matter more than order.
        const identified = notifyPhase(
          run,
          'identification',
          `New ${state.severity} incident "${state.title}". Scope: ${run.scopeSummary()}`,
        );
        run.enterPhase('containment');
        planContainment(run, leaveInternalIps);
        await identified;
        break;
      }
      case 'containment': {
        await run.parkUntil(() => run.containmentSettled() || run.closingAsFalsePositive());
        if (run.closingAsFalsePositive()) continue;
        if (!state.milestones.containedAt) {
          state.milestones.containedAt = run.now();
          run.refreshMetrics();
        }
        await notifyPhase(run, 'containment', `Containment complete. ${describeActions(run, 'containment')}`);
        run.enterPhase('investigation');
        break;
      }
      case 'investigation': {
        // The playbook's investigation actions run beside the log snapshots (playbooks without any plan none).
        planPhaseActions(run, 'investigation', noInternalRule);
        await collectEvidence(run);
        // Hosts that joined while the snapshots ran are investigated before the phase ends.
        while (
          !run.closingAsFalsePositive() &&
          uninvestigatedHosts(state).length > 0 &&
          patched(PATCHES.lateEntityEvidence)
        )
          await collectEvidence(run, uninvestigatedHosts(state));
        if (run.closingAsFalsePositive()) continue;
        if (!phaseActionsSettled(run, 'investigation'))
          await run.parkUntil(
            () => phaseActionsSettled(run, 'investigation') || run.closingAsFalsePositive(),
          );
        if (run.closingAsFalsePositive()) continue;
        await notifyPhase(
          run,
          'investigation',
          `Evidence collected for ${state.evidence.length} item(s). Scope: ${run.scopeSummary()}. ${describeActions(run, 'containment')}` +
            (state.actions.some((a) => a.purpose === 'investigation')
              ? ` Investigation: ${describeActions(run, 'investigation')}`
              : ''),
        );
        run.enterPhase('eradication');
        break;
      }
      case 'eradication': {
        // Actions complete the checklist items that name them; people complete the rest.
        planPhaseActions(run, 'eradication', noInternalRule);
        await run.parkUntil(
          () => state.checklist.every((i) => i.completedAt) || run.closingAsFalsePositive(),
        );
        if (run.closingAsFalsePositive()) continue;
        await waitForEradicationActions(run);
        if (run.closingAsFalsePositive()) continue;
        run.enterPhase('recovery');
        break;
      }
      case 'recovery': {
        await recover(run);
        if (run.closingAsFalsePositive()) continue;
        if (run.reopenRequested) {
          reopen(run);
          break;
        }
        if (!state.milestones.recoveredAt) {
          state.milestones.recoveredAt = run.now();
          run.refreshMetrics();
        }
        await notifyPhase(run, 'recovery', `Recovery complete. ${describeActions(run, 'recovery')}`);
        run.enterPhase('lessons_learned');
        await notifyPhase(
          run,
          'lessons_learned',
          `Post-incident report ready: MTTA ${formatDuration(state.metrics.mttaSeconds)}, ` +
            `MTTC ${formatDuration(state.metrics.mttcSeconds)}, MTTR ${formatDuration(state.metrics.mttrSeconds)}. ` +
            'Add lessons learned, then close the incident.',
        );
        break;
      }
      case 'lessons_learned': {
        const enteredAt = Date.parse(state.phaseTimestamps.lessons_learned ?? run.now());
        const remaining = enteredAt + playbook.closure.autoCloseAfter - Date.now();
        if (remaining > 0)
          await run.parkUntil(() => run.closeRequest !== undefined || run.reopenRequested, remaining);
        if (run.closingAsFalsePositive()) continue;
        if (run.reopenRequested) {
          reopen(run);
          break;
        }
        await finishClose(run, run.closeRequest?.resolution ?? 'resolved');
        return 'done';
      }
      case 'closed':
        return 'done';
    }
  }
}
