import net, { type AddressInfo } from 'node:net';
import { SMTPServer, type SMTPServerOptions } from 'smtp-server';
import { EmailChannel, type EmailOptions } from '../../src/connectors/notify/email';
import type { Notification } from '../../src/connectors/types';
import { ERROR_NAMES, expectConnectorError } from './support';

interface Received {
  from: string;
  to: string[];
  raw: string;
  secure: boolean;
  user?: string;
}

async function startSmtp(
  extra: Partial<SMTPServerOptions> = {},
): Promise<{ port: number; received: Received[]; stop(): Promise<void> }> {
  const received: Received[] = [];
  const server = new SMTPServer({
    logger: false,
    secure: false,
    authMethods: ['PLAIN', 'LOGIN'],
    onAuth(auth, _session, cb) {
      if (auth.username === 'quell' && auth.password === 's3cret') cb(null, { user: 'quell' });
      else cb(Object.assign(new Error('Invalid username or password'), { responseCode: 535 }));
    },
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('reject@'))
        return cb(Object.assign(new Error('No such user'), { responseCode: 550 }));
      if (address.address.startsWith('later@'))
        return cb(Object.assign(new Error('Try again later'), { responseCode: 451 }));
      cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        received.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
          secure: session.secure,
          ...(typeof session.user === 'string' ? { user: session.user } : {}),
        });
        cb();
      });
    },
    ...extra,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.server.address() as AddressInfo).port;
  return { port, received, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

function note(over: Partial<Notification> = {}): Notification {
  return {
    route: 'management',
    incidentId: 'INC-77',
    subject: 'Containment awaiting approval',
    text: 'Disable j.doe?\nApprove in Quell.',
    severity: 'medium',
    dedupKey: 'INC-77',
    idempotencyKey: 'INC-77:mail-1',
    link: 'http://127.0.0.1:8080/i/INC-77',
    ...over,
  };
}

function channel(port: number, over: Partial<EmailOptions> = {}) {
  return new EmailChannel({
    host: '127.0.0.1',
    port,
    user: 'quell',
    password: 's3cret',
    from: 'quell@lab.quell.test',
    to: ['soc@lab.quell.test'],
    rejectUnauthorized: false, // the test server's certificate is self-signed
    timeoutMs: 3_000,
    ...over,
  });
}

describe('EmailChannel over SMTP (local smtp-server)', () => {
  let smtp: Awaited<ReturnType<typeof startSmtp>>;
  beforeAll(async () => {
    smtp = await startSmtp();
  });
  afterAll(async () => {
    await smtp.stop();
  });

  it('delivers over STARTTLS with AUTH, with a Message-ID derived from the idempotency key', async () => {
    const res = await channel(smtp.port).deliver(note());
    const again = await channel(smtp.port).deliver(note());
    expect(res.vendorRef).toMatch(/^<[0-9a-f]{40}@quell>$/);
    expect(again.vendorRef).toBe(res.vendorRef);
    const mail = smtp.received.at(-1)!;
    expect(mail).toMatchObject({
      from: 'quell@lab.quell.test',
      to: ['soc@lab.quell.test'],
      secure: true,
      user: 'quell',
    });
    expect(mail.raw).toMatch(/^Subject: \[Quell\] \[MEDIUM\] INC-77: Containment awaiting approval$/m);
    expect(mail.raw).toMatch(/^X-Quell-Incident: INC-77$/m);
    expect(mail.raw).toContain('Approve in Quell.');
    expect(mail.raw).toContain(`Message-ID: ${res.vendorRef!}`);
  });

  it('maps a refused login to ConnectorAuthError', async () => {
    await expectConnectorError(
      channel(smtp.port, { password: 'wrong' }).deliver(note()),
      'auth',
      ERROR_NAMES.auth,
    );
  });

  it('maps SMTP 5xx to permanent and 4xx to transient', async () => {
    await expectConnectorError(channel(smtp.port, { to: ['reject@x.test'] }).deliver(note()), 'permanent');
    await expectConnectorError(channel(smtp.port, { to: ['later@x.test'] }).deliver(note()), 'transient');
  });

  it('refuses an unverifiable certificate when verification is on', async () => {
    await expectConnectorError(channel(smtp.port, { rejectUnauthorized: true }).deliver(note()), 'permanent');
  });

  it('refuses to send without STARTTLS (requireTLS) and treats a dead server as transient', async () => {
    const plain = await startSmtp({ disabledCommands: ['STARTTLS'], allowInsecureAuth: true });
    try {
      await expectConnectorError(channel(plain.port).deliver(note()), 'permanent');
      expect(plain.received).toHaveLength(0);
    } finally {
      await plain.stop();
    }
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const freePort = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    await expectConnectorError(channel(freePort).deliver(note()), 'transient', ERROR_NAMES.transient);
  });

  it('delivers over implicit TLS (secure: true) too', async () => {
    const tls = await startSmtp({ secure: true });
    try {
      await channel(tls.port, { secure: true }).deliver(note());
      expect(tls.received).toHaveLength(1);
      expect(tls.received[0]!.secure).toBe(true);
    } finally {
      await tls.stop();
    }
  });

  it('checks its configuration', () => {
    expect(() => channel(smtp.port, { password: undefined })).toThrow(/user and password/);
    expect(() => channel(smtp.port, { to: [] })).toThrow(/no recipients/);
    expect(channel(smtp.port).describe()).toBe(`e-mail via 127.0.0.1:${smtp.port} to soc@lab.quell.test`);
    expect(channel(smtp.port).describe()).not.toContain('s3cret');
  });
});
