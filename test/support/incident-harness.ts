import type { Client } from '@temporalio/client';
import type { ActionCatalogue } from '../../src/actions/catalogue';
import type { Connectors } from '../../src/connectors/types';
import type { IncidentState, Role } from '../../src/domain/incident';
import { normalizeGeneric, type GenericAlert } from '../../src/ingest/generic';
import { IncidentService } from '../../src/incidents/service';
import { parsePlaybook, PlaybookRegistry } from '../../src/playbooks/loader';
import { genericAlert } from './alerts';
import { waitFor } from './processes';
import { startTestWorker, testClient, type TestWorker } from './temporal';

/**
 * A test playbook with short timers. `overrides` is YAML appended at the top level (later keys win), so a test
 * states only the policy it exercises.
 */
export function testPlaybookYaml(overrides = ''): string {
  const base: Record<string, string> = {
    head: `id: test-pb\nname: Test playbook\nversion: 1\ndefault: true`,
    containment: `containment:
  isolate_host:
    approval: { critical: auto, high: approve, medium: two_person, low: never }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 4, totalTimeout: 30s, attemptTimeout: 5s }
  disable_account:
    approval: { critical: approve, high: approve, medium: approve, low: never }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }
  block_ip:
    approval: { critical: auto, high: auto, medium: auto, low: auto }
    retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }`,
    approvals: `approvals: { escalateAfter: 1h, expireAfter: 2h, onExpiry: reject, escalationRoutes: [oncall] }`,
    evidence: `evidence: { windowBefore: 1h, windowAfter: 5m }`,
    notifications: `notifications:
  responders: [soc]
  rules:
    - { phases: [identification, containment, investigation, recovery, lessons_learned, closed], routes: [soc] }`,
    eradication: `eradication:
  checklist:
    - { id: reimage, text: Reimage the host }
    - { id: reset-credentials, text: Reset credentials }`,
    recovery: `recovery:
  approval: { critical: approve, high: approve, medium: approve, low: approve }
  retry: { initialInterval: 100ms, maximumInterval: 200ms, maximumAttempts: 3, totalTimeout: 30s, attemptTimeout: 5s }`,
    closure: `closure: { autoCloseAfter: 1h }`,
  };
  // Overrides replace whole top-level sections by key.
  for (const block of overrides.split(/\n(?=\S)/).filter((b) => b.trim())) {
    const key = /^(\w+):/.exec(block)?.[1];
    if (key) base[key] = block.trim();
  }
  return Object.values(base).join('\n') + '\n';
}

export const actors = {
  siem: { subject: 'siem-ingest', roles: ['ingest'] as Role[] },
  alice: { subject: 'alice', roles: ['approver', 'responder'] as Role[] },
  bob: { subject: 'bob', roles: ['approver'] as Role[] },
  carol: { subject: 'carol', roles: ['approver', 'responder'] as Role[] },
  rita: { subject: 'rita', roles: ['responder'] as Role[] },
};

export interface Harness {
  service: IncidentService;
  client: Client;
  worker: TestWorker;
  /** Posts a generic alert as the SIEM (or `raisedBy`), returning the receipt. */
  ingest(alert?: Partial<GenericAlert>, raisedBy?: string): ReturnType<IncidentService['ingestAlert']>;
  state(incidentId: string): Promise<IncidentState>;
  /** Polls the query until the predicate holds. */
  until(
    incidentId: string,
    predicate: (s: IncidentState) => boolean,
    what: string,
    timeoutMs?: number,
  ): Promise<IncidentState>;
  stop(): Promise<void>;
}

export async function startHarness(opts: {
  playbookYaml?: string;
  connectors: Connectors;
  taskQueue?: string;
  /** The actions the worker runs and playbooks may name (the built-in catalogue by default). */
  catalogue?: ActionCatalogue;
}): Promise<Harness> {
  const worker = await startTestWorker({
    activityDeps: { connectors: opts.connectors, ...(opts.catalogue ? { catalogue: opts.catalogue } : {}) },
    ...(opts.taskQueue ? { taskQueue: opts.taskQueue } : {}),
  });
  const client = await testClient();
  const registry = PlaybookRegistry.from([
    parsePlaybook(opts.playbookYaml ?? testPlaybookYaml(), 'test-pb.yaml', opts.catalogue),
  ]);
  const service = new IncidentService(client, worker.taskQueue, registry);
  return {
    service,
    client,
    worker,
    ingest: (alert = {}, raisedBy = actors.siem.subject) =>
      service.ingestAlert(normalizeGeneric(genericAlert(alert), new Date().toISOString()), raisedBy),
    state: (id) => service.getState(id),
    until: (id, predicate, what, timeoutMs = 20_000) =>
      waitFor(
        async () => {
          const s = await service.getState(id);
          try {
            return predicate(s) ? s : undefined;
          } catch {
            return undefined; // e.g. the action the predicate looks at is not planned yet
          }
        },
        timeoutMs,
        what,
      ),
    stop: async () => {
      await worker.stop();
      await client.connection.close();
    },
  };
}

/** The action of a kind on a target. */
export function actionOf(
  s: IncidentState,
  kind: string,
  target: string,
  purpose: IncidentState['actions'][number]['purpose'] = kind.startsWith('un') ||
  kind === 'release_host' ||
  kind === 'enable_account'
    ? 'recovery'
    : 'containment',
) {
  const action = s.actions.find((a) => a.kind === kind && a.target === target && a.purpose === purpose);
  if (!action)
    throw new Error(
      `no ${purpose} action ${kind} on ${target} in ${JSON.stringify(s.actions.map((a) => [a.kind, a.target, a.state]))}`,
    );
  return action;
}

export function approvalFor(s: IncidentState, actionId: string) {
  const approval = s.approvals.find((a) => a.actionIds.includes(actionId) && a.state === 'pending');
  if (!approval) throw new Error(`no pending approval for ${actionId}`);
  return approval;
}
