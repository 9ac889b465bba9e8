import { UpdateGate } from '../../src/incidents/update-gate';

const tick = () => new Promise((r) => setImmediate(r));

describe('UpdateGate: at most N updates in flight per incident, first come first served', () => {
  it('holds the ninth call on one incident until a slot frees, and lets other incidents through', async () => {
    const gate = new UpdateGate(8);
    const release: (() => void)[] = [];
    const started: string[] = [];
    const calls = Array.from({ length: 10 }, (_, i) =>
      gate.run('INC-a', async () => {
        started.push(`a${i}`);
        await new Promise<void>((r) => release.push(r));
        return i;
      }),
    );
    const other = gate.run('INC-b', async () => 'b');
    await tick();
    expect(started).toEqual(['a0', 'a1', 'a2', 'a3', 'a4', 'a5', 'a6', 'a7']);
    await expect(other).resolves.toBe('b');

    release[3]!();
    await tick();
    await tick();
    expect(started).toHaveLength(9);
    expect(started[8]).toBe('a8');
    // Releasing every call lets the tenth start, once a slot is free, and finish in turn.
    while (started.length < 10) {
      for (const r of release.splice(0)) r();
      await tick();
    }
    for (const r of release.splice(0)) r();
    await expect(Promise.all(calls)).resolves.toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('frees the slot of a call that throws', async () => {
    const gate = new UpdateGate(1);
    await expect(gate.run('INC-a', () => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    await expect(gate.run('INC-a', async () => 'next')).resolves.toBe('next');
  });
});
