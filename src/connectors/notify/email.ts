import nodemailer, { type Transporter } from 'nodemailer';
import type SMTPTransport from 'nodemailer/lib/smtp-transport';
import { z } from 'zod';
import { envName } from '../descriptor';
import {
  ConnectorAuthError,
  type ConnectorError,
  PermanentConnectorError,
  TransientConnectorError,
} from '../errors';
import { multiLine } from '../../domain/untrusted-text';
import type { Notification } from '../types';
import { sha256Hex, truncate } from '../util';
import { defineChannel, type NotificationChannel, plainLine } from './channel';

export interface EmailOptions {
  host: string;
  /** Default 587 (submission). */
  port?: number;
  /** Implicit TLS from the first byte (port 465). Default false: plain connect, then STARTTLS. */
  secure?: boolean;
  /** Refuse to send unless STARTTLS succeeds. Default true when not `secure`. */
  requireTLS?: boolean;
  /** SMTP AUTH; both from the environment, or neither. */
  user?: string;
  password?: string;
  from: string;
  to: string[];
  /** Verify the server certificate (default true; false only for lab servers with self-signed certs). */
  rejectUnauthorized?: boolean;
  /** Connection, greeting and socket timeouts; default 10 s. */
  timeoutMs?: number;
}

interface SmtpError {
  code?: string;
  responseCode?: number;
  message?: string;
}

/**
 * Maps a nodemailer failure: EAUTH (or SMTP 530/535) -> auth; TLS refusals and certificate failures ->
 * permanent; SMTP 5xx -> permanent; SMTP 4xx and network failures -> transient.
 */
export function emailError(err: unknown): ConnectorError {
  const e = (err ?? {}) as SmtpError;
  const summary = truncate(
    `${e.code ?? 'error'}${e.responseCode ? ` ${e.responseCode}` : ''}: ${e.message ?? ''}`,
    300,
  );
  const message = `email: send failed: ${summary}`;
  const details = { vendor: 'email', cause: err };
  if (e.code === 'EAUTH' || e.responseCode === 535 || e.responseCode === 530) {
    return new ConnectorAuthError(message, details);
  }
  // TLS refused or unverifiable (no STARTTLS offered, bad certificate): configuration, not luck.
  if (e.code === 'ETLS' || /certificate|self[- ]signed|unable to verify/i.test(e.message ?? '')) {
    return new PermanentConnectorError(message, details);
  }
  if (e.responseCode !== undefined) {
    return e.responseCode >= 500
      ? new PermanentConnectorError(message, details)
      : new TransientConnectorError(message, details);
  }
  if (e.code === 'EENVELOPE' || e.code === 'EMESSAGE') return new PermanentConnectorError(message, details);
  return new TransientConnectorError(message, details);
}

/**
 * E-mail over SMTP submission with nodemailer: STARTTLS (required by default) or implicit TLS, SMTP AUTH from
 * the environment. The Message-ID is derived from the notification's idempotency key, so a retried send
 * carries the same ID and mail systems can drop the duplicate.
 */
export class EmailChannel implements NotificationChannel {
  readonly kind = 'email';
  private readonly transport: Transporter<SMTPTransport.SentMessageInfo>;

  constructor(private readonly opts: EmailOptions) {
    if (Boolean(opts.user) !== Boolean(opts.password)) {
      throw new PermanentConnectorError('email: set both user and password, or neither', { vendor: 'email' });
    }
    if (!opts.to.length) throw new PermanentConnectorError('email: no recipients', { vendor: 'email' });
    const timeout = opts.timeoutMs ?? 10_000;
    const secure = opts.secure ?? false;
    this.transport = nodemailer.createTransport({
      host: opts.host,
      port: opts.port ?? (secure ? 465 : 587),
      secure,
      requireTLS: opts.requireTLS ?? !secure,
      ...(opts.user ? { auth: { user: opts.user, pass: opts.password ?? '' } } : {}),
      tls: { rejectUnauthorized: opts.rejectUnauthorized ?? true },
      connectionTimeout: timeout,
      greetingTimeout: timeout,
      socketTimeout: timeout,
      disableFileAccess: true,
      disableUrlAccess: true,
    });
  }

  describe(): string {
    const port = this.opts.port ?? (this.opts.secure ? 465 : 587);
    return `e-mail via ${this.opts.host}:${port} to ${this.opts.to.join(', ')}`;
  }

  async deliver(n: Notification): Promise<{ vendorRef?: string }> {
    const lines = [
      multiLine(n.text),
      '',
      `Incident: ${n.incidentId}`,
      `Severity: ${n.severity}`,
      ...(n.link ? [`Link: ${n.link}`] : []),
      '',
      '-- Quell',
    ];
    try {
      const info = await this.transport.sendMail({
        from: this.opts.from,
        to: this.opts.to,
        subject: `[Quell] ${plainLine(n)}`,
        text: lines.join('\n'),
        messageId: `<${sha256Hex(n.idempotencyKey).slice(0, 40)}@quell>`,
        headers: { 'X-Quell-Incident': n.incidentId, 'X-Quell-Route': n.route },
      });
      return { vendorRef: info.messageId };
    } catch (err) {
      throw emailError(err);
    }
  }

  /** Closes pooled connections (none by default; kept for symmetry). */
  close(): void {
    this.transport.close();
  }
}

const emailEntry = z.strictObject({
  type: z.literal('email'),
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).optional(),
  secure: z.boolean().optional(),
  requireTLS: z.boolean().optional(),
  userEnv: envName.optional(),
  passwordEnv: envName.optional(),
  from: z.string().min(3),
  to: z.array(z.string().min(3)).min(1),
  rejectUnauthorized: z.boolean().optional(),
});

/** A route's SMTP submission, with the SMTP AUTH credentials read from the environment. */
export type ResolvedEmailChannel = { type: 'email'; route: string; user?: string; password?: string } & Omit<
  z.output<typeof emailEntry>,
  'type' | 'userEnv' | 'passwordEnv'
>;

/** `{ "type": "email", "host", "port"?, "secure"?, "requireTLS"?, "userEnv"?, "passwordEnv"?, "from", "to", "rejectUnauthorized"? }`. */
export const emailChannel = defineChannel<typeof emailEntry, ResolvedEmailChannel>({
  schema: emailEntry,
  secrets: ['userEnv', 'passwordEnv'],
  resolve(c, ctx) {
    if (Boolean(c.userEnv) !== Boolean(c.passwordEnv)) {
      ctx.problem('set both userEnv and passwordEnv, or neither');
    }
    const { type: _t, userEnv, passwordEnv, ...rest } = c;
    return {
      type: 'email',
      ...rest,
      ...(userEnv ? { user: ctx.secret('userEnv', userEnv) } : {}),
      ...(passwordEnv ? { password: ctx.secret('passwordEnv', passwordEnv) } : {}),
    };
  },
  endpoints: () => [],
  build: (c, ctx) =>
    new EmailChannel({
      host: c.host,
      port: c.port,
      secure: c.secure,
      requireTLS: c.requireTLS,
      user: c.user,
      password: c.password,
      from: c.from,
      to: c.to,
      rejectUnauthorized: c.rejectUnauthorized,
      timeoutMs: ctx.timeoutMs,
    }),
  describe: (c) => `e-mail to ${c.to.join(', ')} via ${c.host}`,
});
