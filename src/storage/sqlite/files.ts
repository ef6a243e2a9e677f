// What every connection to a SQLite file needs, whichever thread opens it: the
// settings (durability among them), and the check that the WAL index can still
// be written. Kept free of Kysely so that the writer thread loads little.
import fs from 'node:fs';
import type { Database as SQLiteDatabase } from 'better-sqlite3';

/** SQLite's page cache per connection, in KiB (SQLite's own default). */
const SQLITE_CACHE_KIB = 2000;

/** How long a connection waits for another connection's write lock before SQLITE_BUSY. */
const BUSY_TIMEOUT_MS = 5000;

/** The settings of every connection: the reads' and the writer thread's. */
export function tune(db: SQLiteDatabase): void {
  // WAL lets readers and one writer (and several worker processes) share the
  // file. synchronous=FULL fsyncs every commit, so a logout that answered 200
  // survives a crash or power loss, not only a killed process.
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.pragma('foreign_keys = ON');
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
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
}

/**
 * Whether the WAL index (`<file>-shm`, memory-mapped) can be written; missing
 * is fine (SQLite creates it). Asked once per turn of the event loop: every
 * storage call asks, an access() costs a system call (5-20 µs on this
 * project's VM, most of a rotation's reads), and a check is only as fresh as
 * the turn it runs in anyway.
 */
export function walIndexFault(file: string): () => Error | undefined {
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

/**
 * Runs `attempt` (synchronous, on `db`) with SQLite's busy handler off: when
 * another connection holds the write lock, the attempt fails with SQLITE_BUSY
 * at once instead of sleeping on this thread, which is the event loop. Returns
 * that error, or what the attempt returned; `restoreMs` is the busy_timeout
 * put back afterwards.
 */
export function withoutBusyWait<T>(db: SQLiteDatabase, restoreMs: number, attempt: () => T): { busy: Error } | { value: T } {
  db.exec('PRAGMA busy_timeout = 0');
  try {
    return { value: attempt() };
  } catch (err) {
    if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
    return { busy: err as Error };
  } finally {
    db.exec(`PRAGMA busy_timeout = ${restoreMs}`);
  }
}

/**
 * `attempt` (synchronous, on `db`), tried again every `retryMs` while another
 * connection holds the write lock, for up to `waitMs`; then its SQLITE_BUSY.
 * Between tries the event loop runs on: busy_timeout would put it to sleep.
 */
export async function whenUnlocked<T>(
  db: SQLiteDatabase,
  attempt: () => T,
  o: { waitMs: number; retryMs: number; restoreMs: number },
): Promise<T> {
  const deadline = Date.now() + o.waitMs;
  for (;;) {
    const r = withoutBusyWait(db, o.restoreMs, attempt);
    if ('value' in r) return r.value;
    if (Date.now() >= deadline) throw r.busy;
    await new Promise((resolve) => setTimeout(resolve, o.retryMs));
  }
}
