// Assembles a latchkey instance from a Config: storage (migrated), signing key,
// token factory, hasher, service and the HTTP app. The CLI and the tests both
// start from here.
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Config } from './config.js';
import { createRequire } from 'node:module';
import path from 'node:path';
import { appLogger, buildApp } from './http/app.js';
import { createMailer, loadLinkSecrets, type Mailer, type MailLogger } from './mail/index.js';
import { createJwtBackend } from './jwt.js';
import { KeyRing } from './keys.js';
import { PasswordHasher } from './passwords.js';
import { selectPresets } from './presets/index.js';
import { AuthService, type AuthEvent } from './service.js';
import { databaseStartupError, openStorage, type SqliteWritesAt } from './storage/open.js';
import type { Storage } from './storage/types.js';
import { TokenFactory } from './tokens.js';
import { checkPresetClaims } from './users/claims.js';
import type { Redis } from 'ioredis';
import type * as IORedis from 'ioredis';
import { createThrottle, NO_THROTTLE, type ThrottleMode } from './throttle.js';

export interface Latchkey {
  app: FastifyInstance;
  service: AuthService;
  mailer: Mailer;
  storage: Storage;
  keys: KeyRing;
  close(): Promise<void>;
}

export interface CreateOptions {
  /** false for silence (tests); otherwise the app logs at LATCHKEY_LOG_LEVEL, unless loggerInstance is given. */
  logger?: false;
  loggerInstance?: FastifyBaseLogger;
  /** A frozen clock for tests (seconds). */
  now?: () => number;
  /** Use this storage instead of opening config.databaseUrl. */
  storage?: Storage;
  /** `cluster` in a worker of `serve --workers N` (see serve.ts). */
  throttleMode?: ThrottleMode;
  /** SQLite file: where the fast path's writes commit (OpenOptions.writes); `primary` in a worker of `serve --workers N`. */
  sqliteWrites?: SqliteWritesAt;
}

/** The mailer: its settings from Config, its outbox in the storage's database. */
export function createConfiguredMailer(config: Config, storage: Storage, logger?: MailLogger): Mailer {
  const m = config.mail;
  return createMailer({
    settings: {
      smtpUrl: m.smtpUrl,
      emailFrom: m.emailFrom,
      mailDir: path.join(config.dataDir, 'mail'),
      templatesDir: m.templatesDir,
      secrets: loadLinkSecrets({ secretKey: m.secretKey, fallbacks: m.secretKeyFallbacks, dataDir: config.dataDir }),
      passwordResetTimeout: m.passwordResetTimeout,
      activationUrl: m.activationUrl,
      passwordResetConfirmUrl: m.passwordResetConfirmUrl,
      usernameResetConfirmUrl: m.usernameResetConfirmUrl,
      domain: m.domain,
      siteName: m.siteName,
      retry: { maxAttempts: m.maxAttempts, backoffMinMs: m.retryMinMs, backoffMaxMs: m.retryMaxMs },
      pollIntervalMs: m.pollMs,
    },
    outbox: storage.outbox,
    logger,
  });
}

/** The service alone, without HTTP: what the CLI's user commands need. */
export async function createService(config: Config, opts: CreateOptions & { mailLogger?: MailLogger } = {}) {
  const presets = selectPresets(config.presets); // fail fast on a bad preset list
  checkPresetClaims(presets, [config.userIdClaim, config.tokenTypeClaim, config.jtiClaim]);
  const storage =
    opts.storage ??
    openStorage(config.databaseUrl, {
      poolSize: config.databasePoolSize,
      ...(opts.sqliteWrites ? { writes: opts.sqliteWrites } : {}),
    });
  try {
    await storage.migrate();
  } catch (err) {
    await storage.close().catch(() => {});
    throw databaseStartupError(config.databaseUrl, err);
  }
  const keys = new KeyRing(config);
  const redis = config.redisUrl && config.loginThrottle ? openRedis(config.redisUrl) : undefined;
  // Tokens presented again and again (access, sliding) are worth remembering; a refresh token is used once.
  const typeClaim = config.tokenTypeClaim;
  const tokens = new TokenFactory(createJwtBackend(keys, { remember: (p) => p[typeClaim] === 'access' || p[typeClaim] === 'sliding' }), {
    accessLifetime: config.accessTokenLifetime,
    refreshLifetime: config.refreshTokenLifetime,
    leeway: config.leeway,
    issuer: config.issuer,
    audience: config.audience,
    slidingLifetime: config.slidingTokenLifetime,
    slidingRefreshLifetime: config.slidingTokenRefreshLifetime,
    userIdField: config.userIdField,
    userIdClaim: config.userIdClaim,
    tokenTypeClaim: config.tokenTypeClaim,
    jtiClaim: config.jtiClaim,
  });
  const hasher = new PasswordHasher({
    ...config.argon2,
    concurrency: config.hashConcurrency,
    maxQueue: config.hashQueue,
    queueTimeoutMs: config.hashQueueTimeoutMs,
  });
  let mailer: Mailer;
  try {
    mailer = createConfiguredMailer(config, storage, opts.mailLogger);
  } catch (err) {
    await storage.close().catch(() => {});
    throw err;
  }
  // The service's events, fanned out to whoever listens (the metrics).
  const listeners = new Set<(event: AuthEvent) => void>();
  const onAuthEvent = (listener: (event: AuthEvent) => void) => void listeners.add(listener);
  const service = new AuthService(storage, tokens, hasher, {
    onEvent: (event) => {
      for (const listener of listeners) listener(event);
    },
    refreshFamilyLifetime: config.refreshFamilyLifetime,
    rotationReuseInterval: config.rotationReuseInterval,
    claims: config.tokenClaims,
    authTokenClasses: config.authTokenClasses,
    mailer,
    onBackgroundError: (err) => opts.mailLogger?.error({ err }, 'recording the mails of a link request failed'),
    throttle: config.loginThrottle ? createThrottle(config.limits, { mode: opts.throttleMode, redis }) : NO_THROTTLE,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const close = async () => {
    keys.stop();
    await service.settled();
    await mailer.stop();
    await storage.close();
    redis?.disconnect();
  };
  return { service, storage, keys, presets, redis, onAuthEvent, mailer, close };
}

/**
 * Redis for shared counters. Commands fail fast while it is unreachable (the
 * throttle then falls back to local counters) and it reconnects on its own.
 */
function openRedis(url: string): Redis {
  // Loaded only when Redis is configured (about 2 MB of heap per process otherwise).
  const { Redis: Client } = createRequire(import.meta.url)('ioredis') as typeof IORedis;
  const redis = new Client(url, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', () => {}); // reported by the failing command; reconnects by itself
  return redis;
}

export async function createLatchkey(config: Config, opts: CreateOptions = {}): Promise<Latchkey> {
  const logger = appLogger({ config, ...opts });
  const {
    service,
    storage,
    keys,
    presets,
    redis,
    onAuthEvent,
    mailer,
    close: closeService,
  } = await createService(config, {
    ...opts,
    mailLogger: logger,
  });
  keys.watch(() => {}); // pick up `latchkey keys rotate` from another process
  const app = await buildApp({
    config,
    service,
    presets,
    keys,
    ops: {
      pingDatabase: () => storage.ping(),
      pingRedis: redis ? () => redis.ping().then(() => undefined) : undefined,
      hashQueueDepth: () => service.hasher.depth,
      onAuthEvent,
      clusterWorker: opts.throttleMode === 'cluster',
    },
    loggerInstance: logger,
  });
  // Mail goes out from every process that serves; claiming a mail is safe across processes.
  mailer.start();
  void service.hasher.warm().catch(() => {});
  let closed = false;
  return {
    app,
    service,
    mailer,
    storage,
    keys,
    async close() {
      if (closed) return;
      closed = true;
      await app.close();
      await closeService();
    },
  };
}
