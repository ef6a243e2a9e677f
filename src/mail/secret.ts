// The secret that keys one-time link tokens (Django's SECRET_KEY): the
// LATCHKEY_SECRET_KEY setting, or a random one kept in the data dir
// (link-secret.key, 0600), made on first start. Several instances that share a
// database must share this secret: set LATCHKEY_SECRET_KEY on each.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from '../errors.js';

export const LINK_SECRET_FILE = 'link-secret.key';
/** Shortest secret accepted, in bytes. */
export const MIN_SECRET_BYTES = 32;

export interface LinkSecretSettings {
  /** LATCHKEY_SECRET_KEY; undefined or '' to use (or make) the data dir's key. */
  secretKey?: string | undefined;
  /** LATCHKEY_SECRET_KEY_FALLBACKS: retired secrets whose links still verify. */
  fallbacks?: readonly string[] | undefined;
  dataDir: string;
}

/** The signing secret first, then the retired ones. */
export function loadLinkSecrets(s: LinkSecretSettings): [string, ...string[]] {
  const fallbacks = (s.fallbacks ?? []).filter((f) => f !== '');
  for (const f of fallbacks) {
    if (Buffer.byteLength(f, 'utf8') < MIN_SECRET_BYTES) {
      throw new ConfigError(`LATCHKEY_SECRET_KEY_FALLBACKS: each secret needs at least ${MIN_SECRET_BYTES} bytes`);
    }
  }
  if (s.secretKey !== undefined && s.secretKey !== '') {
    if (Buffer.byteLength(s.secretKey, 'utf8') < MIN_SECRET_BYTES) {
      throw new ConfigError(`LATCHKEY_SECRET_KEY: needs at least ${MIN_SECRET_BYTES} bytes`);
    }
    return [s.secretKey, ...fallbacks];
  }
  return [readOrCreate(path.join(s.dataDir, LINK_SECRET_FILE)), ...fallbacks];
}

function readOrCreate(file: string): string {
  try {
    fs.mkdirSync(path.dirname(file), { recursive: true });
    try {
      // 'wx': of several processes starting at once, one creates it and the others read it.
      fs.writeFileSync(file, randomBytes(32).toString('hex') + '\n', { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    for (let i = 0; i < 50; i++) {
      const secret = fs.readFileSync(file, 'utf8').trim();
      if (secret !== '') {
        if (Buffer.byteLength(secret, 'utf8') < MIN_SECRET_BYTES) {
          throw new ConfigError(`${file}: the link secret needs at least ${MIN_SECRET_BYTES} bytes`);
        }
        return secret;
      }
      // Another process created it a moment ago and is still writing.
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
    throw new ConfigError(`${file}: empty`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot keep the link secret in ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}
