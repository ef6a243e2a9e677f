// The write path on SQLite's fast path: logins, refreshes, logouts and flushes
// as prepared statements, group-committed (group-commit.ts). The statements
// arrive compiled (prepared.ts compiles the shared ones of queries.ts with
// Kysely), as plain data, so that this runs in the writer thread
// (writer-thread.ts) without Kysely, or on the reading connection itself.
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import type { Prepared } from '../base.js';
import type { ConsumeParams, FlushParams, LastLoginParams, SuccessorParams } from '../queries.js';
import type { BlacklistReason, OutstandingToken, SessionMeta, Successor } from '../types.js';
import type { Writes } from '../writes.js';
import { GroupCommit } from './group-commit.js';

/**
 * A compiled statement: its text, and for each of its parameters either the
 * field of the call's parameter object to bind, or (null) the compiled value.
 */
export interface StatementSpec {
  sql: string;
  fields: (string | null)[];
  parameters: unknown[];
}

/** Prepares a compiled statement; each call binds the named fields of its parameter object in order. */
export function prepareSpec<P extends object>(sqlite: SQLiteDatabase, spec: StatementSpec): Prepared<P> {
  const statement = sqlite.prepare(spec.sql);
  const { fields, parameters } = spec;
  const bind = (p: P) => fields.map((f, i) => (f === null ? parameters[i] : (p as Record<string, unknown>)[f]));
  return {
    run: (p) => statement.run(bind(p)),
    get: <R>(p: P) => statement.get(bind(p)) as R | undefined,
  };
}

/** The statements of the write path, compiled. */
export interface WriteSpecs {
  record: StatementSpec;
  consumeOne: StatementSpec;
  use: StatementSpec;
  session: StatementSpec;
  lastLogin: StatementSpec;
  flushSessions: StatementSpec;
  flushTokens: StatementSpec;
  successor: StatementSpec;
}

/** The write path on SQLite: synchronous, on prepared statements, run inside a GroupCommit. */
export class SqliteWrites implements Writes {
  private readonly commits: GroupCommit;
  private readonly record: Prepared<OutstandingToken>;
  private readonly consumeOne: Prepared<ConsumeParams>;
  private readonly use: Prepared<OutstandingToken & { at: number }>;
  private readonly session: Prepared<OutstandingToken & SessionMeta>;
  private readonly lastLogin: Prepared<LastLoginParams>;
  private readonly flushSessions: Prepared<FlushParams>;
  private readonly flushTokens: Prepared<FlushParams>;
  private readonly successor: Prepared<SuccessorParams>;

  constructor(sqlite: SQLiteDatabase, specs: WriteSpecs, fault?: () => Error | undefined, retryMs?: number) {
    this.commits = new GroupCommit(sqlite, fault, retryMs);
    this.record = prepareSpec(sqlite, specs.record);
    this.consumeOne = prepareSpec(sqlite, specs.consumeOne);
    this.use = prepareSpec(sqlite, specs.use);
    this.session = prepareSpec(sqlite, specs.session);
    this.lastLogin = prepareSpec(sqlite, specs.lastLogin);
    this.flushSessions = prepareSpec(sqlite, specs.flushSessions);
    this.flushTokens = prepareSpec(sqlite, specs.flushTokens);
    this.successor = prepareSpec(sqlite, specs.successor);
  }

  blacklist(t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
    return this.commits.run(() => this.consume(t, reason, at));
  }

  rotate(old: OutstandingToken, next: OutstandingToken, at: number, successor?: Successor): Promise<boolean> {
    return this.commits.run(() => {
      if (!this.consume(old, 'rotated', at)) return false;
      this.record.run(next);
      this.use.run({ ...next, at });
      if (successor) this.successor.run({ jti: old.jti, successorJti: successor.jti, sealed: successor.sealed, at });
      return true;
    });
  }

  startSession(t: OutstandingToken, meta: SessionMeta, lastLogin: boolean): Promise<number> {
    return this.commits.run(() => {
      this.record.run(t);
      const row = this.session.get<{ id: number }>({ ...t, ...meta })!;
      if (lastLogin) this.lastLogin.run({ userId: t.userId, at: t.createdAt });
      return row.id;
    });
  }

  touchSession(t: OutstandingToken, at: number): Promise<void> {
    return this.commits.run(() => {
      this.record.run(t);
      this.use.run({ ...t, at });
    });
  }

  flushBatch(now: number, limit: number): Promise<number> {
    return this.commits.run(() => {
      this.flushSessions.run({ now, limit });
      return this.flushTokens.run({ now, limit }).changes;
    });
  }

  end(err: Error): void {
    this.commits.flush();
    this.commits.abandon(err);
  }

  /** blacklistToken, recording the token first if it was minted elsewhere. */
  private consume(t: OutstandingToken, reason: BlacklistReason, at: number): boolean {
    this.record.run(t);
    return this.consumeOne.get({ jti: t.jti, reason, at }) !== undefined;
  }
}
