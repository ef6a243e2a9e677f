// Signing keys. Every token names its key in the `kid` header.
//
// HMAC (HS256/384/512): one shared secret, LATCHKEY_SIGNING_KEY or a key kept
// in the data dir (signing.key, 0600), generated on first start. It is never
// published.
//
// EdDSA, ES256, RS256: key pairs kept in the data dir (keys.json, 0600). The
// newest is the signing key; `latchkey keys rotate` adds a new one and retires
// the old, which stays published at /.well-known/jwks.json and valid for
// verifying until every token it signed has expired. A running server picks up
// a rotation by itself within a second.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { HMAC_ALGORITHMS, MIN_HMAC_KEY_BYTES, type Algorithm, type Config } from './config.js';

export const KEY_FILE = 'signing.key';
export const KEYRING_FILE = 'keys.json';

export const isHmac = (alg: Algorithm): boolean => (HMAC_ALGORITHMS as readonly string[]).includes(alg);

/** A public key as published in a JWKS (RFC 7517). */
export type PublicJwk = crypto.JsonWebKey & { kid: string; alg: string; use: 'sig' };

export interface Key {
  kid: string;
  algorithm: Algorithm;
  /** What signs: the HMAC secret, or the private key. */
  signingKey: Buffer | string;
  /** What verifies: the HMAC secret, or the public key (PEM). */
  verifyingKey: Buffer | string;
  /** Published only for asymmetric keys. */
  jwk?: PublicJwk;
  /** Seconds since the epoch when it stopped signing; null while it signs. */
  retiredAt: number | null;
}

export interface KeySet {
  /** The key new tokens are signed with. */
  current: Key;
  /** Every key a token may name: the current one and the retired ones still valid. */
  byKid: ReadonlyMap<string, Key>;
  /** Where the keys came from, for the startup log; never a key itself. */
  source: 'environment' | 'file' | 'generated';
  file?: string;
}

/** A kid for an HMAC key: a fingerprint that cannot be turned back into the key. */
const hmacKid = (secret: Buffer): string =>
  crypto.createHash('sha256').update('latchkey-kid:').update(secret).digest('base64url').slice(0, 16);

// ---- HMAC -------------------------------------------------------------------

/** The key set of one HMAC secret (its UTF-8 bytes, as SimpleJWT uses SIGNING_KEY). */
export function hmacKeys(algorithm: Algorithm, secret: string, source: KeySet['source'] = 'environment', file?: string): KeySet {
  const buf = Buffer.from(secret, 'utf8');
  const key: Key = { kid: hmacKid(buf), algorithm, signingKey: buf, verifyingKey: buf, retiredAt: null };
  return { current: key, byKid: new Map([[key.kid, key]]), source, ...(file ? { file } : {}) };
}

function loadHmac(config: Pick<Config, 'signingKey' | 'dataDir' | 'algorithm'>): KeySet {
  const make = (secret: string, source: KeySet['source'], file?: string): KeySet =>
    hmacKeys(config.algorithm, secret, source, file);
  if (config.signingKey !== undefined) return make(config.signingKey, 'environment');
  const file = path.join(config.dataDir, KEY_FILE);
  try {
    const key = fs.readFileSync(file, 'utf8').trim();
    if (Buffer.byteLength(key, 'utf8') < MIN_HMAC_KEY_BYTES) {
      throw new ConfigError(`${file}: the signing key is shorter than ${MIN_HMAC_KEY_BYTES} bytes`);
    }
    return make(key, 'file', file);
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
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return loadHmac(config);
    throw new ConfigError(`${file}: cannot write the signing key: ${(err as Error).message}`);
  }
  return make(key, 'generated', file);
}

// ---- key pairs ----------------------------------------------------------------

interface StoredKey {
  kid: string;
  alg: Algorithm;
  createdAt: number;
  retiredAt: number | null;
  privateKey: string; // PKCS#8 PEM
}

function generatePair(alg: Algorithm): crypto.KeyPairKeyObjectResult {
  switch (alg) {
    case 'EdDSA':
      return crypto.generateKeyPairSync('ed25519');
    case 'ES256':
      return crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    case 'RS256':
      return crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
    default:
      throw new ConfigError(`${alg} is not an asymmetric algorithm`);
  }
}

function newStoredKey(alg: Algorithm, now: number): StoredKey {
  const { privateKey } = generatePair(alg);
  return {
    kid: crypto.randomBytes(12).toString('base64url'),
    alg,
    createdAt: now,
    retiredAt: null,
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

function toKey(s: StoredKey): Key {
  const priv = crypto.createPrivateKey(s.privateKey);
  const pub = crypto.createPublicKey(priv);
  return {
    kid: s.kid,
    algorithm: s.alg,
    signingKey: s.privateKey,
    verifyingKey: pub.export({ format: 'pem', type: 'spki' }).toString(),
    jwk: { ...pub.export({ format: 'jwk' }), kid: s.kid, alg: s.alg, use: 'sig' },
    retiredAt: s.retiredAt,
  };
}

function readRing(file: string): StoredKey[] | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(`${file}: cannot read the key ring: ${(err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as { keys?: StoredKey[] };
    if (!Array.isArray(parsed.keys) || parsed.keys.length === 0) throw new Error('no keys');
    return parsed.keys;
  } catch (err) {
    throw new ConfigError(`${file}: the key ring is not valid: ${(err as Error).message}`);
  }
}

/** Writes the ring atomically (write, fsync, rename), readable by the owner only. */
function writeRing(file: string, keys: StoredKey[]): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, 'w', 0o600);
  try {
    fs.writeSync(fd, JSON.stringify({ keys }, null, 2) + '\n');
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

export interface RingOptions {
  dataDir: string;
  algorithm: Algorithm;
  /** How long a retired key stays valid: the longest a token it signed can live (seconds). */
  retention: number;
  now: number;
}

function loadPairs(o: RingOptions): KeySet {
  const file = path.join(o.dataDir, KEYRING_FILE);
  let stored = readRing(file);
  let source: KeySet['source'] = 'file';
  if (!stored || stored.every((k) => k.retiredAt !== null) || stored.at(-1)!.alg !== o.algorithm) {
    // First start, or a change of algorithm: add a signing key of the configured kind.
    stored = rotateRing(o);
    source = 'generated';
  }
  const live = stored.filter((k) => k.retiredAt === null || k.retiredAt + o.retention > o.now);
  const keys = live.map(toKey);
  const current = keys.findLast((k) => k.retiredAt === null)!;
  return { current, byKid: new Map(keys.map((k) => [k.kid, k])), source, file };
}

/**
 * Adds a new signing key of the configured algorithm and retires the others;
 * drops keys retired longer ago than `retention`. Returns the new ring.
 */
export function rotateRing(o: RingOptions): StoredKey[] {
  if (isHmac(o.algorithm)) {
    throw new ConfigError(
      `${o.algorithm} keys are shared secrets: rotate by changing LATCHKEY_SIGNING_KEY (or ${KEY_FILE}); ` +
        'key rotation with a published JWKS needs LATCHKEY_ALGORITHM=EdDSA, ES256 or RS256',
    );
  }
  fs.mkdirSync(o.dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(o.dataDir, KEYRING_FILE);
  const kept = (readRing(file) ?? [])
    .map((k) => (k.retiredAt === null ? { ...k, retiredAt: o.now } : k))
    .filter((k) => k.retiredAt! + o.retention > o.now);
  const ring = [...kept, newStoredKey(o.algorithm, o.now)];
  writeRing(file, ring);
  return ring;
}

/** The keys in force: HMAC from the environment or signing.key, key pairs from keys.json. */
export function loadKeys(
  config: Pick<Config, 'signingKey' | 'dataDir' | 'algorithm' | 'refreshTokenLifetime' | 'refreshFamilyLifetime'>,
  now = Math.floor(Date.now() / 1000),
): KeySet {
  if (isHmac(config.algorithm)) return loadHmac(config);
  return loadPairs({ dataDir: config.dataDir, algorithm: config.algorithm, retention: config.refreshTokenLifetime, now });
}

/** The public half of every key in force, for /.well-known/jwks.json. HMAC keys are never listed. */
export function jwks(keys: KeySet): { keys: PublicJwk[] } {
  return { keys: [...keys.byKid.values()].flatMap((k) => (k.jwk ? [k.jwk] : [])) };
}

/**
 * The key set, reloaded when keys.json changes (another process ran `keys
 * rotate`), checked at most once a second. HMAC keys never change at runtime.
 */
export class KeyRing {
  private set: KeySet;
  private mtimeMs = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly config: Parameters<typeof loadKeys>[0]) {
    this.set = loadKeys(config);
    this.mtimeMs = this.stat();
  }

  get keys(): KeySet {
    return this.set;
  }

  private stat(): number {
    if (!this.set.file || isHmac(this.config.algorithm)) return 0;
    try {
      return fs.statSync(this.set.file).mtimeMs;
    } catch {
      return 0;
    }
  }

  /** Reloads if keys.json changed; returns true if it did. */
  reloadIfChanged(): boolean {
    const m = this.stat();
    if (m === this.mtimeMs) return false;
    this.mtimeMs = m;
    try {
      this.set = loadKeys(this.config);
      return true;
    } catch {
      return false; // a half-written or broken file: keep the keys we have
    }
  }

  watch(onChange: () => void): void {
    if (isHmac(this.config.algorithm) || this.timer) return;
    this.timer = setInterval(() => {
      if (this.reloadIfChanged()) onChange();
    }, 1000);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}
