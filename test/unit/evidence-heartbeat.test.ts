import { MockActivityEnvironment } from '@temporalio/testing';
import { createActivities } from '../../activities';
import type { Connectors } from '../../src/connectors/types';
import { EVIDENCE_HEARTBEAT_EVERY_MS, EVIDENCE_HEARTBEAT_TIMEOUT_MS } from '../../src/contracts';

const input = {
  incidentId: 'INC-0123456789abcdef-abcdef',
  host: 'ws-1',
  from: '2026-12-01T10:00:00.000Z',
  to: '2026-12-01T10:02:00.000Z',
  idempotencyKey: 'INC-0123456789abcdef-abcdef:logs:ws-1',
};

/** Connectors whose log read takes `readMs` (on the fake clock) and whose store answers at once. */
function connectorsReadingFor(readMs: number): Connectors {
  return {
    logs: {
      readHostLogs: () =>
        new Promise((resolve) =>
          setTimeout(() => resolve({ content: 'log line\n', source: 'lab siem' }), readMs),
        ),
    },
    evidence: {
      put: async (req: { name: string; subject: string; incidentId: string }) => ({
        evidenceId: 'ev-1',
        name: req.name,
        subject: req.subject,
        sha256: '0'.repeat(64),
        sizeBytes: 9,
        location: 'file:/tmp/ev-1',
        collectedBy: 'test',
        collectedAt: input.to,
        timeZone: 'UTC',
        source: 'lab siem',
      }),
    },
  } as unknown as Connectors;
}

async function heartbeatsDuring(readMs: number): Promise<unknown[]> {
  const env = new MockActivityEnvironment();
  const beats: unknown[] = [];
  env.on('heartbeat', (d: unknown) => beats.push(d));
  const activities = createActivities({ connectors: connectorsReadingFor(readMs), workerIdentity: 'w' });
  const running = env.run((i: typeof input) => activities.snapshotLogs(i), input);
  await jest.advanceTimersByTimeAsync(readMs + 1);
  await running;
  // Nothing beats after the activity returned.
  const after = beats.length;
  await jest.advanceTimersByTimeAsync(EVIDENCE_HEARTBEAT_TIMEOUT_MS * 2);
  expect(beats).toHaveLength(after);
  return beats;
}

describe('snapshotLogs heartbeats (heartbeat timeout 1 min)', () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it('a quick snapshot costs no heartbeat call', async () => {
    expect(await heartbeatsDuring(50)).toEqual([]);
  });

  it('a log read slower than the heartbeat timeout keeps beating, so it is not timed out', async () => {
    const beats = await heartbeatsDuring(EVIDENCE_HEARTBEAT_TIMEOUT_MS * 2.5);
    expect(beats.length).toBe(
      Math.floor((EVIDENCE_HEARTBEAT_TIMEOUT_MS * 2.5) / EVIDENCE_HEARTBEAT_EVERY_MS),
    );
    expect(new Set(beats)).toEqual(new Set(['reading logs']));
  });
});
