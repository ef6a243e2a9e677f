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
  // Pages are read with read(), not through a memory map of the database
  // file: a file that can no longer be written (or a full disk) is then an
  // error SQLite reports, never a SIGBUS. (SQLite's default; stated, as a
  // build may change it.) The WAL index is mapped whatever this says: see
  // SqliteStorage.fault.
  db.pragma('mmap_size = 0');
  const fault = memory ? () => undefined : walIndexFault(path.resolve(file));
  // An in-memory database has no other connection, so nothing to follow.
  const feed = memory ? undefined : dataVersionFeed(db, FEED_INTERVAL_MS, fault);
  return new SqliteStorage(db, feed, fastPath, fault);
}

/**
 * Whether the WAL index (`<file>-shm`, memory-mapped) can be written; missing
 * is fine (SQLite creates it). Asked once per turn of the event loop: every
 * storage call asks, an access() costs a system call (5-20 µs on this
 * project's VM, most of a rotation's reads), and a check is only as fresh as
 * the turn it runs in anyway.
 */
function walIndexFault(file: string): () => Error | undefined {
  const shm = `${file}-shm`;
  let known: { fault: Error | undefined } | undefined;
  const forget = () => {
    known = undefined;
  };
  return () => {
    if (!known) {
      known = { fault: shmFault(shm) };
      setImmediate(forget);
    }
    return known.fault;
  };
}

function shmFault(shm: string): Error | undefined {
  try {
    fs.accessSync(shm, fs.constants.W_OK);
    return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    return err as Error;
  }
}
