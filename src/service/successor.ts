// The pair a rotation answered, kept for the rotation retry grace
// (LATCHKEY_ROTATION_REUSE_INTERVAL): a client whose response was lost presents
// the rotated token again and must get this same pair back. It is stored
// sealed (AES-256-GCM) under a key derived from the rotated refresh token
// itself, so the database alone never yields a usable token: only whoever
// holds the rotated token can open it, and they could ask the server for it
// anyway.
import { createCipheriv, createDecipheriv, createHmac, hkdfSync } from 'node:crypto';
import { randomChunk } from '../random-pool.js';
import type { TokenPair } from './types.js';

const INFO = 'latchkey rotation successor v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/**
 * The sealing key: HMAC-SHA256 keyed with a label, over the token (HKDF's
 * extract step, with the label as salt). The token is a signed JWT around a
 * random jti, so one extract is a sound key derivation; it costs a fifth of
 * Node's hkdfSync, which runs on every rotation.
 */
function keyFor(rotatedToken: string): Buffer {
  return createHmac('sha256', INFO).update(rotatedToken).digest();
}

/** The key of pairs sealed before keyFor (HKDF-SHA256, empty salt): still opened within the grace. */
function formerKeyFor(rotatedToken: string): Buffer {
  return Buffer.from(hkdfSync('sha256', rotatedToken, Buffer.alloc(0), INFO, 32));
}

/** The pair, sealed for the holder of `rotatedToken`: base64url of IV, tag and ciphertext. */
export function sealSuccessor(pair: TokenPair, rotatedToken: string): string {
  const iv = randomChunk(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', keyFor(rotatedToken), iv);
  const body = Buffer.concat([cipher.update(JSON.stringify({ access: pair.access, refresh: pair.refresh }), 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url');
}

/** The pair sealed by sealSuccessor for `rotatedToken`, or undefined if it does not open with it. */
export function openSuccessor(sealed: string, rotatedToken: string): TokenPair | undefined {
  return openWith(sealed, keyFor(rotatedToken)) ?? openWith(sealed, formerKeyFor(rotatedToken));
}

function openWith(sealed: string, key: Buffer): TokenPair | undefined {
  try {
    const raw = Buffer.from(sealed, 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', key, raw.subarray(0, IV_BYTES));
    decipher.setAuthTag(raw.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
    const text = Buffer.concat([decipher.update(raw.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
    const pair = JSON.parse(text) as Partial<TokenPair>;
    return typeof pair.access === 'string' && typeof pair.refresh === 'string' ? { access: pair.access, refresh: pair.refresh } : undefined;
  } catch {
    return undefined;
  }
}
