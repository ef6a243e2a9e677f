// Opens a SQLite file (or `:memory:`) with the settings latchkey needs.
import fs from 'node:fs';
import path from 'node:path';
import SQLite from 'better-sqlite3';
import { ConfigError } from '../../errors.js';
import type { SqliteWritesAt } from '../open.js';
import { dataVersionFeed } from './feed.js';
import { tune, walIndexFault } from './files.js';
import { SqliteStorage } from './storage.js';
import { writerFeed } from './writer-thread.js';

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
  if (memory) return new SqliteStorage(db, undefined, fastPath); // no other connection, so nothing to follow
  const resolved = path.resolve(file);
  const fault = walIndexFault(resolved);
  // With a writer thread, the thread follows the other connections' commits (writerFeed).
  if (fastPath && writes === 'thread') {
    const { feed, events } = writerFeed();
    return new SqliteStorage(db, feed, fastPath, fault, { at: 'thread', file: resolved, feedIntervalMs: FEED_INTERVAL_MS, events });
  }
  return new SqliteStorage(db, dataVersionFeed(db, FEED_INTERVAL_MS, fault), fastPath, fault, {
    at: writes === 'primary' ? 'primary' : 'loop',
  });
}
