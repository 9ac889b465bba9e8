import { trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { ConfigError, loadConfig } from '../../src/config';
import { startTracing, tracingFromConfig } from '../../src/telemetry/tracing';

/**
 * Whether a span started through the global API records (false: the API's no-op, nothing registered). The probe
 * is never ended, so never exported.
 */
const globalTracerRecords = () => trace.getTracer('probe').startSpan('probe').isRecording();

describe('tracing configuration (the OpenTelemetry variables)', () => {
  it('is off without an endpoint: no settings, no provider, no interceptors', () => {
    const config = loadConfig({});
    expect(config.tracing).toBeUndefined();
    expect(tracingFromConfig(config.tracing, 'all-in-one')).toBeUndefined();
    expect(globalTracerRecords()).toBe(false);
  });

  it('exports to OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, or to OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given', () => {
    expect(loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318/' }).tracing).toEqual({
      tracesUrl: 'http://otel-collector:4318/v1/traces',
    });
    expect(
      loadConfig({
        OTEL_EXPORTER_OTLP_ENDPOINT: 'http://otel-collector:4318',
        OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'https://tempo.example.com/otlp/v1/traces',
        OTEL_SERVICE_NAME: 'quell-eu-1',
        OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
        OTEL_TRACES_SAMPLER_ARG: '0.25',
      }).tracing,
    ).toEqual({
      tracesUrl: 'https://tempo.example.com/otlp/v1/traces',
      serviceName: 'quell-eu-1',
      sampler: 'parentbased_traceidratio',
      samplerRatio: 0.25,
    });
  });

  it('OTEL_SDK_DISABLED=true turns it off even with an endpoint; empty variables are unset', () => {
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', OTEL_SDK_DISABLED: 'true' }).tracing,
    ).toBeUndefined();
    expect(
      loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: '', OTEL_TRACES_SAMPLER: '', OTEL_TRACES_SAMPLER_ARG: '' })
        .tracing,
    ).toBeUndefined();
  });

  it.each([
    ['OTEL_EXPORTER_OTLP_ENDPOINT', 'otel-collector:4318'],
    ['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT', 'grpc://otel-collector:4317'],
    ['OTEL_EXPORTER_OTLP_PROTOCOL', 'grpc'],
    ['OTEL_TRACES_SAMPLER', 'sometimes'],
    ['OTEL_TRACES_SAMPLER_ARG', '1.5'],
  ])('refuses %s=%s with a ConfigError naming the variable', (name, value) => {
    const load = () => loadConfig({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318', [name]: value });
    expect(load).toThrow(ConfigError);
    expect(load).toThrow(new RegExp(`^\\s+${name}: `, 'm'));
  });
});

describe('the tracer provider', () => {
  it('names the service by the process role unless OTEL_SERVICE_NAME does, and unregisters on shutdown', async () => {
    const settings = { tracesUrl: 'http://127.0.0.1:1/v1/traces' };
    for (const [role, name] of [
      ['all-in-one', 'quell'],
      ['api', 'quell-api'],
      ['worker', 'quell-worker'],
    ] as const) {
      const tracing = tracingFromConfig(settings, role)!;
      expect(tracing.serviceName).toBe(name);
      expect(globalTracerRecords()).toBe(true);
      await tracing.shutdown();
      expect(globalTracerRecords()).toBe(false);
    }
    const named = tracingFromConfig({ ...settings, serviceName: 'quell-eu-1' }, 'api')!;
    expect(named.serviceName).toBe('quell-eu-1');
    await named.shutdown();
  });

  it('keeps what the sampler keeps: always_off records nothing, the default keeps every root span', async () => {
    const dropped = new InMemorySpanExporter();
    const off = startTracing({
      serviceName: 'quell-test',
      sampler: 'always_off',
      exportTo: { spanProcessor: new SimpleSpanProcessor(dropped) },
    });
    off.tracer.startSpan('dropped').end();
    expect(dropped.getFinishedSpans()).toEqual([]);
    await off.shutdown();
    const exporter = new InMemorySpanExporter();
    const on = startTracing({
      serviceName: 'quell-test',
      exportTo: { spanProcessor: new SimpleSpanProcessor(exporter) },
    });
    on.tracer.startSpan('kept').end();
    expect(exporter.getFinishedSpans().map((s) => [s.name, s.resource.attributes['service.name']])).toEqual([
      ['kept', 'quell-test'],
    ]);
    await on.shutdown();
  });
});
