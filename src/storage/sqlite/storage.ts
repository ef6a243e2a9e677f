// The storage on SQLite: what differs from PostgreSQL is the migration lock
// (SQLite's write lock, taken without blocking the event loop) and, for speed
// only, the fast path of prepared.ts. Opened with `fastPath: false`, it runs
// the general path PostgreSQL runs instead (the storage tests do both).
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import { KyselyStorage, type ChangeFeed } from '../base.js';
import type { Database } from '../schema.js';
import { hotReads, SqliteWrites } from './prepared.js';

export class SqliteStorage extends KyselyStorage {
  readonly dialect = 'sqlite' as const;

  /**
   * `sqlite` is the connection under the dialect. With `fastPath`, once the
   * tables exist, the hot reads and the writes of logins, refreshes and
   * logouts run as prepared statements and the writes are group-committed.
   */
  constructor(
    private readonly sqlite: SQLiteDatabase,
    feed: ChangeFeed | undefined,
    private readonly fastPath: boolean,
  ) {
    super(new Kysely<Database>({ dialect: new SqliteDialect({ database: sqlite }) }), feed, 'sqlite');
  }

  protected override migrated(): void {
    if (!this.fastPath || this.hot) return;
    this.hot = hotReads(this.sqlite, this.db);
    this.writes = new SqliteWrites(this.sqlite, this.db);
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
  private async beginImmediate(db: SQLiteDatabase, waitMs = 30_000): Promise<void> {
    const timeout = db.pragma('busy_timeout', { simple: true }) as number;
    const deadline = Date.now() + waitMs;
    db.pragma('busy_timeout = 0');
    try {
      for (;;) {
        try {
          db.exec('BEGIN IMMEDIATE');
          return;
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_BUSY' || Date.now() > deadline) throw err;
          await new Promise((r) => setTimeout(r, 25));
        }
      }
    } finally {
      db.pragma(`busy_timeout = ${timeout}`);
    }
  }
}
