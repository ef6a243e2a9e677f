// Configuration: one table of settings (SETTINGS below). Each row names its
// environment variable, its schema and default, the Config key it fills and
// its meaning; the Config type, the validation and README's configuration
// table (settingsMarkdown, checked by test/config.test.ts) all come from it,
// so a new setting is one row. Settings are validated once at startup, CLI
// overrides through the same schemas, and the result is frozen deeply.
// Anything wrong is a ConfigError, which stops startup with a one-line reason.
import path from 'node:path';
import { z } from 'zod';
import { usableCores } from './cores.js';
import { ConfigError } from './errors.js';
import { bool, int, limit, setting, showLimit } from './config-kit.js';
import { MAIL_SETTINGS } from './config-mail.js';
import { TOKEN_SETTINGS } from './config-tokens.js';
import { DEFAULT_LIMITS } from './throttle.js';
import { ALGORITHMS, HMAC_ALGORITHMS, MIN_HMAC_KEY_BYTES } from '@latchkey/verify/wire';

export { ALGORITHMS, ASYMMETRIC_ALGORITHMS, HMAC_ALGORITHMS, MIN_HMAC_KEY_BYTES, type Algorithm } from '@latchkey/verify/wire';

// The settings, in README's order. A row's `resolve` may read rows above it.
export const SETTINGS = [
  setting({
    env: 'HOST',
    key: 'host',
    schema: z.string().min(1).default('127.0.0.1'),
    meaning: 'address to listen on (`serve --host` overrides it)',
  }),
  setting({
    env: 'PORT',
    key: 'port',
    schema: int(0, 65535, 'must be a port number from 0 to 65535').default(8000),
    meaning: 'port to listen on (`serve --port` overrides it)',
  }),
  setting({
    env: 'LATCHKEY_DATA_DIR',
    key: 'dataDir',
    schema: z.string().min(1).default('./data'),
    resolve: (v) => path.resolve(v),
    meaning: 'the SQLite file and the generated signing key',
  }),
  setting({
    env: 'LATCHKEY_DATABASE_URL',
    key: 'databaseUrl',
    schema: z
      .string()
      .min(1)
      .refine((v) => /^(sqlite:|postgres(ql)?:\/\/)/.test(v), 'must start with sqlite: or postgres://')
      .optional(),
    resolve: (v, done) => v ?? `sqlite:${path.join(done.dataDir as string, 'latchkey.sqlite3')}`,
    shown: '`sqlite:<data dir>/latchkey.sqlite3`',
    meaning: '`sqlite:PATH` or `postgres://user:pass@host:port/db`',
  }),
  setting({
    env: 'LATCHKEY_DATABASE_POOL_SIZE',
    key: 'databasePoolSize',
    schema: int(1, 1000).default(10),
    meaning: 'PostgreSQL connections per process',
  }),
  setting({
    env: 'LATCHKEY_REDIS_URL',
    key: 'redisUrl',
    schema: z.string().min(1).optional(),
    meaning: 'shared throttling counters across instances',
  }),
  setting({
    env: 'LATCHKEY_WORKERS',
    key: 'workers',
    schema: int(1, 256, 'must be a whole number from 1 to 256').default(usableCores()),
    shown: 'the cores it may use (CPU affinity, capped by a cgroup CPU quota)',
    meaning: 'processes `serve` runs, sharing the port (`serve --workers N` overrides it; why this default: BENCHMARKS.md)',
  }),
  setting({
    env: 'LATCHKEY_PRESETS',
    key: 'presets',
    schema: z
      .string()
      .default('simplejwt,api-auth,account')
      .transform((v) =>
        v
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean),
      )
      .refine((names) => names.length > 0, 'name at least one preset'),
    resolve: (v): readonly string[] => v,
    shown: '`simplejwt,api-auth,account`',
    meaning: 'the presets to mount: built-in names, and paths to preset files (see "Your own backend")',
  }),
  setting({
    env: 'LATCHKEY_AUTH_HEADER_TYPES',
    key: 'authHeaderTypes',
    // SimpleJWT's AUTH_HEADER_TYPES; undefined means: each preset decides.
    schema: z
      .string()
      .transform((v) =>
        v
          .split(',')
          .map((t) => t.trim())
          .filter(Boolean),
      )
      .refine(
        (types) => types.length > 0 && types.every((t) => /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(t)),
        'one or more schemes, comma-separated',
      )
      .optional(),
    resolve: (v): readonly string[] | undefined => v,
    shown: 'per preset (`djoser` `JWT`, others `Bearer`)',
    meaning:
      "the `Authorization` schemes accepted before an access token (SimpleJWT's `AUTH_HEADER_TYPES`); the first is named in `WWW-Authenticate`",
  }),
  setting({
    env: 'LATCHKEY_SIGNING_KEY',
    key: 'signingKey',
    schema: z.string().optional(),
    // Undefined means: load the key from the data dir, generating it on first start.
    resolve: (v) => (v === '' ? undefined : v),
    shown: 'generated into the data dir',
    meaning: `HMAC key, at least ${MIN_HMAC_KEY_BYTES} bytes (HMAC algorithms only)`,
  }),
  setting({
    env: 'LATCHKEY_ALGORITHM',
    key: 'algorithm',
    schema: z.enum(ALGORITHMS, { message: `must be one of ${ALGORITHMS.join(', ')}` }).default('HS256'),
    meaning:
      '`HS256`, `HS384`, `HS512`, or `EdDSA`, `ES256`, `RS256` with key pairs kept in the data dir and published as a JWKS; each key verifies only its own algorithm',
  }),
  setting({
    env: 'LATCHKEY_PRIVATE_KEYS_FILE',
    key: 'privateKeysFile',
    schema: z.string().trim().min(1).optional(),
    shown: 'none (`keys.json` in the data dir)',
    meaning: "a key ring in `keys.json`'s format (e.g. a mounted secret), read only and reloaded when it changes (EdDSA, ES256, RS256)",
  }),
  setting({
    env: 'LATCHKEY_PRIVATE_KEY_PEM_FILE',
    key: 'privateKeyPemFile',
    schema: z.string().trim().min(1).optional(),
    shown: 'none',
    meaning: 'one private key in PEM (PKCS#8, SEC1 or PKCS#1), read only; its `kid` is derived from its public key (EdDSA, ES256, RS256)',
  }),
  setting({
    env: 'LATCHKEY_KEY_PUBLISH_AHEAD',
    key: 'keyPublishAhead',
    // Twice the JWKS's Cache-Control max-age (300 s, keys.ts JWKS_MAX_AGE): a
    // copy held by a shared cache and then by a verifier has been refetched
    // before the first token the new key signs. 0 signs at once.
    schema: int(0, 30 * 86400).default(600),
    meaning: 'seconds `latchkey keys rotate` publishes the next key in the JWKS before signing with it (`--now` skips it)',
  }),
  ...TOKEN_SETTINGS,
  setting({
    env: 'LATCHKEY_LOGIN_THROTTLE',
    key: 'loginThrottle',
    schema: bool.default(true),
    shown: '`on`',
    meaning: '`off` turns every limit below off (for tests)',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_LOGIN_ACCOUNT',
    key: 'limits.loginAccount',
    schema: limit(DEFAULT_LIMITS.loginAccount),
    shown: showLimit(DEFAULT_LIMITS.loginAccount),
    meaning: 'failed logins per account per window (`POINTS/SECONDS`)',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_LOGIN_ADDRESS',
    key: 'limits.loginAddress',
    schema: limit(DEFAULT_LIMITS.loginAddress),
    shown: showLimit(DEFAULT_LIMITS.loginAddress),
    meaning: 'failed logins per client address per window',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_REFRESH',
    key: 'limits.refresh',
    schema: limit(DEFAULT_LIMITS.refresh),
    shown: showLimit(DEFAULT_LIMITS.refresh),
    meaning: 'refreshes per client address per window',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_VERIFY',
    key: 'limits.verify',
    schema: limit(DEFAULT_LIMITS.verify),
    shown: showLimit(DEFAULT_LIMITS.verify),
    meaning: 'verifies per client address per window',
  }),
  setting({
    env: 'LATCHKEY_THROTTLE_REGISTER',
    key: 'limits.register',
    schema: limit(DEFAULT_LIMITS.register),
    shown: showLimit(DEFAULT_LIMITS.register),
    meaning: 'registrations per client address per window',
  }),
  setting({
    env: 'LATCHKEY_TRUST_PROXY',
    key: 'trustProxy',
    schema: z.string().optional(),
    meaning: 'comma-separated proxy addresses or CIDRs whose `X-Forwarded-For` is believed',
  }),
  setting({
    env: 'LATCHKEY_CORS_ORIGINS',
    key: 'corsOrigins',
    schema: z
      .string()
      .optional()
      .transform((v) =>
        (v ?? '')
          .split(',')
          .map((o) => o.trim())
          .filter(Boolean),
      )
      .refine(
        (list) => list.every((o) => o === '*' || isOrigin(o)),
        'must be exact origins such as https://app.example.com, comma-separated (or `*`)',
      ),
    resolve: (v): readonly string[] => v,
    shown: 'none (CORS off)',
    meaning: 'comma-separated origins whose pages may call latchkey (CORS); `*` for any, only without the refresh cookie',
  }),
  setting({
    env: 'LATCHKEY_CORS_MAX_AGE',
    key: 'corsMaxAge',
    schema: int(0, 86400).default(600),
    meaning: 'seconds a browser may cache a CORS preflight answer',
  }),
  setting({
    env: 'LATCHKEY_REFRESH_COOKIE',
    key: 'refreshCookie',
    schema: z
      .string()
      .optional()
      .transform((v): boolean | readonly string[] => {
        const t = (v ?? '').trim();
        if (['', 'off', 'false', '0', 'no'].includes(t.toLowerCase())) return false;
        if (['on', 'true', '1', 'yes'].includes(t.toLowerCase())) return true;
        return t
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean);
      }),
    shown: '`off`',
    meaning: '`on` (or a list of preset ids): the refresh token travels in an HttpOnly cookie, not in bodies',
  }),
  setting({
    env: 'LATCHKEY_REFRESH_COOKIE_NAME',
    key: 'refreshCookieName',
    schema: z
      .string()
      .trim()
      .regex(/^[A-Za-z0-9!#$%&'*+.^_`|~-]+$/, "must be a cookie name (letters, digits and !#$%&'*+.^_`|~-)")
      .default('latchkey-refresh'),
    meaning: "the refresh cookie's name",
  }),
  setting({
    env: 'LATCHKEY_REFRESH_COOKIE_SAMESITE',
    key: 'refreshCookieSameSite',
    schema: z
      .string()
      .trim()
      .toLowerCase()
      .pipe(z.enum(['strict', 'lax', 'none'], { message: 'must be Strict, Lax or None' }))
      .default('lax'),
    meaning: "the refresh cookie's SameSite: `strict`, `lax`, or `none` (a front-end on another site; needs Secure), in any case",
  }),
  setting({
    env: 'LATCHKEY_REFRESH_COOKIE_SECURE',
    key: 'refreshCookieSecure',
    schema: bool.default(true),
    shown: '`on`',
    meaning: '`off` drops Secure from the refresh cookie (plain-HTTP development only)',
  }),
  setting({
    env: 'LATCHKEY_REFRESH_COOKIE_DOMAIN',
    key: 'refreshCookieDomain',
    schema: z.string().trim().min(1).optional(),
    shown: 'none (this host only)',
    meaning: "the refresh cookie's Domain",
  }),
  setting({
    env: 'LATCHKEY_BODY_LIMIT',
    key: 'bodyLimit',
    schema: int(1024, 10 * 1024 * 1024).default(64 * 1024),
    meaning: 'largest request body, in bytes',
  }),
  setting({
    env: 'LATCHKEY_ARGON2_MEMORY_KIB',
    key: 'argon2.memoryCost',
    schema: int(19456, 4 * 1024 * 1024).default(19456),
    meaning: "argon2id memory, in KiB; below OWASP's minimum is refused",
  }),
  setting({
    env: 'LATCHKEY_ARGON2_TIME_COST',
    key: 'argon2.timeCost',
    schema: int(2, 100).default(2),
    meaning: "argon2id passes; below OWASP's minimum is refused",
  }),
  setting({ env: 'LATCHKEY_ARGON2_PARALLELISM', key: 'argon2.parallelism', schema: int(1, 64).default(1), meaning: 'argon2id lanes' }),
  setting({
    env: 'LATCHKEY_HASH_CONCURRENCY',
    key: 'hashConcurrency',
    schema: int(1, 256).optional(),
    // Leave a core for serving: cores - 1 hashes in all, shared by the workers.
    resolve: (v, done) => v ?? Math.max(1, Math.floor((usableCores() - 1) / (done.workers as number))),
    shown: '(cores − 1) ÷ workers, at least 1',
    meaning: 'password hashes running at once, per process',
  }),
  setting({
    env: 'LATCHKEY_HASH_QUEUE',
    key: 'hashQueue',
    schema: int(0, 100000).default(64),
    meaning: 'hashes allowed to wait; past that, logins get 503',
  }),
  setting({
    env: 'LATCHKEY_HASH_QUEUE_TIMEOUT_MS',
    key: 'hashQueueTimeoutMs',
    schema: int(1, 60000).default(2000),
    meaning: 'longest a hash may wait before its login gets 503',
  }),
  ...MAIL_SETTINGS,
  setting({
    env: 'LATCHKEY_LOG_LEVEL',
    key: 'logLevel',
    schema: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    meaning: 'pino level; failed requests are logged at `info`, successes at `debug`',
  }),
] as const;

type Row = (typeof SETTINGS)[number];
/** The environment variables latchkey reads. */
export type SettingName = Row['env'];
type Flat = { [R in Row as R['key']]: ReturnType<R['resolve']> };
type Head<K> = K extends `${infer H}.${string}` ? H : K;
type Nest<T> = {
  readonly [K in keyof T & string as Head<K>]: K extends `${infer H}.${string}`
    ? Nest<{ [P in keyof T & string as P extends `${H}.${infer Rest}` ? Rest : never]: T[P] }>
    : T[K];
};

/** The configuration, as SETTINGS makes it: one key per row (`argon2.*` and `limits.*` nested), frozen. */
export type Config = Nest<Flat>;

/** Values given on the command line, by the variable they override; validated as the variable is. */
export type SettingOverrides = Partial<Record<SettingName, string | number>>;

const schema = z.object(Object.fromEntries(SETTINGS.map((s) => [s.env, s.schema])));

const firstIssue = (error: z.ZodError, name?: string): string => {
  const issue = error.issues[0]!;
  return `${name ?? String(issue.path[0])}: ${issue.message}`;
};

/**
 * Checks one setting's value as loadConfig would, for a command-line option
 * that overrides it; returns the reason it is refused, or undefined.
 */
export function settingError(name: SettingName, value: string): string | undefined {
  const row = SETTINGS.find((s) => s.env === name)!;
  const parsed = row.schema.safeParse(value);
  return parsed.success ? undefined : parsed.error.issues[0]!.message;
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env, overrides: SettingOverrides = {}): Config {
  const given: Record<string, string | undefined> = { ...env };
  for (const [name, value] of Object.entries(overrides)) if (value !== undefined) given[name] = String(value);
  const parsed = schema.safeParse(given);
  if (!parsed.success) throw new ConfigError(firstIssue(parsed.error));
  const flat: Record<string, unknown> = {};
  for (const row of SETTINGS) flat[row.key] = row.resolve(parsed.data[row.env], flat);
  checkTogether(flat as Flat);
  const config: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(flat)) {
    const [head, rest] = key.split('.') as [string, string | undefined];
    if (rest === undefined) config[head] = value;
    else ((config[head] ??= {}) as Record<string, unknown>)[rest] = value;
  }
  return deepFreeze(config) as Config;
}

/** Rules that involve more than one setting. */
function checkTogether(c: Flat): void {
  if (c.refreshCookie !== false && c.corsOrigins.includes('*')) {
    throw new ConfigError(
      'LATCHKEY_CORS_ORIGINS: `*` cannot be combined with LATCHKEY_REFRESH_COOKIE (a cookie needs credentials, which browsers refuse with `*`); list the origins',
    );
  }
  if (c.refreshCookieSameSite === 'none' && !c.refreshCookieSecure) {
    throw new ConfigError('LATCHKEY_REFRESH_COOKIE_SAMESITE: None requires a Secure cookie; unset LATCHKEY_REFRESH_COOKIE_SECURE=off');
  }
  const { signingKey, algorithm } = c;
  if (signingKey !== undefined && !(HMAC_ALGORITHMS as readonly string[]).includes(algorithm)) {
    throw new ConfigError(
      `LATCHKEY_SIGNING_KEY: is an HMAC secret, but LATCHKEY_ALGORITHM is ${algorithm}, ` +
        'whose key pairs are kept in the data dir (keys.json) or read from LATCHKEY_PRIVATE_KEYS_FILE or LATCHKEY_PRIVATE_KEY_PEM_FILE; unset one of the two',
    );
  }
  if (signingKey !== undefined && Buffer.byteLength(signingKey, 'utf8') < MIN_HMAC_KEY_BYTES) {
    throw new ConfigError(
      `LATCHKEY_SIGNING_KEY: an HMAC key must be at least ${MIN_HMAC_KEY_BYTES} bytes; ` +
        `this one is ${Buffer.byteLength(signingKey, 'utf8')}`,
    );
  }
}

/** True for an exact origin: scheme, host and port, nothing else (no path, no trailing slash). */
function isOrigin(o: string): boolean {
  try {
    const u = new URL(o);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.origin === o;
  } catch {
    return false;
  }
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

/** README's configuration table, from SETTINGS (`npm run config-table` prints it). */
export function settingsMarkdown(): string {
  const shownDefault = (row: Row): string => {
    if (row.shown !== undefined) return row.shown;
    const parsed = row.schema.safeParse(undefined);
    if (!parsed.success || parsed.data === undefined) return 'none';
    if (typeof parsed.data !== 'string' && typeof parsed.data !== 'number') throw new Error(`${row.env}: give \`shown\``);
    return `\`${parsed.data}\``;
  };
  return [
    '| variable | default | meaning |',
    '| --- | --- | --- |',
    ...SETTINGS.map((row) => `| \`${row.env}\` | ${shownDefault(row)} | ${row.meaning} |`),
  ].join('\n');
}
