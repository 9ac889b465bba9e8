import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';

/** SDK logs at ERROR only (activity retries log WARN by the hundred in drills); QUELL_TEST_SDK_LOG_LEVEL=WARN shows them. */
export function quietSdkLogger(): DefaultLogger {
  return new DefaultLogger((process.env.QUELL_TEST_SDK_LOG_LEVEL as 'WARN' | undefined) ?? 'ERROR');
}

/** A pino logger for code under test: silent unless QUELL_TEST_LOG_LEVEL asks otherwise. */
export function testLogger(): pino.Logger {
  return pino({ level: process.env.QUELL_TEST_LOG_LEVEL ?? 'silent' });
}
