// Opens the storage named by a database URL: `sqlite:PATH` (or `sqlite::memory:`)
// or `postgres://...`. Each database has its folder (sqlite/, postgres/) for
// what differs; the rest is shared (base.ts).
import path from 'node:path';
import { ConfigError, StorageUnavailableError } from '../errors.js';
import type { KyselyStorage } from './base.js';
import { openPostgres } from './postgres/connect.js';
import { openSqlite } from './sqlite/connect.js';

/** Where SQLite's fast-path writes commit (OpenOptions.writes). */
export type SqliteWritesAt = 'thread' | 'primary' | 'loop';

export interface OpenOptions {
  /** PostgreSQL pool size per process. */
  poolSize?: number;
  /**
   * SQLite only: prepared statements and group commit for the hot reads and
   * writes (the default). False runs the general path PostgreSQL runs; the
   * storage tests use it so that every run covers that path.
   */
  fastPath?: boolean;
  /**
   * SQLite file only, on the fast path: where the writes commit. `thread` (the
   * default): a thread of their own (sqlite/writer-thread.ts). `primary`: the
   * cluster primary, in a worker of `serve --workers N` (sqlite/primary-writer.ts).
   * `loop`: the event loop's connection, as an in-memory database does; the
   * storage tests use it so that every run covers it.
   */
  writes?: SqliteWritesAt;
}

/** The SQLite file a database URL names, resolved; undefined for PostgreSQL and for `sqlite::memory:`. */
export function sqliteFileOf(url: string): string | undefined {
  if (!url.startsWith('sqlite:')) return undefined;
  const file = url.slice('sqlite:'.length);
  return file === ':memory:' || file === '' ? undefined : path.resolve(file);
}

export function openStorage(url: string, opts: OpenOptions = {}): KyselyStorage {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length), opts.fastPath ?? true, opts.writes ?? 'thread');
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, opts.poolSize ?? 10);
  throw new ConfigError('LATCHKEY_DATABASE_URL: must start with sqlite: or postgres://');
}

/** The driver's own words for why it failed (an AggregateError from a dual-stack connect has no message of its own). */
function reasonOf(err: unknown): string {
  const e = (err instanceof StorageUnavailableError ? err.cause : err) as (Error & { code?: unknown; errors?: unknown[] }) | undefined;
  if (!e) return 'unknown error';
  if (e.message) return e.message;
  if (Array.isArray(e.errors) && e.errors.length) return e.errors.map((x) => reasonOf(x)).join('; ');
  return typeof e.code === 'string' ? e.code : String(e);
}

/**
 * What an operator reads when the database cannot be used at startup: where
 * latchkey tried (host:port and database, never the password), the driver's
 * reason, and what to check. Errors that are not the database's are returned
 * as they are.
 */
export function databaseStartupError(url: string, err: unknown): unknown {
  const unreachable = err instanceof StorageUnavailableError;
  const fromPg = typeof (err as { severity?: unknown } | null)?.severity === 'string';
  if (!unreachable && !fromPg) return err;
  const reason = reasonOf(err);
  if (url.startsWith('sqlite:')) {
    return new ConfigError(
      `cannot open the SQLite database ${url.slice('sqlite:'.length)} (LATCHKEY_DATABASE_URL): ${reason}; check that its directory exists and is writable`,
    );
  }
  let where = 'the configured server';
  let user = '';
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    where = `${host}:${u.port || '5432'}, database "${decodeURIComponent(u.pathname.slice(1)) || decodeURIComponent(u.username)}"`;
    user = decodeURIComponent(u.username);
  } catch {
    // not a URL node can parse: pg failed on it too, and says so in `reason`
  }
  return new ConfigError(
    unreachable
      ? `cannot reach PostgreSQL at ${where} (LATCHKEY_DATABASE_URL): ${reason}. ` +
          'Check that the server is running and accepts TCP connections from this host, and the host and port in LATCHKEY_DATABASE_URL'
      : `PostgreSQL at ${where} refused latchkey${user ? ` (user "${user}")` : ''}: ${reason}. ` +
          'Check the user, password and database name in LATCHKEY_DATABASE_URL, and that the database exists',
  );
}
