/**
 * What a request's stages leave for the later ones in `res.locals`: the matched route (for metrics and the
 * access log), the verified caller and the validated params and query.
 */
import type { Response } from 'express';
import type { Actor } from '../domain/incident';

export interface Validated {
  params?: unknown;
  query?: unknown;
}
export const validated = (res: Response): Validated => {
  const locals = res.locals as { valid?: Validated };
  locals.valid ??= {};
  return locals.valid;
};
export const routeOf = (res: Response): string | undefined => (res.locals as { route?: string }).route;
export const actorOrUndefined = (res: Response): Actor | undefined => (res.locals as { actor?: Actor }).actor;
export const markRoute = (res: Response, route: string): void => {
  (res.locals as { route?: string }).route = route;
};
