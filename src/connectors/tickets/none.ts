import type { VendorDescriptor } from '../descriptor';
import type { TicketSystem } from './types';

/** `QUELL_TICKETS=none` (the default): no ticket sync; nothing is built and nothing is allowed out. */
export const noTickets: VendorDescriptor<TicketSystem | undefined, Record<never, never>, object> = {
  env: {},
  secrets: [],
  resolve: () => ({}),
  endpoints: () => [],
  build: () => undefined,
  describe: () => 'off',
};
