/**
 * The lab estate in a process of its own (forked by lab-process.ts), so the CPU it spends answering Quell's
 * vendor calls is not counted as Quell's. It reports, over IPC, each containment that takes effect and each
 * notice received, stamped on the shared wall-clock timeline (`performance.timeOrigin + performance.now()`).
 */
import { startLabServer } from '../../src/connectors/lab';
import type { LabChildMessage } from './lab-process';

function send(m: LabChildMessage): void {
  process.send?.(m);
}

async function main(): Promise<void> {
  const lab = await startLabServer({ port: 0 });
  const store = lab.store;
  const setContainment = store.setContainment.bind(store);
  store.setContainment = (host, want, meta) => {
    const changed = setContainment(host, want, meta);
    if (changed && want === 'contain')
      send({ type: 'contained', host: host.name, at: performance.timeOrigin + performance.now() });
    return changed;
  };
  const addMessage = store.addMessage.bind(store);
  store.addMessage = (m) => {
    send({ type: 'message', channel: m.channel });
    return addMessage(m);
  };
  process.on('message', (m: { type?: string }) => {
    if (m.type === 'stop') void lab.stop().then(() => process.exit(0));
  });
  // The parent's death ends the lab too (the IPC channel closes).
  process.on('disconnect', () => void lab.stop().then(() => process.exit(0)));
  send({ type: 'ready', url: lab.url, pid: process.pid });
}

main().catch((err: unknown) => {
  process.stderr.write(`lab: ${String(err)}\n`);
  process.exit(1);
});
