/**
 * The connector floors' activities: each calls one of Quell's connectors directly with the request Quell's
 * activity would make (same idempotency key shapes, same evidence request), and nothing else of Quell's
 * activities layer: no mapping of connector errors onto typed failures (a failure is retried by the floor's
 * policy), no log line. The snapshot beats as Quell's does while it runs (only a slow one does), since its
 * activity has Quell's heartbeat timeout.
 */
import os from 'node:os';
import { activityInfo, Context } from '@temporalio/activity';
import { EVIDENCE_HEARTBEAT_EVERY_MS } from '../../src/contracts';
import type { Connectors } from '../../src/connectors/types';
import type { FloorConnectorActivities } from './contract';

export interface FloorConnectorDeps {
  connectors: Connectors;
  /** Called once a notice is delivered, with its incident ID (the floor's workflow ID). */
  noticeSent?: (incidentId: string) => void;
}

/** The activities the connector floors' worker registers. */
export function createFloorConnectorActivities(deps: FloorConnectorDeps): FloorConnectorActivities {
  const { connectors } = deps;
  const collector = `floor-worker@${os.hostname()}`;
  return {
    isolateHost: (input) =>
      connectors.edr.isolateHost(input.target, {
        idempotencyKey: `${input.incidentId}:${input.actionId}`,
        incidentId: input.incidentId,
        comment: input.comment,
      }),
    async notifyStakeholders(input) {
      const result = await connectors.notifier.send(input);
      deps.noticeSent?.(input.incidentId);
      return { delivered: result.delivered, ...(result.vendorRef ? { vendorRef: result.vendorRef } : {}) };
    },
    async snapshotLogs(input) {
      const activity = Context.current();
      const beating = setInterval(() => activity.heartbeat(), EVIDENCE_HEARTBEAT_EVERY_MS);
      try {
        const logs = await connectors.logs.readHostLogs({ host: input.host, from: input.from, to: input.to });
        const record = await connectors.evidence.put({
          incidentId: input.incidentId,
          name: `logs:${input.host}`,
          content: logs.content,
          collectedBy: `${collector} (activity snapshotLogs, attempt ${activityInfo().attempt})`,
          source: logs.source,
          subject: input.host,
          window: { from: input.from, to: input.to },
          idempotencyKey: input.idempotencyKey,
        });
        const { custody: _custody, incidentId: _incidentId, ...summary } = record;
        return summary;
      } finally {
        clearInterval(beating);
      }
    },
  };
}
