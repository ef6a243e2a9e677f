// The pair a rotation answered, kept for the rotation retry grace
// (LATCHKEY_ROTATION_REUSE_INTERVAL): a client whose response was lost presents
// the rotated token again and must get this same pair back. It is stored
// sealed (AES-256-GCM) under a key derived (HKDF-SHA256) from the rotated
// refresh token itself, so the database alone never yields a usable token:
// only whoever holds the rotated token can open it, and they could ask the
// server for it anyway.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { TokenPair } from './types.js';

const INFO = 'latchkey rotation successor v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

function keyFor(rotatedToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', rotatedToken, Buffer.alloc(0), INFO, 32));
}

/** The pair, sealed for the holder of `rotatedToken`: base64url of IV, tag and ciphertext. */
export function sealSuccessor(pair: TokenPair, rotatedToken: string): string {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(rotatedToken), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify({ access: pair.access, refresh: pair.refresh }), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The pair sealed by sealSuccessor for `rotatedToken`, or undefined if it does not open with it. */
export function openSuccessor(sealed: string, rotatedToken: string): TokenPair | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', keyFor(rotatedToken), raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    const pair = JSON.parse(text) as Partial<TokenPair>;
    return typeof pair.access === 'string' && typeof pair.refresh === 'string' ? { access: pair.access, refresh: pair.refresh } : undefined;
  } catch {
    return undefined;
  }
}
