import { Writable } from 'node:stream';
import type { Client } from '@temporalio/client';
import pino from 'pino';
import { createApp, type ApiDeps } from '../../../src/api/app';
import { AuthConfig, signatureHeader } from '../../../src/api/auth';
import { REDACTED_PATHS } from '../../../src/logging';
import { FakeIncidents } from './fake-incidents';

/** One bearer token per role, plus admin and a two-role token. */
export const TOKENS = {
  ingest: 'test-token-ingest-0123456789abcdef',
  responder: 'test-token-responder-0123456789abcdef',
  approver: 'test-token-approver-0123456789abcdef',
  auditor: 'test-token-auditor-0123456789abcdef',
  admin: 'test-token-admin-0123456789abcdef',
  responderApprover: 'test-token-resp-appr-0123456789abcdef',
} as const;
export type TokenName = keyof typeof TOKENS;

export const SUBJECTS: Record<TokenName, string> = {
  ingest: 'siem-forwarder',
  responder: 'alice',
  approver: 'bob',
  auditor: 'carol',
  admin: 'root-admin',
  responderApprover: 'dave',
};

export const SIGNING = {
  source: 'edr-lab',
  secrets: ['first-secret-0123456789abcdef', 'second-secret-0123456789abcdef'],
  otherSource: 'ndr',
  otherSecret: 'ndr-secret-0123456789abcdef0123',
};

export function testAuth(toleranceSeconds?: number): AuthConfig {
  return new AuthConfig({
    tokens: {
      [TOKENS.ingest]: { subject: SUBJECTS.ingest, roles: ['ingest'] },
      [TOKENS.responder]: { subject: SUBJECTS.responder, roles: ['responder'] },
      [TOKENS.approver]: { subject: SUBJECTS.approver, roles: ['approver'] },
      [TOKENS.auditor]: { subject: SUBJECTS.auditor, roles: ['auditor'] },
      [TOKENS.admin]: { subject: SUBJECTS.admin, roles: ['admin'] },
      [TOKENS.responderApprover]: { subject: SUBJECTS.responderApprover, roles: ['responder', 'approver'] },
    },
    signingSecrets: { [SIGNING.source]: SIGNING.secrets, [SIGNING.otherSource]: [SIGNING.otherSecret] },
    ...(toleranceSeconds !== undefined ? { signatureToleranceSeconds: toleranceSeconds } : {}),
  });
}

/** A logger that keeps every line in memory (with Quell's redaction), to check what the logs say. */
export function memoryLogger(): {
  logger: pino.Logger;
  lines: () => Record<string, unknown>[];
  text: () => string;
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = pino({ level: 'debug', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } }, stream);
  const text = () => chunks.join('');
  return {
    logger,
    text,
    lines: () =>
      text()
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

export interface TestApp {
  app: ReturnType<typeof createApp>;
  incidents: FakeIncidents;
  log: ReturnType<typeof memoryLogger>;
}

/** The real app over the in-memory IncidentOperations double. The Temporal client is only used by /readyz. */
export function testApp(overrides: Partial<ApiDeps> = {}): TestApp {
  const incidents = new FakeIncidents();
  const log = memoryLogger();
  const app = createApp({
    client: {} as Client,
    incidents,
    taskQueue: 'test-queue',
    logger: log.logger,
    auth: testAuth(),
    rateLimit: false,
    ...overrides,
  });
  return { app, incidents, log };
}

export const bearer = (name: TokenName) => `Bearer ${TOKENS[name]}`;

export function signed(body: string, secret = SIGNING.secrets[0]!, timestamp?: number) {
  return signatureHeader(secret, body, timestamp);
}
