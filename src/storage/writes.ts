// The write path of logins, refreshes, logouts and flushes: the writes that
// must commit together. The general path below runs each call in its own Kysely
// transaction; it is what PostgreSQL runs, and what SQLite runs when opened
// without its fast path (sqlite/prepared.ts: prepared statements, group commit),
// as the storage tests do so that every run covers both.
import type { Kysely } from 'kysely';
import { blacklistToken, flushSessions, flushTokens, noteUse, openSession, recordSuccessor, recordToken, setLastLogin } from './queries.js';
import type { Database } from './schema.js';
import type { BlacklistReason, OutstandingToken, SessionMeta, Successor } from './types.js';

/** One implementation per path; each call is one commit. */
export interface Writes {
  /** Storage.blacklist(). */
  blacklist(t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean>;
  /** Storage.rotate(). */
  rotate(old: OutstandingToken, next: OutstandingToken, at: number, successor?: Successor): Promise<boolean>;
  /** Storage.startSession(); returns the session's id. */
  startSession(t: OutstandingToken, meta: SessionMeta, lastLogin: boolean): Promise<number>;
  /** Storage.touchSession(). */
  touchSession(t: OutstandingToken, at: number): Promise<void>;
  /** One batch of Storage.flushExpired(); returns how many tokens it deleted. */
  flushBatch(now: number, limit: number): Promise<number>;
  /** The storage is closing: commit what is already waiting, refuse what cannot be. */
  end(err: Error): void | Promise<void>;
}

/** blacklistToken, recording the token first if it was minted elsewhere. */
async function consume(db: Kysely<Database>, t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
  await recordToken(db, t).execute();
  return (await blacklistToken(db, { jti: t.jti, reason, at }).executeTakeFirst()) !== undefined;
}

/** The general write path: one Kysely transaction per call. */
export class KyselyWrites implements Writes {
  constructor(private readonly db: Kysely<Database>) {}

  blacklist(t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
    return this.db.transaction().execute((trx) => consume(trx, t, reason, at));
  }

  rotate(old: OutstandingToken, next: OutstandingToken, at: number, successor?: Successor): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      if (!(await consume(trx, old, 'rotated', at))) return false;
      await recordToken(trx, next).execute();
      await noteUse(trx, { ...next, at }).execute();
      if (successor) await recordSuccessor(trx, { jti: old.jti, successorJti: successor.jti, sealed: successor.sealed, at }).execute();
      return true;
    });
  }

  startSession(t: OutstandingToken, meta: SessionMeta, lastLogin: boolean): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      await recordToken(trx, t).execute();
      const row = await openSession(trx, { ...t, ...meta }).executeTakeFirstOrThrow();
      if (lastLogin) await setLastLogin(trx, { userId: t.userId, at: t.createdAt }).execute();
      return row.id;
    });
  }

  touchSession(t: OutstandingToken, at: number): Promise<void> {
    return this.db.transaction().execute(async (trx) => {
      await recordToken(trx, t).execute();
      await noteUse(trx, { ...t, at }).execute();
    });
  }

  flushBatch(now: number, limit: number): Promise<number> {
    const p = { now, limit };
    return this.db.transaction().execute(async (trx) => {
      await flushSessions(trx, p).execute();
      return Number((await flushTokens(trx, p).executeTakeFirst()).numDeletedRows);
    });
  }

  end(): void {
    // Nothing waits here: each call is already in its own transaction.
  }
}
