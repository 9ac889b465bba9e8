/**
 * The Ed25519 signature over the manifest: valid, invalid or absent, whether the trusted key made it, and
 * whether its key ID is the public key's fingerprint.
 */
import { createPublicKey, verify as cryptoVerify } from 'node:crypto';
import { canonicalJson } from './hash-chain';
import { fingerprint, SIGNING_KEY_ENV } from './signing';
import type { BundleManifest, BundleSignature } from './types';

export interface SignatureStatus {
  status: 'valid' | 'invalid' | 'unsigned';
  keyId?: string;
  /** True/false when a trusted public key was given; undefined when not. */
  trusted?: boolean;
  message: string;
}

export interface SignatureFindings {
  signature: SignatureStatus;
  problems: string[];
}

/** `trustedPublicKey`: base64 SPKI DER; `requireSignature`: an unsigned bundle is a problem. */
export function checkSignature(
  manifest: BundleManifest,
  opts: { trustedPublicKey?: string; requireSignature?: boolean },
): SignatureFindings {
  const sig = manifest.signature;
  if (!sig) {
    return {
      signature: {
        status: 'unsigned',
        message:
          `UNSIGNED: no signature (set ${SIGNING_KEY_ENV} when exporting). The hash chain shows accidental or ` +
          'partial edits, but whoever holds the file can rewrite the chain consistently.',
      },
      problems: opts.requireSignature ? ['signature: the bundle is unsigned'] : [],
    };
  }
  const { signature: _s, ...unsigned } = manifest;
  const valid = signatureMatches(sig, unsigned);
  const trusted = opts.trustedPublicKey !== undefined ? opts.trustedPublicKey === sig.publicKey : undefined;
  const keyIdOk = sig.keyId === `ed25519:${fingerprint(Buffer.from(sig.publicKey, 'base64'))}`;
  const problems: string[] = [];
  let signature: SignatureStatus;
  if (!valid) {
    signature = {
      status: 'invalid',
      keyId: sig.keyId,
      ...(trusted !== undefined ? { trusted } : {}),
      message: `INVALID: the Ed25519 signature (key ${sig.keyId}) does not match the manifest`,
    };
    problems.push(`signature: ${signature.message}`);
  } else {
    signature = {
      status: 'valid',
      keyId: sig.keyId,
      ...(trusted !== undefined ? { trusted } : {}),
      message: `valid Ed25519 signature by key ${sig.keyId}` + signerNote(trusted),
    };
    if (trusted === false) problems.push(`signature: signed by ${sig.keyId}, not by the trusted key`);
  }
  if (!keyIdOk) problems.push(`signature: key ID ${sig.keyId} does not match the public key's fingerprint`);
  return { signature, problems };
}

/** A public key or signature that does not even decode does not match. */
function signatureMatches(sig: BundleSignature, unsigned: Omit<BundleManifest, 'signature'>): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(sig.publicKey, 'base64'), format: 'der', type: 'spki' });
    return cryptoVerify(
      null,
      Buffer.from(canonicalJson(unsigned), 'utf8'),
      key,
      Buffer.from(sig.value, 'base64'),
    );
  } catch {
    return false;
  }
}

function signerNote(trusted: boolean | undefined): string {
  if (trusted === true) return ' (the trusted key)';
  if (trusted === false) return ' but NOT by the trusted key';
  return ' (no trusted key given: checked against the key in the manifest)';
}
