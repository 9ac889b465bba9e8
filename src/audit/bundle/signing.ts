/** Ed25519 keys: the signer that signs manifests, and the public key a verifier trusts. */
import {
  createHash,
  createPrivateKey,
  createPublicKey,
  sign as cryptoSign,
  type KeyObject,
} from 'node:crypto';
import { promises as fs } from 'node:fs';
import { UserFixableError } from '../../errors';

export const SIGNING_KEY_ENV = 'QUELL_AUDIT_SIGNING_KEY';
export const PUBLIC_KEY_ENV = 'QUELL_AUDIT_PUBLIC_KEY';

export class SigningKeyError extends UserFixableError {
  override readonly name = 'SigningKeyError';
}

export interface AuditSigner {
  keyId: string;
  publicKey: string;
  sign(data: Buffer): Buffer;
}

export function fingerprint(spkiDer: Buffer): string {
  return createHash('sha256').update(spkiDer).digest('hex').slice(0, 16);
}

/**
 * The Ed25519 signer `QUELL_AUDIT_SIGNING_KEY` configures (a PEM, or base64 of a DER PKCS#8 private key), or
 * undefined when it is not set. The key ID is `ed25519:` + the first 16 hex digits of the public key's SHA-256.
 * Thrown: {@link SigningKeyError} for an unreadable or non-Ed25519 key.
 */
export function signerFromEnv(env: NodeJS.ProcessEnv = process.env): AuditSigner | undefined {
  const spec = env[SIGNING_KEY_ENV]?.trim();
  return spec ? createSigner(spec) : undefined;
}

export function createSigner(spec: string): AuditSigner {
  let key: KeyObject;
  try {
    key = spec.includes('-----BEGIN')
      ? createPrivateKey(spec)
      : createPrivateKey({ key: Buffer.from(spec, 'base64'), format: 'der', type: 'pkcs8' });
  } catch (err) {
    throw new SigningKeyError(
      `${SIGNING_KEY_ENV} is not a readable private key (PEM, or base64 of DER PKCS#8): ${(err as Error).message}`,
    );
  }
  if (key.asymmetricKeyType !== 'ed25519') {
    throw new SigningKeyError(
      `${SIGNING_KEY_ENV} is a ${key.asymmetricKeyType ?? 'non-asymmetric'} key; Ed25519 is required`,
    );
  }
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
  return {
    keyId: `ed25519:${fingerprint(spki)}`,
    publicKey: spki.toString('base64'),
    sign: (data) => cryptoSign(null, data, key),
  };
}

/** Reads a trusted public key: PEM text, base64 SPKI DER, or a file holding either; returns base64 SPKI DER. */
export async function readPublicKey(spec: string): Promise<string> {
  let text = spec.trim();
  if (!text.includes('-----BEGIN')) {
    const isFile = await fs.stat(text).then(
      (st) => st.isFile(),
      () => false,
    );
    if (isFile) text = (await fs.readFile(text, 'utf8')).trim();
  }
  try {
    const key = text.includes('-----BEGIN')
      ? createPublicKey(text)
      : createPublicKey({ key: Buffer.from(text, 'base64'), format: 'der', type: 'spki' });
    return key.export({ type: 'spki', format: 'der' }).toString('base64');
  } catch (err) {
    throw new SigningKeyError(
      `not a readable public key (PEM, base64 SPKI, or a file): ${(err as Error).message}`,
    );
  }
}
