// The signing key: LATCHKEY_SIGNING_KEY when set, otherwise a key kept in the
// data dir, generated (readable by the owner only) on first start.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { MIN_HMAC_KEY_BYTES, type Config } from './config.js';

export const KEY_FILE = 'signing.key';

export interface LoadedKey {
  key: string;
  /** Where it came from, for the startup log; never the key itself. */
  source: 'environment' | 'file' | 'generated';
  file?: string;
}

export function loadSigningKey(config: Pick<Config, 'signingKey' | 'dataDir'>): LoadedKey {
  if (config.signingKey !== undefined) return { key: config.signingKey, source: 'environment' };
  const file = path.join(config.dataDir, KEY_FILE);
  try {
    const key = fs.readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(key, 'utf8') < MIN_HMAC_KEY_BYTES) {
      throw new ConfigError(`${file}: the signing key is shorter than ${MIN_HMAC_KEY_BYTES} bytes`);
    }
    return { key, source: 'file', file };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      if (err instanceof ConfigError) throw err;
      throw new ConfigError(`${file}: cannot read the signing key: ${(err as Error).message}`);
    }
  }
  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const key = crypto.randomBytes(48).toString('base64url'); // 64 characters, 384 bits
  try {
    // 'wx' fails if another process created it first; then use theirs.
    fs.writeFileSync(file, key + '\n', { mode: 0o600, flag: 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadSigningKey(config);
    throw new ConfigError(`${file}: cannot write the signing key: ${(err as Error).message}`);
  }
  return { key, source: 'generated', file };
}
