import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

/** Paths redacted from every log line: tokens and secrets never reach the logs. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-quell-signature"]',
  'req.headers.cookie',
  'headers.authorization',
  '*.token',
  '*.apiKey',
  '*.secret',
  '*.password',
  // Temporal connection settings: gRPC metadata often carries credentials, an inline client key is one.
  '*.grpcMeta',
  '*.clientKey',
];

/** pino-pretty is a development dependency: an image (production dependencies only) logs JSON lines. */
function hasPinoPretty(): boolean {
  try {
    require.resolve('pino-pretty');
    return true;
  } catch {
    return false;
  }
}

/** Creates Quell's root logger: JSON lines, or pretty lines when attached to a terminal. */
export function createLogger(level: LoggerOptions['level'] = 'info', name = 'quell'): Logger {
  const pretty =
    process.stdout.isTTY &&
    process.env.NODE_ENV !== 'production' &&
    !process.env.QUELL_LOG_JSON &&
    hasPinoPretty();
  return pino({
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    timestamp: pino.stdTimeFunctions.isoTime,
    ...(pretty
      ? {
          transport: {
            target: 'pino-pretty',
            options: { colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' },
          },
        }
      : {}),
  });
}
