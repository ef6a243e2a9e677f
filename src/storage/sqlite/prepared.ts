// SQLite's fast path, there only for speed: the reads every authenticated
// request makes and the writes of logins, refreshes and logouts run as
// statements prepared once (no query building, no statement preparation per
// call), and the writes are group-committed (group-commit.ts). The statements
// are the shared ones of queries.ts, compiled by Kysely; the general path
// (writes.ts) runs the same statements through Kysely.
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import type { Compilable, Kysely } from 'kysely';
import type { HotReads, Prepared } from '../base.js';
import {
  blacklistToken,
  flushSessions,
  flushTokens,
  noteUse,
  openSession,
  recordSuccessor,
  recordToken,
  setLastLogin,
  tokenStateQuery,
  userAuthQuery,
  userQuery,
  type ConsumeParams,
  type FlushParams,
  type LastLoginParams,
  type SuccessorParams,
} from '../queries.js';
import type { Database } from '../schema.js';
import type { BlacklistReason, OutstandingToken, SessionMeta, Successor } from '../types.js';
import type { Writes } from '../writes.js';
import { GroupCommit } from './group-commit.js';

/**
 * Prepares the statement `build` makes. It is built once, from placeholders
 * standing for the parameter object's fields; each call then binds the named
 * fields of the real object in the compiled statement's parameter order.
 */
function prepare<P extends object>(sqlite: SQLiteDatabase, build: (p: P) => Compilable): Prepared<P> {
  const MARK = '\u0000latchkey:';
  const placeholders = new Proxy({}, { get: (_, key) => MARK + String(key) }) as P;
  const { sql: text, parameters } = build(placeholders).compile();
  const statement = sqlite.prepare(text);
  const fields = parameters.map((v) => (typeof v === 'string' && v.startsWith(MARK) ? v.slice(MARK.length) : undefined));
  const bind = (p: P) => fields.map((f, i) => (f === undefined ? parameters[i] : (p as Record<string, unknown>)[f]));
  return {
    run: (p) => statement.run(bind(p)),
    get: <R>(p: P) => statement.get(bind(p)) as R | undefined,
  };
}

/** The hot reads as prepared statements; the tables must exist. */
export function hotReads(sqlite: SQLiteDatabase, db: Kysely<Database>): HotReads {
  return {
    userAuth: prepare(sqlite, (p: { id: number }) => userAuthQuery(db, p.id)),
    tokenState: prepare(sqlite, (p: { jti: string }) => tokenStateQuery(db, p.jti)),
    user: {
      id: prepare(sqlite, (p: { value: number }) => userQuery(db, 'id', p.value)),
      username: prepare(sqlite, (p: { value: string }) => userQuery(db, 'username', p.value)),
      phone_number: prepare(sqlite, (p: { value: string }) => userQuery(db, 'phone_number', p.value)),
    },
  };
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

  constructor(sqlite: SQLiteDatabase, db: Kysely<Database>, fault?: () => Error | undefined) {
    this.commits = new GroupCommit(sqlite, fault);
    this.record = prepare(sqlite, (p: OutstandingToken) => recordToken(db, p));
    this.consumeOne = prepare(sqlite, (p: ConsumeParams) => blacklistToken(db, p));
    this.use = prepare(sqlite, (p: OutstandingToken & { at: number }) => noteUse(db, p));
    this.session = prepare(sqlite, (p: OutstandingToken & SessionMeta) => openSession(db, p));
    this.lastLogin = prepare(sqlite, (p: LastLoginParams) => setLastLogin(db, p));
    this.flushSessions = prepare(sqlite, (p: FlushParams) => flushSessions(db, p));
    this.flushTokens = prepare(sqlite, (p: FlushParams) => flushTokens(db, p));
    this.successor = prepare(sqlite, (p: SuccessorParams) => recordSuccessor(db, p));
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
