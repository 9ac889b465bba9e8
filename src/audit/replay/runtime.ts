/** The quiet Temporal runtime replays run under, in this process and in every replay process. */
import { Runtime } from '@temporalio/worker';

let quietRuntime = false;

/**
 * Installs a Temporal runtime that keeps the SDK quiet (replay failures are reported by this module, so the
 * SDK's own warnings would only garble the progress bar). A no-op when a runtime is already installed.
 */
export function installQuietRuntime(): void {
  if (quietRuntime) return;
  quietRuntime = true;
  const silent = () => undefined;
  try {
    Runtime.install({
      logger: { log: silent, trace: silent, debug: silent, info: silent, warn: silent, error: silent },
      telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, forward: {} } },
    });
  } catch {
    // Already installed in this process: keep it.
  }
}
