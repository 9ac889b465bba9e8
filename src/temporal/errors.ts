/**
 * What a Temporal client call's failure means, in one place: unreachable, overloaded, an update the server
 * aborted because its run continued as new, a run that already completed. Classified by gRPC status where the
 * server gives one; where it gives only a message (the SDK wraps some of them), by named predicates over the
 * message that the tests in test/unit/temporal-errors.test.ts hold against real texts.
 */
import { status as GrpcStatus } from '@grpc/grpc-js';
import { isGrpcServiceError } from '@temporalio/client';

/** The error and its causes, outermost first (at most ten). */
export function causes(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e: unknown = err; e && chain.length < 10; e = (e as { cause?: unknown }).cause) chain.push(e);
  return chain;
}

const messageOf = (e: unknown) => (e instanceof Error ? e.message : '');
const anyCause = (err: unknown, test: (e: unknown) => boolean) => causes(err).some(test);

const UNAVAILABLE_CODES = new Set<number>([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED]);
/** Node's and grpc-js's texts for a connection that was never made. */
const CONNECTION_FAILED = /Connection refused|ECONNREFUSED|failed to connect|No connection established/i;

/** The server's text for a namespace it does not know ("Namespace default is not found."). */
const NAMESPACE_NOT_FOUND = /namespace \S+ is not found/i;

/**
 * The server does not know the namespace: it was never created, or (what a restart shows for a few seconds)
 * the server has not loaded its namespaces yet. Not a missing incident: a 503, never a 404.
 */
export function isNamespaceNotFound(err: unknown): boolean {
  return anyCause(
    err,
    (e) => isGrpcServiceError(e) && e.code === GrpcStatus.NOT_FOUND && NAMESPACE_NOT_FOUND.test(messageOf(e)),
  );
}

/**
 * Temporal cannot be reached, did not answer in time, or cannot serve the namespace yet: the caller should
 * retry later.
 */
export function isTemporalUnavailable(err: unknown): boolean {
  return (
    anyCause(
      err,
      (e) => (isGrpcServiceError(e) && UNAVAILABLE_CODES.has(e.code)) || CONNECTION_FAILED.test(messageOf(e)),
    ) || isNamespaceNotFound(err)
  );
}

/** The server refused for load (too many updates in flight on one workflow, rate limits): retry shortly. */
export function isResourceExhausted(err: unknown): boolean {
  return anyCause(err, (e) => isGrpcServiceError(e) && e.code === GrpcStatus.RESOURCE_EXHAUSTED);
}

/**
 * The server aborted an update because its run continued as new (it reports this as UNAVAILABLE): the
 * workflow is fine and its next run takes the update, so this is a retry, not an outage.
 */
export function isUpdateAbortedByContinueAsNew(err: unknown): boolean {
  return anyCause(err, (e) => /update was aborted/i.test(messageOf(e)));
}

/** The run the call addressed has completed or continued as new: address the workflow's current run. */
export function isRunAlreadyCompleted(err: unknown): boolean {
  return anyCause(err, (e) => /continued as new|workflow execution already completed/i.test(messageOf(e)));
}

/** Temporal refused a request argument (e.g. a page token it did not issue). */
export function isInvalidArgument(err: unknown): boolean {
  return anyCause(err, (e) => isGrpcServiceError(e) && e.code === GrpcStatus.INVALID_ARGUMENT);
}

/** No such workflow or run (a namespace the server does not know is {@link isNamespaceNotFound}). */
export function isNotFound(err: unknown): boolean {
  return (
    !isNamespaceNotFound(err) &&
    anyCause(err, (e) => isGrpcServiceError(e) && e.code === GrpcStatus.NOT_FOUND)
  );
}
