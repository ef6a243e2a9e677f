// Kysely's SQLite dialect, except that a write never waits for another
// connection's write lock on the event loop.
//
// better-sqlite3 is synchronous, and SQLite's busy handler (busy_timeout)
// waits by sleeping the thread that asked. A user change, a registration or a
// mail put in the outbox that met the lock of the writer (the writer thread,
// the cluster primary, another process) therefore stopped the whole event loop
// for as long as SQLite slept: measured under a storm of writes, the loop's
// p99 delay went from 3 ms to 11 ms while user changes were made. Here a write
// outside a transaction, and the start of every transaction, try the lock
// without waiting (BEGIN IMMEDIATE takes it at the start, so nothing inside a
// transaction can meet it later) and try again a little later, for as long as
// busy_timeout would have waited; meanwhile the event loop serves others.
// Reads never wait for the write lock in WAL mode and run as before.
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import {
  type CompiledQuery,
  SelectQueryNode,
  SqliteDialect,
  SqliteDriver,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';
import { whenUnlocked } from './files.js';

/** How often a write tries again for a write lock that another connection holds. */
const RETRY_MS = 2;

export class SqliteNoWaitDialect extends SqliteDialect {
  constructor(private readonly db: SQLiteDatabase) {
    super({ database: db });
  }

  override createDriver(): Driver {
    // As long as busy_timeout would have waited (files.ts sets it on every connection).
    const busyMs = this.db.pragma('busy_timeout', { simple: true }) as number;
    return new NoWaitDriver(this.db, { waitMs: busyMs, retryMs: RETRY_MS, restoreMs: busyMs });
  }
}

interface Patience {
  waitMs: number;
  retryMs: number;
  restoreMs: number;
}

/** Kysely's driver, with the lock taken as above; commits, rollbacks and savepoints are Kysely's own. */
class NoWaitDriver extends SqliteDriver {
  constructor(
    private readonly db: SQLiteDatabase,
    private readonly patience: Patience,
  ) {
    super({ database: db });
  }

  override async acquireConnection(): Promise<DatabaseConnection> {
    return new NoWaitConnection(await super.acquireConnection(), this.db, this.patience);
  }

  override async beginTransaction(): Promise<void> {
    await whenUnlocked(this.db, () => this.db.exec('BEGIN IMMEDIATE'), this.patience);
  }
}

class NoWaitConnection implements DatabaseConnection {
  constructor(
    private readonly inner: DatabaseConnection,
    private readonly db: SQLiteDatabase,
    private readonly patience: Patience,
  ) {}

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    // Inside a transaction the lock is already held (BEGIN IMMEDIATE).
    if (this.db.inTransaction || SelectQueryNode.is(query.query)) return this.inner.executeQuery<R>(query);
    // Kysely's SQLite connection runs the statement (and throws SQLITE_BUSY) before it returns.
    return await whenUnlocked(this.db, () => this.inner.executeQuery<R>(query), this.patience);
  }

  streamQuery<R>(query: CompiledQuery, chunkSize?: number): AsyncIterableIterator<QueryResult<R>> {
    return this.inner.streamQuery<R>(query, chunkSize);
  }
}
