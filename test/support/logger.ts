import { DefaultLogger } from '@temporalio/worker';
import pino from 'pino';

/** SDK logs at WARN and above only, so test output stays readable. */
export function quietSdkLogger(): DefaultLogger {
  return new DefaultLogger('WARN');
}

/** A pino logger for code under test: silent unless QUELL_TEST_LOG_LEVEL asks otherwise. */
export function testLogger(): pino.Logger {
  return pino({ level: process.env.QUELL_TEST_LOG_LEVEL ?? 'silent' });
}
