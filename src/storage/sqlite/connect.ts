// Opens a SQLite file (or `:memory:`) with the settings latchkey needs.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ConfigError } from '../../errors.js';
import type { SqliteWritesAt } from '../open.js';
import { dataVersionFeed } from './feed.js';
import { tune, walIndexFault } from './files.js';
import { SqliteStorage } from './storage.js';

/** How often the change feed polls data_version. */
const FEED_INTERVAL_MS = 25;

export function openSqlite(file: string, fastPath: boolean, writes: SqliteWritesAt = 'thread'): SqliteStorage {
  if (file === '') throw new ConfigError('LATCHKEY_DATABASE_URL: sqlite: needs a file path');
  const memory = file === ':memory:';
  if (!memory) fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true });
  let db: SQLite.Database;
  try {
    db = new SQLite(file);
  } catch (err) {
    throw new ConfigError(`cannot open SQLite database ${file}: ${(err as Error).message}`);
  }
  tune(db);
  const fault = memory ? () => undefined : walIndexFault(path.resolve(file));
  // An in-memory database has no other connection, so nothing to follow.
  const feed = memory ? undefined : dataVersionFeed(db, FEED_INTERVAL_MS, fault);
  return new SqliteStorage(db, feed, fastPath, fault, memory ? { at: 'loop' } : { at: writes, file: path.resolve(file) });
}
