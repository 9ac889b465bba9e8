import type { Logger } from '../src/logging';

export interface ActivityDeps {
  logger?: Logger;
}

/** Builds the activity implementations the worker registers, closed over their dependencies. */
export function createActivities(_deps: ActivityDeps) {
  return {};
}

export type IncidentActivities = ReturnType<typeof createActivities>;
