// The storage on SQLite: what differs from PostgreSQL is the migration lock
// (SQLite's write lock, taken without blocking the event loop, as every write
// through Kysely takes it: dialect.ts) and, for speed only, the fast path of
// prepared.ts. Opened with `fastPath: false`, it runs the general path
// PostgreSQL runs instead (the storage tests do both).
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import { Kysely, type KyselyPlugin } from 'kysely';
import { StorageUnavailableError } from '../../errors.js';
import { KyselyStorage, type ChangeFeed } from '../base.js';
import type { Database } from '../schema.js';
import { SqliteNoWaitDialect } from './dialect.js';
import { whenUnlocked } from './files.js';
import { hotReads, writeSpecs } from './prepared.js';
import { SqliteWrites } from './statements.js';
import { primaryLink } from './primary-writer.js';
import { RemoteWrites, threadLink, type WriterEvents } from './writer-thread.js';

/** Where the fast path's writes commit (OpenOptions.writes), with what the writer needs. */
export type WritesAt =
  | { at: 'loop' }
  | { at: 'primary' }
  /** A writer thread on `file` (resolved), and its change feed: how often it polls, and whom it tells (writerFeed). */
  | { at: 'thread'; file: string; feedIntervalMs: number; events: WriterEvents };

export class SqliteStorage extends KyselyStorage {
  readonly dialect = 'sqlite' as const;

  /**
   * `sqlite` is the connection under the dialect. With `fastPath`, once the
   * tables exist, the hot reads and the writes of logins, refreshes and
   * logouts run as prepared statements and the writes are group-committed
   * where `writes` says (OpenOptions.writes; `file` resolved).
   */
  constructor(
    private readonly sqlite: SQLiteDatabase,
    feed: ChangeFeed | undefined,
    private readonly fastPath: boolean,
    private readonly filesFault: () => Error | undefined = () => undefined,
    private readonly writesAt: WritesAt = { at: 'loop' },
  ) {
    // Every query Kysely runs (the outbox's too) is refused while the files fault.
    const refuse: KyselyPlugin = {
      transformQuery: ({ node }) => {
        const fault = filesFault();
        if (fault) throw new StorageUnavailableError(fault);
        return node;
      },
      transformResult: async ({ result }) => result,
    };
    super(new Kysely<Database>({ dialect: new SqliteNoWaitDialect(sqlite), plugins: [refuse] }), feed, 'sqlite');
  }

  /**
   * SQLite in WAL mode maps its -shm file (the WAL index) into memory and
   * writes to it on every transaction, reads included. Once that file cannot
   * be written (made immutable, a read-only remount), such a write is a SIGBUS
   * that kills the process; SQLite never sees an error. So every call first
   * checks that the file is writable, and answers 503 without touching the
   * database while it is not. (A full disk or an unwritable database file
   * fail as errors: SQLITE_FULL, SQLITE_READONLY..., also 503, reads go on.)
   */
  protected override fault(): Error | undefined {
    return this.filesFault();
  }

  protected override migrated(): void {
    if (!this.fastPath || this.hot) return;
    this.hot = hotReads(this.sqlite, this.db);
    const specs = writeSpecs(this.db);
    const w = this.writesAt;
    if (w.at === 'loop') this.writes = new SqliteWrites(this.sqlite, specs, this.filesFault);
    else if (w.at === 'primary') this.writes = new RemoteWrites(primaryLink);
    else this.writes = new RemoteWrites(threadLink({ file: w.file, specs, feedIntervalMs: w.feedIntervalMs }, w.events), true);
  }

  /**
   * Runs `fn` holding the database's write lock, so that processes migrating
   * one file at once take turns (the others wait on busy_timeout and then
   * find nothing to do), and a failed migration rolls back whole. Kysely
   * takes no lock on SQLite.
   */
  protected override async exclusively<T extends { error?: unknown }>(fn: () => Promise<T>): Promise<T> {
    const db = this.sqlite;
    await this.beginImmediate(db);
    try {
      const result = await fn();
      db.exec(result.error ? 'ROLLBACK' : 'COMMIT');
      return result;
    } catch (err) {
      if (db.inTransaction) db.exec('ROLLBACK');
      throw err;
    }
  }

  /**
   * Takes SQLite's write lock without busy-waiting: busy_timeout would block
   * the event loop, and a holder in this same process could never finish.
   */
  private beginImmediate(db: SQLiteDatabase): Promise<void> {
    const restoreMs = db.pragma('busy_timeout', { simple: true }) as number;
    return whenUnlocked(db, () => void db.exec('BEGIN IMMEDIATE'), { waitMs: 30_000, retryMs: 25, restoreMs });
  }
}
