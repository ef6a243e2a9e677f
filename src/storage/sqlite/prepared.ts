// SQLite's fast path, there only for speed: the reads every authenticated
// request makes and the writes of logins, refreshes and logouts run as
// statements prepared once (no query building, no statement preparation per
// call), and the writes are group-committed (statements.ts, group-commit.ts),
// in the writer thread when the database is a file (writer-thread.ts). The
// statements are the shared ones of queries.ts, compiled by Kysely; the
// general path (writes.ts) runs the same statements through Kysely.
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
import type { OutstandingToken, SessionMeta } from '../types.js';
import { prepareSpec, type StatementSpec, type WriteSpecs } from './statements.js';

/**
 * Compiles the statement `build` makes, from placeholders standing for the
 * parameter object's fields; each call then binds the named fields of the
 * real object in the compiled statement's parameter order (prepareSpec).
 */
function compile<P extends object>(build: (p: P) => Compilable): StatementSpec {
  const MARK = '\u0000latchkey:';
  const placeholders = new Proxy({}, { get: (_, key) => MARK + String(key) }) as P;
  const { sql, parameters } = build(placeholders).compile();
  const fields = parameters.map((v) => (typeof v === 'string' && v.startsWith(MARK) ? v.slice(MARK.length) : null));
  return { sql, fields, parameters: [...parameters] };
}

/** Prepares the statement `build` makes. */
const prepare = <P extends object>(sqlite: SQLiteDatabase, build: (p: P) => Compilable): Prepared<P> => prepareSpec(sqlite, compile(build));

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

/** The statements of the write path (statements.ts), compiled once, as plain data a thread can receive. */
export function writeSpecs(db: Kysely<Database>): WriteSpecs {
  return {
    record: compile((p: OutstandingToken) => recordToken(db, p)),
    consumeOne: compile((p: ConsumeParams) => blacklistToken(db, p)),
    use: compile((p: OutstandingToken & { at: number }) => noteUse(db, p)),
    session: compile((p: OutstandingToken & SessionMeta) => openSession(db, p)),
    lastLogin: compile((p: LastLoginParams) => setLastLogin(db, p)),
    flushSessions: compile((p: FlushParams) => flushSessions(db, p)),
    flushTokens: compile((p: FlushParams) => flushTokens(db, p)),
    successor: compile((p: SuccessorParams) => recordSuccessor(db, p)),
  };
}
