// Key pairs from a file the operator provides, such as a mounted Kubernetes
// secret, instead of keys.json in the data dir:
//
// - LATCHKEY_PRIVATE_KEYS_FILE: a key ring in keys.json's format
//   ({"keys": [{kid, alg, createdAt, activatesAt, privateKey}, ...]}), so a
//   rotation prepared elsewhere (`latchkey keys rotate` against a scratch data
//   dir, then copied into the secret) keeps its publish-ahead schedule.
// - LATCHKEY_PRIVATE_KEY_PEM_FILE: one private key in PEM. Its kid is derived
//   from its public key (the RFC 7638 thumbprint, shortened to the length of a
//   generated kid), so every instance reading the same PEM names it alike.
//
// latchkey only reads these files: it never writes them, and `keys rotate`
// refuses (refuseReadOnlyKeys). Both are reloaded when they change (KeyRing
// watches the file's mtime), as keys.json is. The data dir stays the default.
import crypto from 'node:crypto';
import fs from 'node:fs';
import type { Algorithm, Config } from './config.js';
import { ConfigError } from './errors.js';
import { isHmac, keyRetention, readRing, ringKeys, type KeySet, type StoredKey } from './keys.js';

type KeyFileConfig = Pick<
  Config,
  'algorithm' | 'privateKeysFile' | 'privateKeyPemFile' | 'accessTokenLifetime' | 'refreshTokenLifetime' | 'signingKey'
>;

/** The setting and file the keys come from, or undefined for the data dir. */
export function keyFile(config: Pick<Config, 'privateKeysFile' | 'privateKeyPemFile'>): { setting: string; file: string } | undefined {
  if (config.privateKeysFile) return { setting: 'LATCHKEY_PRIVATE_KEYS_FILE', file: config.privateKeysFile };
  if (config.privateKeyPemFile) return { setting: 'LATCHKEY_PRIVATE_KEY_PEM_FILE', file: config.privateKeyPemFile };
  return undefined;
}

/** What each asymmetric algorithm needs of a key (node:crypto's asymmetricKeyType, and the EC curve). */
const KEY_TYPES: Partial<Record<Algorithm, { type: string; curve?: string; name: string }>> = {
  EdDSA: { type: 'ed25519', name: 'an Ed25519 key' },
  ES256: { type: 'ec', curve: 'prime256v1', name: 'an EC P-256 key' },
  RS256: { type: 'rsa', name: 'an RSA key' },
};

/** The JWK members RFC 7638 hashes, by key type, in lexicographic order. */
const THUMBPRINT_MEMBERS: Record<string, readonly string[]> = {
  OKP: ['crv', 'kty', 'x'],
  EC: ['crv', 'kty', 'x', 'y'],
  RSA: ['e', 'kty', 'n'],
};

/** A kid for a PEM key: its RFC 7638 JWK thumbprint, shortened to a generated kid's 16 characters. */
export function pemKid(key: crypto.KeyObject): string {
  const jwk = crypto.createPublicKey(key).export({ format: 'jwk' }) as Record<string, string>;
  const members = THUMBPRINT_MEMBERS[jwk.kty!] ?? [];
  const canonical = JSON.stringify(Object.fromEntries(members.map((m) => [m, jwk[m]])));
  return crypto.createHash('sha256').update(canonical).digest('base64url').slice(0, 16);
}

function readText(setting: string, file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    throw new ConfigError(`${setting}: cannot read ${file}: ${why}`);
  }
}

/** The one key of a PEM file, as a one-key ring that signs from the epoch on. */
function pemRing(config: KeyFileConfig, file: string): StoredKey[] {
  const setting = 'LATCHKEY_PRIVATE_KEY_PEM_FILE';
  let key: crypto.KeyObject;
  try {
    key = crypto.createPrivateKey(readText(setting, file));
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`${setting}: ${file} holds no private key in PEM (PKCS#8, SEC1 or PKCS#1): ${(err as Error).message}`);
  }
  const want = KEY_TYPES[config.algorithm]!;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (key.asymmetricKeyType !== want.type || (want.curve && curve !== want.curve)) {
    throw new ConfigError(
      `${setting}: ${file} holds ${key.asymmetricKeyType === 'ec' ? `an EC ${curve ?? ''} key` : `an ${key.asymmetricKeyType ?? 'unknown'} key`}, ` +
        `but LATCHKEY_ALGORITHM=${config.algorithm} signs with ${want.name}`,
    );
  }
  const privateKey = key.export({ format: 'pem', type: 'pkcs8' }).toString();
  return [{ kid: pemKid(key), alg: config.algorithm, createdAt: 0, activatesAt: 0, privateKey }];
}

/** The key ring of LATCHKEY_PRIVATE_KEYS_FILE, checked against LATCHKEY_ALGORITHM. */
function fileRing(config: KeyFileConfig, file: string): StoredKey[] {
  const setting = 'LATCHKEY_PRIVATE_KEYS_FILE';
  readText(setting, file); // a clear message for a missing or unreadable file
  let ring: StoredKey[] | undefined;
  try {
    ring = readRing(file);
  } catch (err) {
    throw new ConfigError(`${setting}: ${(err as Error).message}`);
  }
  for (const k of ring ?? []) {
    if (typeof k.kid !== 'string' || typeof k.privateKey !== 'string' || typeof (k.activatesAt ?? k.createdAt) !== 'number') {
      throw new ConfigError(`${setting}: ${file}: every key needs a kid, a privateKey (PEM) and activatesAt or createdAt (seconds)`);
    }
  }
  const newest = ring!.at(-1)!;
  if (newest.alg !== config.algorithm) {
    throw new ConfigError(
      `${setting}: the newest key in ${file} (${newest.kid}) is ${newest.alg}, but LATCHKEY_ALGORITHM is ${config.algorithm}; ` +
        'set LATCHKEY_ALGORITHM to match the file',
    );
  }
  return ring!;
}

/** The ring a key file holds (for `keys list`), or undefined when keys come from the data dir. */
export function keyFileRing(config: KeyFileConfig): StoredKey[] | undefined {
  const source = keyFile(config);
  if (!source) return undefined;
  if (config.privateKeysFile && config.privateKeyPemFile) {
    throw new ConfigError('LATCHKEY_PRIVATE_KEYS_FILE and LATCHKEY_PRIVATE_KEY_PEM_FILE: set only one of the two');
  }
  if (isHmac(config.algorithm)) {
    throw new ConfigError(
      `${source.setting}: key files hold key pairs, but LATCHKEY_ALGORITHM is ${config.algorithm} (a shared secret); ` +
        'set LATCHKEY_ALGORITHM=EdDSA, ES256 or RS256 to match the key, or unset ' +
        `${source.setting} and give an HMAC secret in LATCHKEY_SIGNING_KEY`,
    );
  }
  return config.privateKeysFile ? fileRing(config, source.file) : pemRing(config, source.file);
}

/** The key set from LATCHKEY_PRIVATE_KEYS_FILE or LATCHKEY_PRIVATE_KEY_PEM_FILE, or undefined when neither is set. */
export function keysFromFile(config: KeyFileConfig, now: number): KeySet | undefined {
  const ring = keyFileRing(config);
  if (!ring) return undefined;
  return ringKeys(ring, { now, retention: keyRetention(config) }, 'file', keyFile(config)!.file);
}

/** `keys rotate` refuses when the keys come from a file latchkey only reads. */
export function refuseReadOnlyKeys(config: Pick<Config, 'privateKeysFile' | 'privateKeyPemFile'>): void {
  const source = keyFile(config);
  if (!source) return;
  throw new ConfigError(
    `the signing keys come from ${source.setting} (${source.file}), which latchkey only reads. ` +
      (source.setting === 'LATCHKEY_PRIVATE_KEYS_FILE'
        ? `To rotate, run \`LATCHKEY_DATA_DIR=<a scratch dir> latchkey keys rotate\` on a copy of the file as <a scratch dir>/keys.json, then put the result in ${source.setting}'s place (e.g. update the secret); running instances reload it within a second.`
        : `To rotate without a gap, move to LATCHKEY_PRIVATE_KEYS_FILE (a ring in keys.json's format); replacing the PEM switches keys at once, and verifiers refuse the new tokens until they refetch the JWKS.`),
  );
}
