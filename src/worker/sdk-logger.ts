import type { LogLevel, LogMetadata, Logger as SdkLogger } from '@temporalio/worker';
import type { Logger } from '../logging';

/**
 * Routes the Temporal SDK's logs (worker lifecycle, workflow and activity `log` calls) into pino. The SDK's
 * own chatter (bundler output, state changes) is demoted to debug so a running Quell prints what matters.
 */
export function pinoSdkLogger(logger: Logger): SdkLogger {
  const write = (level: LogLevel, message: string, meta?: LogMetadata) => {
    const component: unknown = meta?.sdkComponent;
    const fromUserCode = component === 'workflow' || component === 'activity';
    switch (level) {
      case 'TRACE':
        logger.trace(meta ?? {}, message);
        break;
      case 'DEBUG':
        logger.debug(meta ?? {}, message);
        break;
      case 'INFO':
        if (fromUserCode) logger.info(meta ?? {}, message);
        else logger.debug(meta ?? {}, message);
        break;
      case 'WARN':
        logger.warn(meta ?? {}, message);
        break;
      case 'ERROR':
        logger.error(meta ?? {}, message);
        break;
    }
  };
  return {
    log: write,
    trace: (m, meta) => write('TRACE', m, meta),
    debug: (m, meta) => write('DEBUG', m, meta),
    info: (m, meta) => write('INFO', m, meta),
    warn: (m, meta) => write('WARN', m, meta),
    error: (m, meta) => write('ERROR', m, meta),
  };
}
