/**
 * The workflow bundle's only interceptor: it carries the trace context an incident was started or updated with
 * (the OpenTelemetry client interceptor's header) on to the activities it schedules, so each containment call
 * joins the trace of the alert or decision that led to it.
 *
 * It makes no spans and never awaits: each method hands `next`'s own promise back, so the workflow's commands
 * and their order are exactly those of the bundle without it. The SDK's OpenTelemetry workflow interceptors wrap
 * handlers in async spans, which reorders update completions against activity commands: Quell's recorded
 * histories fail to replay with them (and histories recorded with them fail without), so they are not used.
 */
import type { Payload } from '@temporalio/common';
import type { WorkflowInterceptorsFactory } from '@temporalio/workflow';

/** The header @temporalio/interceptors-opentelemetry carries a W3C trace context in (its TRACE_HEADER). */
export const TRACE_CONTEXT_HEADER = '_tracer-data';

type Headers = Record<string, Payload>;

export const interceptors: WorkflowInterceptorsFactory = () => {
  // Per workflow execution (the factory runs once for each); rebuilt from history on replay.
  let latest: Payload | undefined;
  const remember = (headers: Headers) => {
    latest = headers[TRACE_CONTEXT_HEADER] ?? latest;
  };
  const carried = (headers: Headers): Headers =>
    latest && !headers[TRACE_CONTEXT_HEADER] ? { ...headers, [TRACE_CONTEXT_HEADER]: latest } : headers;
  return {
    inbound: [
      {
        execute: (input, next) => {
          remember(input.headers);
          return next(input);
        },
        handleSignal: (input, next) => {
          remember(input.headers);
          return next(input);
        },
        handleUpdate: (input, next) => {
          remember(input.headers);
          return next(input);
        },
      },
    ],
    outbound: [
      {
        scheduleActivity: (input, next) => next({ ...input, headers: carried(input.headers) }),
        scheduleLocalActivity: (input, next) => next({ ...input, headers: carried(input.headers) }),
      },
    ],
  };
};
