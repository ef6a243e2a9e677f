// Opens a SQLite file (or `:memory:`) with the settings latchkey needs.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ConfigError } from '../../errors.js';
import { dataVersionFeed } from './feed.js';
import { SqliteStorage } from './storage.js';

/** SQLite's page cache per connection, in KiB (SQLite's own default). */
const SQLITE_CACHE_KIB = 2000;

/** How often the change feed polls data_version. */
const FEED_INTERVAL_MS = 25;

export function openSqlite(file: string, fastPath: boolean): SqliteStorage {
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
  const feed = memory ? undefined : dataVersionFeed(db, FEED_INTERVAL_MS);
  return new SqliteStorage(db, feed, fastPath);
}
