/** The EDR's response actions, or a permanent error naming the vendor that has none. */
import { UnsupportedActionError } from '../../connectors/errors';
import type { Connectors, EdrResponseActions } from '../../connectors/types';

export function responseActionsOf(c: Connectors, action: string): EdrResponseActions {
  if (!c.edr.responseActions)
    throw new UnsupportedActionError(`${c.edr.vendor} offers no response actions (${action})`, {
      vendor: c.edr.vendor,
    });
  return c.edr.responseActions;
}
