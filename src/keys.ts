// Signing keys. Every token names its key in the `kid` header.
//
// HMAC (HS256/384/512): one shared secret, LATCHKEY_SIGNING_KEY or a key kept
// in the data dir (signing.key, 0600), generated on first start. It is never
// published.
//
// EdDSA, ES256, RS256: key pairs kept in the data dir (keys.json, 0600), each
// with the time it starts signing. `latchkey keys rotate` adds the next key,
// published at /.well-known/jwks.json at once but signing only from its
// activation time (LATCHKEY_KEY_PUBLISH_AHEAD later, longer than the JWKS's
// Cache-Control max-age, so every verifier has it before it sees a token it
// signed). The key that signs is chosen per token: the one activated last. A
// key it replaced stays published and valid until every token it signed has
// expired. Every process sharing the data dir reads the same file, picks up a
// rotation within a second, and switches at the activation time by itself.
// The key pairs may instead come from a file the operator mounts, read only:
// LATCHKEY_PRIVATE_KEYS_FILE or LATCHKEY_PRIVATE_KEY_PEM_FILE (key-files.ts).
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError } from './errors.js';
import { HMAC_ALGORITHMS, MIN_HMAC_KEY_BYTES, type Algorithm, type Config } from './config.js';
import { keysFromFile } from './key-files.js';

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
  /** Seconds since the epoch when it starts (or started) signing. */
  activatesAt: number;
  /** Seconds since the epoch when it stopped signing (its successor's activation); null while it signs or waits. */
  retiredAt: number | null;
}

/** What a key is doing at a given time. */
export type KeyState = 'next' | 'active' | 'retired';

/** The key pairs' Cache-Control max-age at /.well-known/jwks.json (seconds). */
export const JWKS_MAX_AGE = 300;

export interface KeySet {
  /** The key new tokens are signed with. */
  current: Key;
  /** Every key a token may name: the current one, the next ones (published ahead) and the retired ones still valid. */
  byKid: ReadonlyMap<string, Key>;
  /** When (ms since the epoch) a next key starts signing and this set is out of date; undefined when none waits. */
  switchAtMs?: number;
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
  const key: Key = { kid: hmacKid(buf), algorithm, signingKey: buf, verifyingKey: buf, activatesAt: 0, retiredAt: null };
  return { current: key, byKid: new Map([[key.kid, key]]), source, ...(file ? { file } : {}) };
}

function loadHmac(config: Pick<Config, 'signingKey' | 'dataDir' | 'algorithm'>): KeySet {
  const make = (secret: string, source: KeySet['source'], file?: string): KeySet => hmacKeys(config.algorithm, secret, source, file);
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

export interface StoredKey {
  kid: string;
  alg: Algorithm;
  createdAt: number;
  /** When it starts signing; absent in rings written before publish-ahead (then createdAt). */
  activatesAt?: number;
  /** Written by earlier versions only; the successor's activatesAt says it now. */
  retiredAt?: number | null;
  privateKey: string; // PKCS#8 PEM
}

const activation = (k: StoredKey): number => k.activatesAt ?? k.createdAt;

/** The ring in activation order, each key with its state and retirement time at `now`. */
export function keyStates(
  ring: readonly StoredKey[],
  now: number,
): { key: StoredKey; state: KeyState; activatesAt: number; retiredAt: number | null }[] {
  const sorted = [...ring].sort((a, b) => activation(a) - activation(b));
  // The signing key: the one activated last; if none is active yet (a clock
  // set back), the first to activate, so that something always signs.
  let signing = sorted.findLastIndex((k) => activation(k) <= now);
  if (signing < 0) signing = 0;
  return sorted.map((key, i) => ({
    key,
    activatesAt: activation(key),
    state: i === signing ? 'active' : i < signing ? 'retired' : 'next',
    retiredAt: i < signing ? activation(sorted[i + 1]!) : null,
  }));
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

function newStoredKey(alg: Algorithm, now: number, activatesAt: number): StoredKey {
  const { privateKey } = generatePair(alg);
  return {
    kid: crypto.randomBytes(12).toString('base64url'),
    alg,
    createdAt: now,
    activatesAt,
    privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
  };
}

function toKey(s: StoredKey, activatesAt: number, retiredAt: number | null): Key {
  const priv = crypto.createPrivateKey(s.privateKey);
  const pub = crypto.createPublicKey(priv);
  return {
    kid: s.kid,
    algorithm: s.alg,
    signingKey: s.privateKey,
    verifyingKey: pub.export({ format: 'pem', type: 'spki' }).toString(),
    jwk: { ...pub.export({ format: 'jwk' }), kid: s.kid, alg: s.alg, use: 'sig' },
    activatesAt,
    retiredAt,
  };
}

export function readRing(file: string): StoredKey[] | undefined {
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
  /**
   * Seconds from now until the new key signs; until then it is only
   * published. 0 (the default here): it signs at once. The first key of a
   * ring always signs at once: no verifier knows any key yet.
   */
  publishAhead?: number;
}

function loadPairs(o: RingOptions): KeySet {
  const file = path.join(o.dataDir, KEYRING_FILE);
  let stored = readRing(file);
  let source: KeySet['source'] = 'file';
  if (!stored || stored.at(-1)!.alg !== o.algorithm || stored.every((k) => k.retiredAt != null && k.activatesAt === undefined)) {
    // First start, or a change of algorithm: add a signing key of the configured kind.
    stored = rotateRing({ ...o, publishAhead: 0 });
    source = 'generated';
  }
  return ringKeys(stored, o, source, file);
}

/** The key set of a ring at `o.now`: the keys in force, the one that signs, and when the next one starts. */
export function ringKeys(
  stored: readonly StoredKey[],
  o: Pick<RingOptions, 'now' | 'retention'>,
  source: KeySet['source'],
  file: string,
): KeySet {
  const states = keyStates(stored, o.now).filter((s) => s.retiredAt === null || s.retiredAt + o.retention > o.now);
  const keys = states.map((s) => toKey(s.key, s.activatesAt, s.retiredAt));
  const current = keys[states.findIndex((s) => s.state === 'active')]!;
  const next = states.find((s) => s.state === 'next');
  return {
    current,
    byKid: new Map(keys.map((k) => [k.kid, k])),
    source,
    file,
    ...(next ? { switchAtMs: next.activatesAt * 1000 } : {}),
  };
}

/**
 * Adds the next key of the configured algorithm, signing from `publishAhead`
 * seconds on, and replaces any key still waiting to sign (it has signed
 * nothing); drops keys retired longer ago than `retention`. Returns the new
 * ring, in activation order.
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
  const existing = readRing(file) ?? [];
  const hasActive = existing.some((k) => activation(k) <= o.now);
  const ahead = hasActive ? Math.max(0, Math.floor(o.publishAhead ?? 0)) : 0;
  const kept = keyStates(existing, o.now)
    .filter((s) => s.state !== 'next' && (s.retiredAt === null || s.retiredAt + o.retention > o.now))
    .map(({ key, activatesAt }) => ({ ...key, activatesAt, retiredAt: undefined }));
  const ring = [...kept, newStoredKey(o.algorithm, o.now, o.now + ahead)];
  writeRing(file, ring);
  return ring;
}

/**
 * The keys in force: HMAC from the environment or signing.key; key pairs from
 * LATCHKEY_PRIVATE_KEYS_FILE or LATCHKEY_PRIVATE_KEY_PEM_FILE when set (key-files.ts), else keys.json.
 */
export function loadKeys(
  config: Pick<
    Config,
    | 'signingKey'
    | 'dataDir'
    | 'algorithm'
    | 'accessTokenLifetime'
    | 'refreshTokenLifetime'
    | 'refreshFamilyLifetime'
    | 'privateKeysFile'
    | 'privateKeyPemFile'
  >,
  now = Math.floor(Date.now() / 1000),
): KeySet {
  const fromFile = keysFromFile(config, now);
  if (fromFile) return fromFile;
  if (isHmac(config.algorithm)) return loadHmac(config);
  return loadPairs({ dataDir: config.dataDir, algorithm: config.algorithm, retention: keyRetention(config), now });
}

/** How long a replaced key stays published: until the longest-lived token it signed has expired. */
export const keyRetention = (config: Pick<Config, 'accessTokenLifetime' | 'refreshTokenLifetime'>): number =>
  Math.max(config.accessTokenLifetime, config.refreshTokenLifetime);

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

  /** The keys in force now: a key published ahead starts signing at its activation time, with no reload. */
  get keys(): KeySet {
    const at = this.set.switchAtMs;
    if (at !== undefined && Date.now() >= at) {
      try {
        this.set = loadKeys(this.config);
      } catch {
        // keys.json unreadable right now: keep the keys we have, try again on the next token
      }
    }
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
