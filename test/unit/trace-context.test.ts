import type { Payload } from '@temporalio/common';
import type {
  ActivityInput,
  UpdateInput,
  WorkflowExecuteInput,
  WorkflowInboundCallsInterceptor,
  WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import { interceptors, TRACE_CONTEXT_HEADER } from '../../workflows/trace-context';

const payload = (text: string): Payload => ({ data: Buffer.from(text) });

describe('the workflow trace-context interceptor', () => {
  const setup = () => {
    const made = interceptors();
    return {
      inbound: (made.inbound as WorkflowInboundCallsInterceptor[])[0]!,
      outbound: (made.outbound as WorkflowOutboundCallsInterceptor[])[0]!,
    };
  };
  const activity = (headers: Record<string, Payload> = {}) => ({ headers }) as unknown as ActivityInput;

  it("hands back next's own promise: no await, so no change to the order of the workflow's commands", () => {
    const { inbound, outbound } = setup();
    const result = Promise.resolve('done');
    expect(inbound.execute!({ headers: {} } as unknown as WorkflowExecuteInput, () => result)).toBe(result);
    expect(inbound.handleUpdate!({ headers: {} } as unknown as UpdateInput, () => result)).toBe(result);
    const scheduled = Promise.resolve(1);
    expect(outbound.scheduleActivity!(activity(), () => scheduled)).toBe(scheduled);
  });

  it('carries the context of the last start or update to the activities scheduled after it', () => {
    const { inbound, outbound } = setup();
    const sent: ActivityInput[] = [];
    const schedule = (input = activity()) =>
      outbound.scheduleActivity!(input, (i) => {
        sent.push(i);
        return Promise.resolve(undefined);
      });
    void schedule();
    void inbound.execute!(
      { headers: { [TRACE_CONTEXT_HEADER]: payload('alert-1') } } as unknown as WorkflowExecuteInput,
      () => Promise.resolve(undefined),
    );
    void schedule();
    void inbound.handleUpdate!(
      { headers: { [TRACE_CONTEXT_HEADER]: payload('approval') } } as unknown as UpdateInput,
      () => Promise.resolve(undefined),
    );
    // An update without a context (tracing off at the caller) leaves the last one in place.
    void inbound.handleUpdate!({ headers: {} } as unknown as UpdateInput, () => Promise.resolve(undefined));
    void schedule();
    void schedule(activity({ [TRACE_CONTEXT_HEADER]: payload('own') }));
    expect(sent.map((i) => i.headers[TRACE_CONTEXT_HEADER]?.data?.toString())).toEqual([
      undefined,
      'alert-1',
      'approval',
      'own',
    ]);
  });
});
