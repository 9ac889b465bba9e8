import { Metadata, status } from '@grpc/grpc-js';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import {
  causes,
  isInvalidArgument,
  isNotFound,
  isResourceExhausted,
  isRunAlreadyCompleted,
  isTemporalUnavailable,
  isUpdateAbortedByContinueAsNew,
} from '../../src/temporal/errors';

/** A gRPC service error as @grpc/grpc-js raises it (code, details, metadata). */
function grpcError(code: status, details: string): Error {
  return Object.assign(new Error(`${code} ${status[code]}: ${details}`), {
    code,
    details,
    metadata: new Metadata(),
  });
}
const wrapped = (cause: unknown) => new WorkflowUpdateFailedError('Workflow Update failed', cause as Error);

describe('what a Temporal failure means', () => {
  it('unreachable: UNAVAILABLE or DEADLINE_EXCEEDED anywhere in the cause chain, or a connection never made', () => {
    expect(isTemporalUnavailable(grpcError(status.UNAVAILABLE, 'No connection established'))).toBe(true);
    expect(isTemporalUnavailable(wrapped(grpcError(status.DEADLINE_EXCEEDED, 'Deadline exceeded')))).toBe(
      true,
    );
    expect(isTemporalUnavailable(new Error('connect ECONNREFUSED 127.0.0.1:7233'))).toBe(true);
    expect(isTemporalUnavailable(new Error('14 UNAVAILABLE: failed to connect to all addresses'))).toBe(true);
    expect(isTemporalUnavailable(grpcError(status.NOT_FOUND, 'workflow not found'))).toBe(false);
    // A server that has just restarted answers this for a few seconds (seen in test/postgres/resilience).
    const namespaceMissing = Object.assign(
      grpcError(status.NOT_FOUND, 'Update-with-Start could not be executed.'),
      {
        message: 'Namespace default is not found.',
      },
    );
    expect(isTemporalUnavailable(namespaceMissing)).toBe(true);
    expect(
      isTemporalUnavailable(wrapped(grpcError(status.NOT_FOUND, 'Namespace quell-prod is not found.'))),
    ).toBe(true);
    expect(isNotFound(namespaceMissing)).toBe(false);
    expect(isTemporalUnavailable(new Error('something else'))).toBe(false);
  });

  it('overloaded, not found, invalid argument: by status code only', () => {
    expect(
      isResourceExhausted(
        wrapped(grpcError(status.RESOURCE_EXHAUSTED, 'Update-with-Start could not be executed')),
      ),
    ).toBe(true);
    expect(isResourceExhausted(new Error('RESOURCE_EXHAUSTED'))).toBe(false);
    expect(isNotFound(grpcError(status.NOT_FOUND, 'workflow execution not found'))).toBe(true);
    expect(isInvalidArgument(grpcError(status.INVALID_ARGUMENT, 'invalid page token'))).toBe(true);
    expect(isInvalidArgument(grpcError(status.UNKNOWN, 'something went wrong'))).toBe(false);
  });

  it('the texts the server gives without a distinct code: an update aborted by continue-as-new, a completed run', () => {
    // The server reports an update aborted by continue-as-new as UNAVAILABLE: it is a retry, not an outage.
    const aborted = wrapped(grpcError(status.UNAVAILABLE, 'Workflow Update was aborted.'));
    expect(isUpdateAbortedByContinueAsNew(aborted)).toBe(true);
    expect(isTemporalUnavailable(aborted)).toBe(true);
    expect(isUpdateAbortedByContinueAsNew(grpcError(status.UNAVAILABLE, 'connection reset'))).toBe(false);
    expect(isRunAlreadyCompleted(grpcError(status.NOT_FOUND, 'workflow execution already completed'))).toBe(
      true,
    );
    expect(isRunAlreadyCompleted(wrapped(new Error('Workflow continued as new')))).toBe(true);
    expect(isRunAlreadyCompleted(new Error('workflow is running'))).toBe(false);
  });

  it('reads at most ten causes (a cyclic chain cannot hang it)', () => {
    const a = new Error('a') as Error & { cause?: unknown };
    const b = new Error('b') as Error & { cause?: unknown };
    a.cause = b;
    b.cause = a;
    expect(causes(a)).toHaveLength(10);
  });
});
