import { SharedLivenessProbe, type WorkerLiveness } from '../../src/temporal/worker-liveness';

describe('SharedLivenessProbe (one liveness answer for every waiting intake call)', () => {
  const answer = (live: number): WorkerLiveness => ({ live, source: 'heartbeats' });

  it('asks Temporal once for any number of callers within the window, and again once it is stale', async () => {
    let now = 0;
    let probes = 0;
    const shared = new SharedLivenessProbe(
      async () => {
        probes++;
        return answer(probes);
      },
      2_500,
      () => now,
    );
    const first = await Promise.all(Array.from({ length: 200 }, () => shared.liveness()));
    expect(probes).toBe(1);
    expect(new Set(first.map((a) => a.live))).toEqual(new Set([1]));
    now = 2_499;
    expect((await shared.liveness()).live).toBe(1);
    now = 2_500;
    expect((await shared.liveness()).live).toBe(2);
    expect(probes).toBe(2);
  });

  it('does not keep a failed probe: the next caller asks again', async () => {
    let fail = true;
    let probes = 0;
    const shared = new SharedLivenessProbe(
      async () => {
        probes++;
        if (fail) throw new Error('UNAVAILABLE');
        return answer(1);
      },
      2_500,
      () => 0,
    );
    await expect(shared.liveness()).rejects.toThrow('UNAVAILABLE');
    fail = false;
    await expect(shared.liveness()).resolves.toEqual(answer(1));
    expect(probes).toBe(2);
  });
});
