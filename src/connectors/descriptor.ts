import type { Logger } from 'pino';
import { z } from 'zod';
import type { AllowList } from './http';

// ---------------------------------------------------------------------------------------------------------
// Values read from the environment
// ---------------------------------------------------------------------------------------------------------

/** A variable that may be unset; blank counts as unset, and the value is trimmed. */
export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

function isLoopback(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

/**
 * Why a URL is refused, or undefined when it is an http(s) URL without credentials; plain http only to
 * loopback (credentials never cross a network in clear text).
 */
export function checkUrl(v: string): string | undefined {
  let u: URL;
  try {
    u = new URL(v);
  } catch {
    return 'must be an absolute URL';
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return 'must be an http(s) URL';
  if (u.protocol === 'http:' && !isLoopback(u.hostname))
    return 'must use https (http is allowed for loopback only)';
  if (u.username || u.password) return 'must not contain credentials';
  return undefined;
}

/** A URL that {@link checkUrl} accepts. */
export const url = z.string().superRefine((v, ctx) => {
  const problem = checkUrl(v);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});
export const optionalUrl = optionalString.pipe(url.optional());

/** The name of an environment variable (where a notification route says a secret is). */
export const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');

/** A URL's origin for the banner (never its path, which may carry a secret), or a placeholder. */
export function origin(u: string): string {
  try {
    return new URL(u).origin;
  } catch {
    return '(invalid URL)';
  }
}

// ---------------------------------------------------------------------------------------------------------
// Vendors of a capability (EDR, identity, firewall, logs)
// ---------------------------------------------------------------------------------------------------------

/** What a vendor's `resolve` may use besides its own variables. */
export interface ResolveContext<E> {
  /** The lab estate's base URL, without a trailing slash. */
  readonly labUrl: string;
  /** The selection being resolved, e.g. `QUELL_EDR=crowdstrike` (for messages). */
  readonly selection: string;
  /** The variable's value; when it is unset, reports it as required for this selection and returns ''. */
  need(name: keyof E & string): string;
  /** A URL assembled from variables (a token URL with its tenant, say), reported under `name` if refused. */
  checkedUrl(name: keyof E & string, value: string): string;
  /** Reports one problem; resolution goes on, so that one error names every problem at once. */
  problem(subject: string, message: string): void;
}

/** What every connector is built with besides its own settings. */
export interface BuildContext {
  allowList: AllowList;
  timeoutMs: number;
  logger?: Logger;
}

/**
 * One vendor of one capability, declared beside its connector and registered in that capability's table
 * (`registry.ts`). The configuration loops over the tables: a vendor is selected by the capability's variable
 * (`QUELL_EDR=<key>`), resolved from its variables, put on the allow-list, built and described.
 */
export interface VendorDescriptor<C, S extends z.ZodRawShape, R extends object> {
  /**
   * The variables this vendor reads, with their parsing. Every registered vendor's variables are parsed,
   * whichever is selected: a malformed value is refused even while another vendor is in use.
   */
  env: S;
  /** Those of its variables that hold secrets: they never reach the banner and have no default. */
  secrets: readonly string[];
  /** The lab estate: whoever runs Quell must then run the lab too (unless QUELL_LAB_URL points at one). */
  lab?: true;
  /** Its settings, from its variables; problems go to `ctx` (never thrown) so all are reported together. */
  resolve(env: z.output<z.ZodObject<S>>, ctx: ResolveContext<z.output<z.ZodObject<S>>>): R;
  /** The URLs its connector calls: they go on the outbound allow-list. */
  endpoints(settings: R): string[];
  build(settings: R, ctx: BuildContext): C;
  /** One line for the start banner: the vendor and its endpoints (origins only), never a secret. */
  describe(settings: R): string;
}

/** Declares a vendor (the identity function: it lets TypeScript infer the descriptor's types). */
export function defineVendor<C, S extends z.ZodRawShape, R extends object>(
  d: VendorDescriptor<C, S, R> & { secrets: readonly (keyof S & string)[] },
): VendorDescriptor<C, S, R> {
  return d;
}

/**
 * The lab estate through a vendor's contract: its connector pointed at `<labUrl><prefix>` with the lab's
 * credentials, nothing to configure.
 */
export function defineLabVendor<C>(
  prefix: string,
  d: Pick<VendorDescriptor<C, Record<never, never>, { baseUrl: string }>, 'build' | 'describe'>,
): VendorDescriptor<C, Record<never, never>, { baseUrl: string }> {
  return {
    env: {},
    secrets: [],
    lab: true,
    resolve: (_e, ctx) => ({ baseUrl: `${ctx.labUrl}${prefix}` }),
    endpoints: () => [],
    ...d,
  };
}

/** The settings a vendor resolves to. */
export type SettingsOf<D> = D extends VendorDescriptor<unknown, z.ZodRawShape, infer R> ? R : never;
