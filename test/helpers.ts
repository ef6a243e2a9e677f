// Shared test scaffolding: a real latchkey (storage, service, HTTP app) on a
// fresh database, driven through Fastify's inject() with no sockets.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance, InjectOptions, LightMyRequestResponse } from 'fastify';
import pg from 'pg';
import { loadConfig, type Config } from '../src/config.js';
import { buildApp } from '../src/http/app.js';
import { createLatchkey, type Latchkey } from '../src/latchkey.js';
import type { KyselyStorage } from '../src/storage/base.js';
import type { NewUser } from '../src/storage/types.js';
import { selectPresets } from '../src/presets/index.js';
import { openStorage, type OpenOptions } from '../src/storage/open.js';
import { USER_DEFAULTS } from '../src/users/fields.js';

export const FIXTURES = JSON.parse(fs.readFileSync(new URL('../../test/fixtures/simplejwt-interop.json', import.meta.url), 'utf8')) as {
  signing_key: string;
  tokens: { user_id: number; access: string; refresh: string }[];
  django_password_hashes: { password: string; hasher: string; encoded: string }[];
};

/** The key SimpleJWT minted the fixtures with; every test server uses it unless told otherwise. */
export const TEST_KEY = FIXTURES.signing_key;

export type DialectName = 'sqlite' | 'postgres';

/** SQLite always; PostgreSQL when TEST_POSTGRES_URL names a server. */
export const DIALECTS: DialectName[] = ['sqlite', ...(process.env.TEST_POSTGRES_URL ? (['postgres'] as const) : [])];

/**
 * The storage paths the storage suites run: SQLite's fast path (prepared
 * statements, group commit), the general path PostgreSQL runs but on SQLite
 * (so a run without TEST_POSTGRES_URL covers it too), and PostgreSQL when
 * TEST_POSTGRES_URL names a server.
 */
export const STORAGE_VARIANTS: { name: string; dialect: DialectName; opts: OpenOptions }[] = [
  { name: 'sqlite', dialect: 'sqlite', opts: {} },
  { name: 'sqlite, writes on the event loop', dialect: 'sqlite', opts: { writes: 'loop' } },
  { name: 'sqlite, general path', dialect: 'sqlite', opts: { fastPath: false } },
  ...(process.env.TEST_POSTGRES_URL ? [{ name: 'postgres', dialect: 'postgres' as const, opts: {} }] : []),
];

export function tempDir(prefix = 'latchkey-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Runs one statement on the TEST_POSTGRES_URL server. */
async function onTestServer(statement: string): Promise<void> {
  const client = new pg.Client({ connectionString: process.env.TEST_POSTGRES_URL! });
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}

/**
 * A database URL for a fresh, empty database of the given dialect: a new
 * SQLite file, or a new PostgreSQL database on the TEST_POSTGRES_URL server.
 * (A database, not a schema: Kysely's migrator reads the catalog of the whole
 * database, and schemas that parallel test files drop under it made it fail.)
 */
export async function freshDatabaseUrl(dialect: DialectName, dir = tempDir()): Promise<string> {
  if (dialect === 'sqlite') return `sqlite:${path.join(dir, 'test.sqlite3')}`;
  const name = `lk_${randomBytes(6).toString('hex')}`;
  await onTestServer(`CREATE DATABASE ${name}`);
  const url = new URL(process.env.TEST_POSTGRES_URL!);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A URL for a new schema `name` inside the PostgreSQL database at `url`, reached through search_path. */
export async function schemaUrl(url: string, name: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`CREATE SCHEMA IF NOT EXISTS ${name}`);
  } finally {
    await client.end();
  }
  const u = new URL(url);
  u.searchParams.set('options', `-c search_path=${name}`);
  return u.toString();
}

/** Drops what freshDatabaseUrl made for PostgreSQL (SQLite files go with their temp dir). */
export async function dropDatabase(url: string): Promise<void> {
  if (!url.startsWith('postgres')) return;
  const name = /^\/(lk_[0-9a-f]{12})$/.exec(new URL(url).pathname)?.[1];
  if (!name) return;
  await onTestServer(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

export interface TestServer extends Latchkey {
  config: Config;
  dir: string;
  request(opts: InjectOptions): Promise<LightMyRequestResponse>;
  post(url: string, body?: unknown, headers?: Record<string, string>): Promise<LightMyRequestResponse>;
  get(url: string, token?: string): Promise<LightMyRequestResponse>;
  /** Creates a user through the service, bypassing the password validators (as the CLI does). */
  user(fields: { username: string; password: string; email?: string; phone_number?: string; id?: number }): Promise<{ id: number }>;
}

export interface ServerOptions {
  env?: Record<string, string>;
  dialect?: DialectName;
  now?: () => number;
  /**
   * Send every request over a real socket to the listening app, instead of
   * app.inject(): what the request metrics count (inject never reaches the server).
   */
  network?: boolean;
  /** How to open the storage (a STORAGE_VARIANTS row's options); by default as `serve` does. */
  storage?: OpenOptions;
}

/** An inject()-like request over a real socket: status, headers and body, as LightMyRequestResponse has them. */
async function overNetwork(base: string, o: InjectOptions): Promise<LightMyRequestResponse> {
  const headers = new Headers(o.headers as Record<string, string> | undefined);
  let body: string | undefined;
  if (o.payload !== undefined) {
    if (typeof o.payload === 'string') body = o.payload;
    else {
      body = JSON.stringify(o.payload);
      if (!headers.has('content-type')) headers.set('content-type', 'application/json');
    }
  }
  if (typeof o.url !== 'string') throw new TypeError('a request over the network takes its url as a string');
  const res = await fetch(`${base}${o.url}`, { method: o.method ?? 'GET', headers, ...(body !== undefined ? { body } : {}) });
  const text = await res.text();
  return {
    statusCode: res.status,
    headers: Object.fromEntries(res.headers),
    body: text,
    payload: text,
    json: () => JSON.parse(text) as unknown,
  } as unknown as LightMyRequestResponse;
}

export async function startServer(opts: ServerOptions = {}): Promise<TestServer> {
  const dir = tempDir();
  const env: Record<string, string> = {
    LATCHKEY_DATA_DIR: dir,
    // A fresh database, unless the caller brings one.
    LATCHKEY_DATABASE_URL: opts.env?.LATCHKEY_DATABASE_URL ?? (await freshDatabaseUrl(opts.dialect ?? 'sqlite', dir)),
    LATCHKEY_SIGNING_KEY: TEST_KEY,
    LATCHKEY_LOG_LEVEL: 'silent',
    LATCHKEY_LOGIN_THROTTLE: 'off',
    ...opts.env,
  };
  const config = loadConfig(env);
  const lk = await createLatchkey(config, {
    logger: false,
    ...(opts.now ? { now: opts.now } : {}),
    ...(opts.storage ? { storage: openStorage(config.databaseUrl, opts.storage) } : {}),
  });
  let request = (o: InjectOptions) => lk.app.inject(o);
  if (opts.network) {
    await lk.app.listen({ host: '127.0.0.1', port: 0 });
    const base = `http://127.0.0.1:${(lk.app.server.address() as { port: number }).port}`;
    request = (o) => overNetwork(base, o);
  }
  return {
    ...lk,
    config,
    dir,
    request,
    post: (url, body, headers = {}) =>
      request({ method: 'POST', url, ...(body === undefined ? {} : { payload: body as InjectOptions['payload'] }), headers }),
    get: (url, token) => request({ method: 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} }),
    async user(fields) {
      const u = await lk.storage.createUser({
        ...USER_DEFAULTS,
        username: fields.username,
        password: await lk.service.hasher.hash(fields.password),
        email: fields.email ?? '',
        phone_number: fields.phone_number ?? null,
        date_joined: lk.service.now(),
        ...(fields.id !== undefined ? { id: fields.id } : {}),
      });
      return { id: u.id };
    },
    async close() {
      await lk.close();
      await dropDatabase(env.LATCHKEY_DATABASE_URL!);
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Decodes a JWT's payload without checking it. */
export function claimsOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

export function headerOf(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** Tracks what a suite opened so `after` can close and remove it; `defaults` apply to every open. */
export function storageTracker(dialect: DialectName, defaults: OpenOptions = {}) {
  const storages: KyselyStorage[] = [];
  const urls: string[] = [];
  return {
    async url(): Promise<string> {
      const url = await freshDatabaseUrl(dialect);
      urls.push(url);
      return url;
    },
    open(url: string, opts?: OpenOptions): KyselyStorage {
      const s = openStorage(url, { ...defaults, ...opts });
      storages.push(s);
      return s;
    },
    /** A migrated storage on a fresh, empty database. */
    async fresh(opts?: OpenOptions): Promise<KyselyStorage> {
      const s = this.open(await this.url(), opts);
      await s.migrate();
      return s;
    },
    async cleanup(): Promise<void> {
      for (const s of storages) await s.close().catch(() => {});
      for (const url of urls) {
        if (url.startsWith('sqlite:')) {
          fs.rmSync(path.dirname(url.slice('sqlite:'.length)), { recursive: true, force: true });
          continue;
        }
        await dropDatabase(url);
      }
    },
  };
}

/**
 * The app of `s` built again on the same service, with the fast lane off: the
 * answers the fast lane must give byte for byte. The caller closes it.
 */
export function appWithoutFastLane(s: TestServer): Promise<FastifyInstance> {
  return buildApp({
    config: s.config,
    service: s.service,
    presets: selectPresets(s.config.presets),
    keys: s.keys,
    logger: false,
    fastLane: false,
    ops: { pingDatabase: () => s.storage.ping(), hashQueueDepth: () => 0, onAuthEvent: () => {} },
  });
}

let serial = 0;
/** A user record for storage tests, unique per call; `over` sets any field. */
export function newUser(over: Partial<NewUser> = {}): NewUser {
  serial++;
  return {
    ...USER_DEFAULTS,
    username: `user${serial}`,
    password: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA',
    email: `user${serial}@example.com`,
    phone_number: null,
    first_name: 'Ada',
    last_name: 'Lovelace',
    address: '12 St James Square',
    postal_code: 'SW1Y 4JH',
    birthdate: '1815-12-10',
    profile_image: null,
    is_active: true,
    is_staff: false,
    is_superuser: false,
    date_joined: 1_700_000_000,
    ...over,
  };
}

// (Imported here rather than at the top: only the end of this file was open to change.)
import { test as nodeTest } from 'node:test';

/**
 * The `skip` option for a suite that needs something outside the repository
 * (a Debian package, a browser), given why it cannot run here (or nothing).
 * Under CI (CI set in the environment), where .ci/run installs those things, a
 * missing one is not skipped quietly: a test named after it fails the run.
 * Elsewhere the suite is skipped and node:test prints the reason.
 */
export function skipUnless(missing: string | false | undefined, suite: string): string | false {
  if (!missing) return false;
  if (process.env.CI) {
    nodeTest(`${suite}: requirement`, () => {
      throw new Error(`${missing} (CI is set, so this suite must run)`);
    });
  }
  return missing;
}
