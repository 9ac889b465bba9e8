/**
 * OpenTelemetry tracing: one trace from an alert's `POST /api/v1/alerts` through the Temporal client call and the
 * incident's activities to the vendor's HTTP API. Off unless an OTLP endpoint is configured (QuellConfig.tracing):
 * then no provider is registered and no client or activity interceptor is installed.
 *
 * No spans are made inside workflows: the SDK's workflow interceptors change the order of the workflow's commands
 * (see workflows/trace-context.ts, which carries the trace context across instead).
 */
import { context, propagation, trace, type Tracer } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-proto';
import { Resource } from '@opentelemetry/resources';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  TraceIdRatioBasedSampler,
  type Sampler,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import type { ClientInterceptors } from '@temporalio/client';
import {
  OpenTelemetryActivityInboundInterceptor,
  OpenTelemetryActivityOutboundInterceptor,
  OpenTelemetryWorkflowClientInterceptor,
} from '@temporalio/interceptors-opentelemetry';
import type { ActivityInterceptorsFactory } from '@temporalio/worker';
import type { TraceSampler, TracingSettings } from '../config';
import { TRACER_NAME } from './names';

/** What a process is, for its default service name (OTEL_SERVICE_NAME overrides it). */
export type ProcessRole = 'all-in-one' | 'api' | 'worker';

const DEFAULT_SERVICE_NAMES: Record<ProcessRole, string> = {
  'all-in-one': 'quell',
  api: 'quell-api',
  worker: 'quell-worker',
};

export interface TracingOptions {
  serviceName: string;
  sampler?: TraceSampler;
  samplerRatio?: number;
  /** The OTLP/HTTP traces URL (batched export), or a processor of the caller's (a test's in-memory exporter). */
  exportTo: { tracesUrl: string } | { spanProcessor: SpanProcessor };
}

/** A registered tracer provider and the Temporal interceptors that report to it. */
export interface Tracing {
  readonly serviceName: string;
  readonly tracer: Tracer;
  /** For the Temporal client the API uses: spans for StartWorkflow, UpdateWithStart, signals and queries. */
  clientInterceptors(): ClientInterceptors;
  /** For the worker: a RunActivity span per activity, child of the context the workflow carried to it. */
  activityInterceptors(): ActivityInterceptorsFactory[];
  /** Exports what is still buffered, then unregisters the provider; called last on shutdown. */
  shutdown(): Promise<void>;
}

/** Tracing as configured, for a process in `role`; undefined (nothing registered) when tracing is off. */
export function tracingFromConfig(
  settings: TracingSettings | undefined,
  role: ProcessRole,
): Tracing | undefined {
  if (!settings) return undefined;
  return startTracing({
    serviceName: settings.serviceName ?? DEFAULT_SERVICE_NAMES[role],
    ...(settings.sampler ? { sampler: settings.sampler } : {}),
    ...(settings.samplerRatio !== undefined ? { samplerRatio: settings.samplerRatio } : {}),
    exportTo: { tracesUrl: settings.tracesUrl },
  });
}

function samplerFor(name: TraceSampler | undefined, ratio = 1): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
    case 'parentbased_always_on':
    case undefined:
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
  }
}

/**
 * Registers a tracer provider process-wide (the OpenTelemetry API's globals: the Temporal interceptors and the
 * connectors' HTTP client find it there), with AsyncLocalStorage context and W3C trace-context propagation.
 */
export function startTracing(opts: TracingOptions): Tracing {
  const resource = Resource.default().merge(new Resource({ 'service.name': opts.serviceName }));
  const spanProcessor =
    'spanProcessor' in opts.exportTo
      ? opts.exportTo.spanProcessor
      : // Headers (OTEL_EXPORTER_OTLP_HEADERS), timeout and compression come from the exporter's own variables.
        new BatchSpanProcessor(new OTLPTraceExporter({ url: opts.exportTo.tracesUrl }));
  const provider = new BasicTracerProvider({
    resource,
    sampler: samplerFor(opts.sampler, opts.samplerRatio),
    spanProcessors: [spanProcessor],
  });
  provider.register({
    contextManager: new AsyncLocalStorageContextManager(),
    propagator: new CompositePropagator({
      propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()],
    }),
  });
  const tracer = trace.getTracer(TRACER_NAME);
  let stopped: Promise<void> | undefined;
  return {
    serviceName: opts.serviceName,
    tracer,
    clientInterceptors: () => ({ workflow: [new OpenTelemetryWorkflowClientInterceptor({ tracer })] }),
    activityInterceptors: () => [
      (ctx) => ({
        inbound: new OpenTelemetryActivityInboundInterceptor(ctx, { tracer }),
        outbound: new OpenTelemetryActivityOutboundInterceptor(ctx),
      }),
    ],
    shutdown: () =>
      (stopped ??= provider.shutdown().finally(() => {
        trace.disable();
        propagation.disable();
        context.disable();
      })),
  };
}
