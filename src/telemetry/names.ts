/**
 * The instrumentation scope of Quell's own spans (HTTP API, vendor calls, Temporal interceptors). Its own module:
 * the connectors name their tracer without loading the SDK that src/telemetry/tracing.ts registers.
 */
export const TRACER_NAME = 'quell';
