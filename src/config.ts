// Configuration: one table of defaults, overridden by environment variables,
// validated once at startup and then frozen. Anything wrong here is a
// ConfigError, which stops startup with a one-line reason.
import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { ConfigError } from './errors.js';
import { DEFAULT_LIMITS, parseLimit, type Limit, type Limits } from './throttle.js';

import { ALGORITHMS, HMAC_ALGORITHMS, MIN_HMAC_KEY_BYTES, type Algorithm } from './wire.js';

export { ALGORITHMS, ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, MIN_HMAC_KEY_BYTES, type Algorithm } from './wire.js';

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['1', '0', 'true', 'false', 'on', 'off', 'yes', 'no'].includes(v), {
    message: 'must be one of on/off, true/false, 1/0, yes/no',
  })
  .transform((v) => ['1', 'true', 'on', 'yes'].includes(v));

const seconds = z.coerce
  .number({ message: 'must be a number of seconds' })
  .int('must be a whole number of seconds')
  .positive('must be positive');

const int = (min: number, max: number) =>
  z.coerce.number({ message: 'must be a number' }).int('must be a whole number').min(min).max(max);

/** A limit written as POINTS/SECONDS, e.g. 10/300. */
function limit(fallback: Limit) {
  return z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v === '') return fallback;
      const parsed = parseLimit(v);
      if (!parsed) ctx.addIssue({ code: 'custom', message: 'must be POINTS/SECONDS, such as 10/300' });
      return parsed ?? fallback;
    });
}

/** Environment variables, their defaults and their meaning. README's configuration table mirrors this. */
const schema = z.object({
  HOST: z.string().min(1).default('127.0.0.1'),
  PORT: int(0, 65535).default(8000),
  LATCHKEY_DATA_DIR: z.string().min(1).default('./data'),
  LATCHKEY_DATABASE_URL: z.string().min(1).optional(),
  LATCHKEY_REDIS_URL: z.string().min(1).optional(),
  LATCHKEY_PRESETS: z.string().default('simplejwt,api-auth,account'),
  LATCHKEY_SIGNING_KEY: z.string().optional(),
  LATCHKEY_ALGORITHM: z.enum(ALGORITHMS, { message: `must be one of ${ALGORITHMS.join(', ')}` }).default('HS256'),
  LATCHKEY_ACCESS_TOKEN_LIFETIME: seconds.default(300),
  LATCHKEY_REFRESH_TOKEN_LIFETIME: seconds.default(86400),
  LATCHKEY_ROTATE_REFRESH_TOKENS: bool.optional(),
  LATCHKEY_REFRESH_FAMILY_LIFETIME: seconds.default(30 * 86400),
  LATCHKEY_LOGIN_THROTTLE: bool.default(true),
  LATCHKEY_ISSUER: z.string().min(1).optional(),
  LATCHKEY_AUDIENCE: z.string().min(1).optional(),
  LATCHKEY_LEEWAY: int(0, 3600).default(0),
  LATCHKEY_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  LATCHKEY_BODY_LIMIT: int(1024, 10 * 1024 * 1024).default(64 * 1024),
  LATCHKEY_ARGON2_MEMORY_KIB: int(19456, 4 * 1024 * 1024).default(19456),
  LATCHKEY_ARGON2_TIME_COST: int(2, 100).default(2),
  LATCHKEY_ARGON2_PARALLELISM: int(1, 64).default(1),
  LATCHKEY_WORKERS: int(1, 256).default(os.availableParallelism()),
  LATCHKEY_HASH_CONCURRENCY: int(1, 256).optional(),
  LATCHKEY_DATABASE_POOL_SIZE: int(1, 1000).default(10),
  LATCHKEY_HASH_QUEUE: int(0, 100000).default(64),
  LATCHKEY_HASH_QUEUE_TIMEOUT_MS: int(1, 60000).default(2000),
  LATCHKEY_TRUST_PROXY: z.string().optional(),
  LATCHKEY_THROTTLE_LOGIN_ACCOUNT: limit(DEFAULT_LIMITS.loginAccount),
  LATCHKEY_THROTTLE_LOGIN_ADDRESS: limit(DEFAULT_LIMITS.loginAddress),
  LATCHKEY_THROTTLE_REFRESH: limit(DEFAULT_LIMITS.refresh),
  LATCHKEY_THROTTLE_VERIFY: limit(DEFAULT_LIMITS.verify),
  LATCHKEY_THROTTLE_REGISTER: limit(DEFAULT_LIMITS.register),
});

export interface Config {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** `sqlite:PATH` or `postgres://...`; defaults to `sqlite:<dataDir>/latchkey.sqlite3`. */
  readonly databaseUrl: string;
  readonly redisUrl: string | undefined;
  readonly presets: readonly string[];
  /** Undefined means: load the key from the data dir, generating it on first start. */
  readonly signingKey: string | undefined;
  readonly algorithm: Algorithm;
  readonly accessTokenLifetime: number;
  readonly refreshTokenLifetime: number;
  /** Undefined means: each preset decides. */
  readonly rotateRefreshTokens: boolean | undefined;
  /** Absolute lifetime of a login's rotation family, in seconds; rotation never extends it. */
  readonly refreshFamilyLifetime: number;
  readonly loginThrottle: boolean;
  readonly issuer: string | undefined;
  readonly audience: string | undefined;
  readonly leeway: number;
  readonly logLevel: string;
  readonly bodyLimit: number;
  readonly argon2: { readonly memoryCost: number; readonly timeCost: number; readonly parallelism: number };
  /** Processes `serve` runs, sharing the port. */
  readonly workers: number;
  /** Hashes running at once, per process. */
  readonly hashConcurrency: number;
  /** PostgreSQL connections per process. */
  readonly databasePoolSize: number;
  readonly hashQueue: number;
  readonly hashQueueTimeoutMs: number;
  readonly trustProxy: string | undefined;
  readonly limits: Limits;
}


export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: Partial<Config> = {}): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new ConfigError(`${String(issue.path[0])}: ${issue.message}`);
  }
  const e = parsed.data;
  const dataDir = path.resolve(e.LATCHKEY_DATA_DIR);
  const presets = e.LATCHKEY_PRESETS.split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (presets.length === 0) throw new ConfigError('LATCHKEY_PRESETS: name at least one preset');
  const signingKey = e.LATCHKEY_SIGNING_KEY === '' ? undefined : e.LATCHKEY_SIGNING_KEY;
  if (signingKey !== undefined && !(HMAC_ALGORITHMS as readonly string[]).includes(e.LATCHKEY_ALGORITHM)) {
    throw new ConfigError(
      `LATCHKEY_SIGNING_KEY: is an HMAC secret, but LATCHKEY_ALGORITHM is ${e.LATCHKEY_ALGORITHM}, ` +
        'whose key pairs are generated and kept in the data dir (keys.json); unset one of the two',
    );
  }
  if (signingKey !== undefined && Buffer.byteLength(signingKey, 'utf8') < MIN_HMAC_KEY_BYTES) {
    throw new ConfigError(
      `LATCHKEY_SIGNING_KEY: an HMAC key must be at least ${MIN_HMAC_KEY_BYTES} bytes; ` +
        `this one is ${Buffer.byteLength(signingKey, 'utf8')}`,
    );
  }
  const databaseUrl = e.LATCHKEY_DATABASE_URL ?? `sqlite:${path.join(dataDir, 'latchkey.sqlite3')}`;
  if (!/^(sqlite:|postgres(ql)?:\/\/)/.test(databaseUrl)) {
    throw new ConfigError('LATCHKEY_DATABASE_URL: must start with sqlite: or postgres://');
  }
  const config: Config = {
    host: e.HOST,
    port: e.PORT,
    dataDir,
    databaseUrl,
    redisUrl: e.LATCHKEY_REDIS_URL,
    presets,
    signingKey,
    algorithm: e.LATCHKEY_ALGORITHM,
    accessTokenLifetime: e.LATCHKEY_ACCESS_TOKEN_LIFETIME,
    refreshTokenLifetime: e.LATCHKEY_REFRESH_TOKEN_LIFETIME,
    rotateRefreshTokens: e.LATCHKEY_ROTATE_REFRESH_TOKENS,
    refreshFamilyLifetime: e.LATCHKEY_REFRESH_FAMILY_LIFETIME,
    loginThrottle: e.LATCHKEY_LOGIN_THROTTLE,
    issuer: e.LATCHKEY_ISSUER,
    audience: e.LATCHKEY_AUDIENCE,
    leeway: e.LATCHKEY_LEEWAY,
    logLevel: e.LATCHKEY_LOG_LEVEL,
    bodyLimit: e.LATCHKEY_BODY_LIMIT,
    argon2: {
      memoryCost: e.LATCHKEY_ARGON2_MEMORY_KIB,
      timeCost: e.LATCHKEY_ARGON2_TIME_COST,
      parallelism: e.LATCHKEY_ARGON2_PARALLELISM,
    },
    workers: e.LATCHKEY_WORKERS,
    // Leave a core for serving: cores - 1 hashes in all, shared by the workers.
    hashConcurrency:
      e.LATCHKEY_HASH_CONCURRENCY ??
      Math.max(1, Math.floor((os.availableParallelism() - 1) / e.LATCHKEY_WORKERS)),
    databasePoolSize: e.LATCHKEY_DATABASE_POOL_SIZE,
    hashQueue: e.LATCHKEY_HASH_QUEUE,
    hashQueueTimeoutMs: e.LATCHKEY_HASH_QUEUE_TIMEOUT_MS,
    trustProxy: e.LATCHKEY_TRUST_PROXY,
    limits: {
      loginAccount: e.LATCHKEY_THROTTLE_LOGIN_ACCOUNT,
      loginAddress: e.LATCHKEY_THROTTLE_LOGIN_ADDRESS,
      refresh: e.LATCHKEY_THROTTLE_REFRESH,
      verify: e.LATCHKEY_THROTTLE_VERIFY,
      register: e.LATCHKEY_THROTTLE_REGISTER,
    },
    ...overrides,
  };
  return Object.freeze(config);
}
