// Group commit on SQLite. The writes that reach run() in one turn of the event
// loop are committed together: one transaction, so one fsync (synchronous=FULL)
// for all of them. Every caller is answered only after the commit, so nothing
// is acknowledged that a power loss could undo. One write that throws must
// fail alone: the batch then starts over with each write in its own savepoint,
// so that only that one is rolled back and only its caller sees the error. A
// batch runs without savepoints first because they are not free: each makes
// SQLite copy every page it touches to a statement journal, which past 64 KiB
// is a temporary file (three writes per page, where the WAL has two).
import type { Database } from 'better-sqlite3';
import { StorageUnavailableError } from '../../errors.js';
import { withoutBusyWait } from './files.js';

interface Pending {
  work: () => unknown;
  resolve: (value: unknown) => void;
  reject: (err: unknown) => void;
}

type Outcome = { ok: true; value: unknown } | { ok: false; err: unknown };

/** A write of a batch run without savepoints threw, and the transaction is still open. */
class WriteFailed extends Error {}

/** How often a batch tries again, by default, for a write lock that another connection holds. */
const RETRY_MS = 2;

export class GroupCommit {
  private queue: Pending[] = [];
  private scheduled = false;
  /** The next batch runs each write in its own savepoint: one write of this batch threw. */
  private isolate = false;
  /** When the oldest waiting write arrived: it waits for the lock at most busy_timeout. */
  private since = 0;
  private readonly savepoint: (work: () => unknown) => unknown;
  /** The connection's own busy_timeout, put back after each attempt at the lock. */
  private readonly busyTimeout: number;

  /**
   * A batch waits for another connection's write lock as long as the
   * connection's busy_timeout; past it, its writes reject with SQLITE_BUSY.
   * The wait never blocks the event loop, as busy_timeout itself would.
   */
  constructor(
    private readonly db: Database,
    /** Why the database must not be touched now (see SqliteStorage): the batch then fails with it. */
    private readonly fault: () => Error | undefined = () => undefined,
    private readonly retryMs = RETRY_MS,
  ) {
    this.busyTimeout = db.pragma('busy_timeout', { simple: true }) as number;
    // Called inside an open transaction, better-sqlite3 runs this in a SAVEPOINT.
    this.savepoint = db.transaction((work: () => unknown) => work());
  }

  /** Runs `work` (synchronous, on this connection) in the next group commit; resolves after the commit. */
  run<T>(work: () => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ work, resolve: resolve as (value: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        this.since = Date.now();
        setImmediate(this.flush);
      }
    });
  }

  /** Commits what is waiting now, if the write lock is free; close() calls it one last time. */
  readonly flush = (): void => {
    this.scheduled = false;
    if (this.queue.length === 0) return;
    const fault = this.fault();
    if (fault) {
      this.settle(this.queue.map(() => ({ ok: false, err: new StorageUnavailableError(fault) })));
      return;
    }
    // A Kysely transaction spanning awaits is open on this connection: these
    // writes must not become part of it. Or another connection holds the lock.
    let busy: unknown;
    if (this.db.inTransaction) busy = undefined;
    else {
      try {
        busy = this.lock();
      } catch (err) {
        this.settle(this.queue.map(() => ({ ok: false, err })));
        return;
      }
    }
    if (busy !== null) {
      if (busy && Date.now() - this.since > this.busyTimeout) this.settle(this.queue.map(() => ({ ok: false, err: busy })));
      else {
        this.scheduled = true;
        setTimeout(this.flush, this.retryMs);
      }
      return;
    }
    const isolate = this.isolate;
    this.isolate = false;
    let outcomes: Outcome[];
    try {
      outcomes = this.apply(isolate);
      this.db.exec('COMMIT');
    } catch (err) {
      if (this.db.inTransaction) this.db.exec('ROLLBACK');
      if (err instanceof WriteFailed) {
        // Nothing of this batch is committed: it starts over, isolated.
        this.isolate = true;
        this.scheduled = true;
        setImmediate(this.flush);
      } else this.settle(this.queue.map(() => ({ ok: false, err })));
      return;
    }
    this.settle(outcomes);
  };

  /** Runs the waiting writes in the open transaction: with `isolate`, each in its own savepoint. */
  private apply(isolate: boolean): Outcome[] {
    return this.queue.map((item): Outcome => {
      try {
        return { ok: true, value: isolate ? this.savepoint(item.work) : item.work() };
      } catch (err) {
        // Some errors (I/O, disk full) roll the whole transaction back: then
        // nothing of this batch is committed, and every caller must hear so.
        if (!this.db.inTransaction) throw err;
        if (!isolate) throw new WriteFailed();
        return { ok: false, err };
      }
    });
  }

  /** Fails whatever is still waiting (the storage is closing). */
  abandon(err: Error): void {
    this.settle(this.queue.map(() => ({ ok: false, err })));
  }

  private settle(outcomes: Outcome[]): void {
    const batch = this.queue;
    this.queue = [];
    batch.forEach((item, i) => {
      const o = outcomes[i]!;
      if (o.ok) item.resolve(o.value);
      else item.reject(o.err);
    });
  }

  /** BEGIN IMMEDIATE without waiting: null once the lock is held, the SQLITE_BUSY error if another connection has it. */
  private lock(): Error | null {
    const r = withoutBusyWait(this.db, this.busyTimeout, () => this.db.exec('BEGIN IMMEDIATE'));
    return 'busy' in r ? r.busy : null;
  }
}
