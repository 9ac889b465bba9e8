import type { NormalizedAlert } from '../../src/domain/alert';
import { recordAlerts } from '../../src/incidents/batch';
import { IncidentBusyError, NoWorkerError } from '../../src/incidents/errors';
import type { IngestResult } from '../../src/incidents/types';

const alert = (id: string) => ({ sourceAlertId: id }) as NormalizedAlert;
const receipt = (a: NormalizedAlert): IngestResult => ({
  incidentId: 'INC-0000000000000000-000000',
  workflowId: 'quell-incident-0000000000000000',
  playbookId: 'default',
  alertId: a.sourceAlertId,
  deduplicated: false,
  alertCount: 1,
  severity: 'high',
});

describe('recordAlerts', () => {
  it('keeps at most `concurrency` alerts in flight and answers in order', async () => {
    let inFlight = 0;
    let peak = 0;
    const outcomes = await recordAlerts(
      {
        ingestAlert: async (a) => {
          peak = Math.max(peak, ++inFlight);
          await new Promise((r) => setTimeout(r, Number(a.sourceAlertId) % 3));
          inFlight--;
          return receipt(a);
        },
      },
      Array.from({ length: 40 }, (_, i) => alert(String(i))),
      'siem',
      { concurrency: 5 },
    );
    expect(peak).toBe(5);
    expect(outcomes.map((o) => (o.ok ? o.result.alertId : undefined))).toEqual(
      Array.from({ length: 40 }, (_, i) => String(i)),
    );
  });

  it('a busy incident fails its alert only; an outage stops sending the rest', async () => {
    const busy = await recordAlerts(
      {
        ingestAlert: async (a) => {
          if (a.sourceAlertId === '1') throw new IncidentBusyError('incident is still closing', 30);
          return receipt(a);
        },
      },
      [alert('0'), alert('1'), alert('2')],
      'siem',
      { concurrency: 1 },
    );
    expect(busy.map((o) => o.ok)).toEqual([true, false, true]);

    const sent: string[] = [];
    const outage = await recordAlerts(
      {
        ingestAlert: async (a) => {
          sent.push(a.sourceAlertId);
          if (a.sourceAlertId === '1') throw new NoWorkerError('no worker');
          return receipt(a);
        },
      },
      [alert('0'), alert('1'), alert('2'), alert('3')],
      'siem',
      { concurrency: 1 },
    );
    expect(sent).toEqual(['0', '1']);
    expect(outage.map((o) => (o.ok ? 'ok' : o.attempted ? 'failed' : 'not sent'))).toEqual([
      'ok',
      'failed',
      'not sent',
      'not sent',
    ]);
  });
});
