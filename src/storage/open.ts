// Opens the storage named by a database URL: `sqlite:PATH` (or `sqlite::memory:`)
// or `postgres://...`. Each database is a Kysely dialect; the rest is shared.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { PostgresDialect, SqliteDialect } from 'kysely';
import { ConfigError } from '../errors.js';
import { KyselyStorage } from './kysely-storage.js';

export interface OpenOptions {
  /** PostgreSQL pool size per process. */
  poolSize?: number;
}

export function openStorage(url: string, opts: OpenOptions = {}): KyselyStorage {
  if (url.startsWith('sqlite:')) return openSqlite(url.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(url)) return openPostgres(url, opts.poolSize ?? 10);
  throw new ConfigError('LATCHKEY_DATABASE_URL: must start with sqlite: or postgres://');
}

/** SQLite's page cache per connection, in KiB (SQLite's own default). */
const SQLITE_CACHE_KIB = 2000;

function openSqlite(file: string): KyselyStorage {
  if (file === '') throw new ConfigError('LATCHKEY_DATABASE_URL: sqlite: needs a file path');
  const memory = file === ':memory:';
  if (!memory) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: SQLite.Database;
  try {
    db = new SQLite(file);
  } catch (err) {
    throw new ConfigError(`cannot open SQLite database ${file}: ${(err as Error).message}`);
  }
  // WAL lets readers and one writer (and several worker processes) share the
  // file. synchronous=FULL fsyncs every commit, so a logout that answered 200
  // survives a crash or power loss, not only a killed process.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  // better-sqlite3 builds SQLite with a 16 MB page cache per connection. The
  // hot pages (the right edge of each index, where time-ordered jtis append)
  // fit in far less, and the operating system caches the file anyway.
  db.pragma(`cache_size = -${SQLITE_CACHE_KIB}`);
  // An in-memory database has no other connection, so nothing to follow.
  const feed = memory ? undefined : ({ kind: 'sqlite-data-version', intervalMs: 25 } as const);
  return KyselyStorage.create(new SqliteDialect({ database: db }), 'sqlite', db, feed);
}

// BIGINT (oid 20) comes back from pg as a string; every bigint here is a
// timestamp in seconds, well inside a double's exact range.
const pgTypes = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === 20) return (v: string) => Number.parseInt(v, 10);
    return pg.types.getTypeParser(oid, format as 'text');
  },
};

function openPostgres(url: string, poolSize: number): KyselyStorage {
  const pool = new pg.Pool({ connectionString: url, max: poolSize, types: pgTypes as pg.CustomTypesConfig });
  // A client that loses its connection emits 'error': on the pool while idle,
  // on the client itself while in use. Without listeners either would crash
  // the process; the query in flight rejects instead, and is answered 503.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  return KyselyStorage.create(new PostgresDialect({ pool }), 'postgres', undefined, {
    kind: 'postgres-notify',
    connect: () => new pg.Client({ connectionString: url, types: pgTypes as pg.CustomTypesConfig }),
  });
}
