// One implementation of the storage interface over Kysely. The dialect (SQLite
// or PostgreSQL) is chosen in open.ts; nothing below depends on it except the
// few lines marked, where the two databases differ in what they return.
import { Kysely, Migrator, sql, type Compilable, type MigrationResult, type Dialect as KyselyDialect, type Generated, type Insertable, type Selectable, type Updateable } from 'kysely';
import type { Database as SQLiteDatabase } from 'better-sqlite3';
import { LRUCache } from 'lru-cache';
import type pg from 'pg';
import { StorageUnavailableError, UniqueViolationError } from '../errors.js';
import { GroupCommit } from './group-commit.js';
import { migrations, type Dialect } from './migrations.js';
import type {
  BlacklistReason,
  NewUser,
  OutstandingToken,
  SessionMeta,
  SessionRecord,
  Storage,
  TokenState,
  UserAuth,
  UserPatch,
  UserRecord,
} from './types.js';

type Bool = number | boolean;

interface UsersTable {
  id: Generated<number>;
  username: string;
  password: string;
  email: string;
  phone_number: string | null;
  first_name: string;
  last_name: string;
  address: string;
  postal_code: string;
  birthdate: string | null;
  profile_image: string | null;
  is_active: Bool;
  is_staff: Bool;
  is_superuser: Bool;
  date_joined: number;
  last_login: number | null;
  tokens_valid_after: number | null;
}

interface OutstandingTable {
  id: Generated<number>;
  jti: string;
  user_id: number | null;
  family_id: string;
  family_issued_at: number;
  created_at: number;
  expires_at: number;
}

interface BlacklistedTable {
  id: Generated<number>;
  token_id: number;
  reason: BlacklistReason;
  blacklisted_at: number;
}

interface SessionsTable {
  id: Generated<number>;
  family_id: string;
  user_id: number | null;
  created_at: number;
  last_used_at: number;
  user_agent: string;
  address: string;
}

export interface Database {
  users: UsersTable;
  outstanding_tokens: OutstandingTable;
  blacklisted_tokens: BlacklistedTable;
  sessions: SessionsTable;
}

const toSession = (r: Selectable<SessionsTable>): SessionRecord => ({
  id: r.id,
  familyId: r.family_id,
  userId: r.user_id,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  userAgent: r.user_agent,
  address: r.address,
});

const toUser = (r: Selectable<UsersTable>): UserRecord => ({
  ...r,
  is_active: Boolean(r.is_active),
  is_staff: Boolean(r.is_staff),
  is_superuser: Boolean(r.is_superuser),
});

// Booleans are written as 1/0: better-sqlite3 binds no booleans, and
// PostgreSQL reads '1'/'0' as boolean input.
const bit = (b: boolean) => (b ? 1 : 0);
function toRow(u: NewUser): Insertable<UsersTable>;
function toRow(u: UserPatch): Updateable<UsersTable>;
function toRow(u: UserPatch): Updateable<UsersTable> {
  const row: Updateable<UsersTable> = { ...u };
  for (const k of ['is_active', 'is_staff', 'is_superuser'] as const) if (typeof u[k] === 'boolean') row[k] = bit(u[k]);
  return row;
}

/** pg's own errors when a connection dies or never comes; they carry no code. */
const PG_CONNECTION_LOST = /Connection terminated|not queryable|connection error|timeout exceeded when trying to connect|Client was closed/i;

/** Errors that mean "the database is not there", as opposed to a bug or a constraint. */
function isUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code !== 'string') return err instanceof Error && PG_CONNECTION_LOST.test(err.message);
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH'].includes(code) ||
    /^(08|57P0|53)/.test(code) || // PostgreSQL: connection exception, admin shutdown, insufficient resources
    /^SQLITE_(BUSY|LOCKED|IOERR|CANTOPEN|READONLY|FULL|CORRUPT|NOTADB)/.test(code)
  );
}

function uniqueField(err: unknown): 'username' | 'phone_number' | undefined {
  const e = err as { code?: unknown; message?: unknown; constraint?: unknown } | null;
  const unique = e?.code === '23505' || (typeof e?.code === 'string' && e.code.startsWith('SQLITE_CONSTRAINT'));
  if (!unique) return undefined;
  const text = `${String(e?.constraint ?? '')} ${String(e?.message ?? '')}`;
  if (text.includes('phone_number')) return 'phone_number';
  if (text.includes('username')) return 'username';
  return undefined;
}

/**
 * How this storage learns that another process changed users, so that cached
 * user reads are dropped: SQLite's data_version (polled), or PostgreSQL's
 * LISTEN/NOTIFY. Without a feed, user reads are never cached.
 */
export type ChangeFeed =
  | { kind: 'sqlite-data-version'; intervalMs: number }
  | { kind: 'postgres-notify'; connect: () => pg.Client };

const USER_CHANNEL = 'latchkey_users';
/** Cached user reads live at most this long, whatever the feed says. */
const USER_CACHE_TTL_MS = 2_000;

/** The unique columns a user is found by. */
type UserKey = 'id' | 'username' | 'phone_number';

// The write path's statements, each built by Kysely from one parameter
// object. PostgreSQL executes them through Kysely; SQLite compiles each once
// (see prepare) and runs it as a prepared statement inside a group commit.

/** Records an issued refresh token; a jti already recorded is left as it is. */
const recordToken = (db: Kysely<Database>, t: OutstandingToken) =>
  db
    .insertInto('outstanding_tokens')
    .values({
      jti: t.jti,
      user_id: t.userId,
      family_id: t.familyId,
      family_issued_at: t.familyIssuedAt,
      created_at: t.createdAt,
      expires_at: t.expiresAt,
    })
    .onConflict((oc) => oc.column('jti').doNothing());

/**
 * Blacklists one recorded token. The unique token_id makes this the atomic
 * "consume": one insert wins, and every concurrent one does nothing and
 * returns no row.
 */
const blacklistToken = (db: Kysely<Database>, p: { jti: string; reason: BlacklistReason; at: number }) =>
  db
    .insertInto('blacklisted_tokens')
    .columns(['token_id', 'reason', 'blacklisted_at'])
    .expression((eb) =>
      eb
        .selectFrom('outstanding_tokens')
        .select([eb.ref('id').as('token_id'), eb.val(p.reason).as('reason'), eb.val(p.at).as('blacklisted_at')])
        .where('jti', '=', p.jti),
    )
    .onConflict((oc) => oc.column('token_id').doNothing())
    .returning('id');

/**
 * Sets a family's last use, opening a session without client details for a
 * family that has none (one minted elsewhere, or before sessions were kept).
 */
const noteUse = (db: Kysely<Database>, p: Pick<OutstandingToken, 'familyId' | 'userId' | 'familyIssuedAt'> & { at: number }) =>
  db
    .insertInto('sessions')
    .values({
      family_id: p.familyId,
      user_id: p.userId,
      created_at: p.familyIssuedAt,
      last_used_at: p.at,
      user_agent: '',
      address: '',
    })
    .onConflict((oc) => oc.column('family_id').doUpdateSet({ last_used_at: p.at }));

/** blacklistToken through Kysely, recording the token first if it was minted elsewhere. */
async function consume(db: Kysely<Database>, t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
  await recordToken(db, t).execute();
  return (await blacklistToken(db, { jti: t.jti, reason, at }).executeTakeFirst()) !== undefined;
}

/** A login's session, for the family its first token starts. */
const openSession = (db: Kysely<Database>, p: OutstandingToken & SessionMeta) =>
  db
    .insertInto('sessions')
    .values({
      family_id: p.familyId,
      user_id: p.userId,
      created_at: p.familyIssuedAt,
      last_used_at: p.createdAt,
      user_agent: p.userAgent,
      address: p.address,
    })
    .returning('id');

const setLastLogin = (db: Kysely<Database>, p: { userId: number | null; at: number }) =>
  db.updateTable('users').set({ last_login: p.at }).where('id', '=', p.userId);

/** The oldest `limit` tokens that expired before `now`: one batch of a flush. */
const expiredBatch = (db: Kysely<Database>, p: { now: number; limit: number }) =>
  db
    .selectFrom('outstanding_tokens')
    .where('expires_at', '<', p.now)
    .orderBy('expires_at')
    .orderBy('id')
    .limit(p.limit);

/**
 * The sessions a flush batch leaves without a token: found from the batch's
 * tokens (by the expiry index), so the cost follows what expired, not how
 * many sessions there are. Runs before the batch's tokens go.
 */
const flushSessions = (db: Kysely<Database>, p: { now: number; limit: number }) =>
  db
    .deleteFrom('sessions')
    .where('family_id', 'in', expiredBatch(db, p).select('family_id'))
    .where((eb) =>
      eb.not(
        eb.exists(
          eb
            .selectFrom('outstanding_tokens as o')
            .select(eb.lit(1).as('one'))
            .whereRef('o.family_id', '=', 'sessions.family_id')
            .where('o.expires_at', '>=', p.now),
        ),
      ),
    );

/** Deletes a flush batch's tokens; their blacklist rows go with them (ON DELETE CASCADE). */
const flushTokens = (db: Kysely<Database>, p: { now: number; limit: number }) =>
  db.deleteFrom('outstanding_tokens').where('id', 'in', expiredBatch(db, p).select('id'));

type UserAuthRow = { id: number; username: string; is_active: Bool; tokens_valid_after: number | null };
type TokenStateRow = { family_id: string; family_issued_at: number; user_id: number | null; reason: BlacklistReason | null };

/** Tokens deleted per transaction by flushExpired: about a quarter second of the write lock on a million-token SQLite database. */
const FLUSH_BATCH = 2_000;

/** A statement compiled by Kysely once and prepared on SQLite, bound by name on each call. */
interface Prepared<P> {
  run(p: P): { changes: number };
  get<R>(p: P): R | undefined;
}

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

/** The write path on SQLite: synchronous, on prepared statements, run inside a GroupCommit. */
class SqliteWrites {
  readonly commits: GroupCommit;
  private readonly record: Prepared<OutstandingToken>;
  private readonly blacklist: Prepared<{ jti: string; reason: BlacklistReason; at: number }>;
  private readonly use: Prepared<OutstandingToken & { at: number }>;
  private readonly session: Prepared<OutstandingToken & SessionMeta>;
  private readonly lastLogin: Prepared<{ userId: number | null; at: number }>;
  private readonly flushSessions: Prepared<{ now: number; limit: number }>;
  private readonly flushTokens: Prepared<{ now: number; limit: number }>;

  constructor(sqlite: SQLiteDatabase, db: Kysely<Database>) {
    this.commits = new GroupCommit(sqlite);
    this.record = prepare(sqlite, (p: OutstandingToken) => recordToken(db, p));
    this.blacklist = prepare(sqlite, (p: { jti: string; reason: BlacklistReason; at: number }) => blacklistToken(db, p));
    this.use = prepare(sqlite, (p: OutstandingToken & { at: number }) => noteUse(db, p));
    this.session = prepare(sqlite, (p: OutstandingToken & SessionMeta) => openSession(db, p));
    this.lastLogin = prepare(sqlite, (p: { userId: number | null; at: number }) => setLastLogin(db, p));
    this.flushSessions = prepare(sqlite, (p: { now: number; limit: number }) => flushSessions(db, p));
    this.flushTokens = prepare(sqlite, (p: { now: number; limit: number }) => flushTokens(db, p));
  }

  consume(t: OutstandingToken, reason: BlacklistReason, at: number): boolean {
    this.record.run(t);
    return this.blacklist.get({ jti: t.jti, reason, at }) !== undefined;
  }

  rotate(old: OutstandingToken, next: OutstandingToken, at: number): boolean {
    if (!this.consume(old, 'rotated', at)) return false;
    this.record.run(next);
    this.use.run({ ...next, at });
    return true;
  }

  startSession(t: OutstandingToken, meta: SessionMeta, lastLogin: boolean): number {
    this.record.run(t);
    const row = this.session.get<{ id: number }>({ ...t, ...meta })!;
    if (lastLogin) this.lastLogin.run({ userId: t.userId, at: t.createdAt });
    return row.id;
  }

  touchSession(t: OutstandingToken, at: number): void {
    this.record.run(t);
    this.use.run({ ...t, at });
  }

  /** One batch of a flush; returns how many tokens it deleted. */
  flushBatch(now: number, limit: number): number {
    this.flushSessions.run({ now, limit });
    return this.flushTokens.run({ now, limit }).changes;
  }
}

export class KyselyStorage implements Storage {
  /**
   * On SQLite (`sqlite` is the connection under the dialect), the reads every
   * authenticated request makes (user by id, refresh token state) and the
   * writes of logins, refreshes and logouts skip per-call query building and
   * statement preparation, and the writes are group-committed.
   */
  private hot:
    | {
        userAuth: Prepared<{ id: number }>;
        tokenState: Prepared<{ jti: string }>;
        /** A whole user by id, username or phone number (a login's lookup). */
        user: Record<UserKey, Prepared<{ value: string | number }>>;
      }
    | undefined;
  private writes: SqliteWrites | undefined;
  private closed = false;

  /**
   * The auth state of recently seen users: the read behind every authenticated
   * request. Entries are dropped when this process changes the user, when the
   * change feed reports another process's change, and after a short TTL.
   * `generation` moves on every drop, so a read that raced a change is not cached.
   */
  private readonly userCache = new LRUCache<number, UserAuth>({ max: 50_000, ttl: USER_CACHE_TTL_MS });
  private generation = 0;
  private cacheLive = false;
  private stopFeed: (() => void) | undefined;

  constructor(
    readonly db: Kysely<Database>,
    readonly dialect: Dialect,
    private readonly sqlite?: SQLiteDatabase,
    private readonly feed?: ChangeFeed,
  ) {}

  private forget(id?: number): void {
    this.generation++;
    if (id === undefined) this.userCache.clear();
    else this.userCache.delete(id);
  }

  /** Starts following other processes' user changes; caching is on only while this works. */
  private startFeed(): void {
    const feed = this.feed;
    if (!feed || this.stopFeed) return;
    if (feed.kind === 'sqlite-data-version') {
      const version = this.sqlite!.prepare('PRAGMA data_version').pluck();
      let last = version.get();
      const timer = setInterval(() => {
        try {
          const now = version.get();
          if (now !== last) {
            last = now;
            this.forget();
          }
        } catch {
          this.cacheLive = false;
          this.forget();
        }
      }, feed.intervalMs);
      timer.unref();
      this.cacheLive = true;
      this.stopFeed = () => clearInterval(timer);
      return;
    }
    let client: pg.Client | undefined;
    let retry: NodeJS.Timeout | undefined;
    // A client being let go keeps a no-op error listener: the server may still
    // terminate it (a restart, DROP DATABASE ... FORCE), and an 'error' event
    // with no listener would crash the process.
    const dispose = (c: pg.Client | undefined) => {
      if (!c) return;
      c.removeAllListeners();
      c.on('error', () => {});
      c.end().catch(() => {});
    };
    let stopped = false;
    const down = () => {
      this.cacheLive = false;
      this.forget();
      dispose(client);
      client = undefined;
      if (!stopped && !retry) {
        retry = setTimeout(() => {
          retry = undefined;
          connect();
        }, 1_000);
        retry.unref();
      }
    };
    const connect = () => {
      const c = feed.connect();
      client = c;
      c.on('error', down);
      c.on('end', down);
      c.on('notification', (msg) => this.forget(msg.payload ? Number(msg.payload) : undefined));
      c.connect()
        .then(() => c.query(`LISTEN ${USER_CHANNEL}`))
        .then(() => {
          this.forget(); // changes made while not listening
          this.cacheLive = true;
        }, down);
    };
    connect();
    this.stopFeed = () => {
      stopped = true;
      if (retry) clearTimeout(retry);
      this.cacheLive = false;
      dispose(client);
    };
  }

  /** After a change to a user: drop it here, and tell the other instances. */
  private async changedUser(id: number): Promise<void> {
    this.forget(id);
    if (this.dialect === 'postgres') await sql`SELECT pg_notify(${USER_CHANNEL}, ${String(id)})`.execute(this.db);
  }

  /** Prepares the hot reads and writes; the tables must exist, so this runs after migrating. */
  private prepareHot(): void {
    const sqlite = this.sqlite;
    if (!sqlite || this.hot) return;
    this.hot = {
      userAuth: prepare(sqlite, (p: { id: number }) => this.userAuthQuery(p.id)),
      tokenState: prepare(sqlite, (p: { jti: string }) => this.tokenStateQuery(p.jti)),
      user: {
        id: prepare(sqlite, (p: { value: number }) => this.userQuery('id', p.value)),
        username: prepare(sqlite, (p: { value: string }) => this.userQuery('username', p.value)),
        phone_number: prepare(sqlite, (p: { value: string }) => this.userQuery('phone_number', p.value)),
      },
    };
    this.writes = new SqliteWrites(sqlite, this.db);
  }

  static create(dialect: KyselyDialect, name: Dialect, sqlite?: SQLiteDatabase, feed?: ChangeFeed): KyselyStorage {
    return new KyselyStorage(new Kysely<Database>({ dialect }), name, sqlite, feed);
  }

  private userQuery(key: UserKey, value: string | number) {
    return this.db.selectFrom('users').selectAll().where(key, '=', value);
  }

  /** A user by one of its unique columns. */
  private findUser(key: UserKey, value: string | number): Promise<UserRecord | undefined> {
    return this.guard(async () => {
      const r = this.hot ? this.hot.user[key].get<Selectable<UsersTable>>({ value }) : await this.userQuery(key, value).executeTakeFirst();
      return r && toUser(r);
    });
  }

  private userAuthQuery(id: number) {
    return this.db.selectFrom('users').select(['id', 'username', 'is_active', 'tokens_valid_after']).where('id', '=', id);
  }

  private tokenStateQuery(jti: string) {
    return this.db
      .selectFrom('outstanding_tokens as o')
      .leftJoin('blacklisted_tokens as b', 'b.token_id', 'o.id')
      .select(['o.family_id', 'o.family_issued_at', 'o.user_id', 'b.reason'])
      .where('o.jti', '=', jti);
  }

  /** Runs a storage call, turning "database unreachable" into StorageUnavailableError. */
  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StorageUnavailableError(new Error('storage is closed'));
    try {
      return await fn();
    } catch (err) {
      if (isUnavailable(err)) throw new StorageUnavailableError(err);
      throw err;
    }
  }

  async migrate(): Promise<void> {
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => migrations(this.dialect) },
      migrationTableName: 'latchkey_migrations',
      migrationLockTableName: 'latchkey_migrations_lock',
      // On PostgreSQL, keep the migration tables in the schema latchkey uses
      // (search_path); unqualified, Kysely would find another schema's copy.
      ...(this.dialect === 'postgres' ? { migrationTableSchema: await this.currentSchema() } : {}),
    });
    const { error, results } = await this.guard(() =>
      this.exclusively(async () => {
        // A database migrated by a newer release (mid rolling deploy) is left
        // as it is: migrations are additive, so this release still runs on it.
        if (await this.aheadOfThisRelease()) return { results: [] as MigrationResult[] };
        return migrator.migrateToLatest();
      }),
    );
    const failed = results?.find((r) => r.status === 'Error');
    if (!error) {
      this.prepareHot();
      this.startFeed();
    }
    if (error) {
      throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String((error as Error).message ?? error)}`, {
        cause: error,
      });
    }
  }

  /** True if the database has applied a migration this release does not know. */
  private async aheadOfThisRelease(): Promise<boolean> {
    const known = new Set(Object.keys(migrations(this.dialect)));
    try {
      const rows = await sql<{ name: string }>`SELECT name FROM latchkey_migrations`.execute(this.db);
      return rows.rows.some((r) => !known.has(r.name));
    } catch {
      return false; // no migration table yet: a fresh database
    }
  }

  /**
   * On SQLite, runs `fn` holding the database's write lock, so that processes
   * migrating one file at once take turns (the others wait on busy_timeout and
   * then find nothing to do), and a failed migration rolls back whole. Kysely
   * takes no lock on SQLite; on PostgreSQL its own lock table serializes.
   */
  private async exclusively<T extends { error?: unknown }>(fn: () => Promise<T>): Promise<T> {
    const db = this.sqlite;
    if (!db) return fn();
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

  private async currentSchema(): Promise<string> {
    const { rows } = await this.guard(() => sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(this.db));
    if (!rows[0]?.schema) throw new Error('PostgreSQL has no current schema; check search_path');
    return rows[0].schema;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // Commit what is already waiting; anything that cannot be is refused.
    this.writes?.commits.flush();
    this.writes?.commits.abandon(new StorageUnavailableError(new Error('storage is closed')));
    this.stopFeed?.();
    this.forget();
    await this.db.destroy();
  }

  ping(): Promise<void> {
    return this.guard(async () => {
      await this.db.selectFrom('latchkey_migrations' as never).select((eb) => eb.lit(1).as('one')).limit(1).execute();
    });
  }

  createUser(user: NewUser): Promise<UserRecord> {
    return this.guard(async () => {
      try {
        const row = await this.db.insertInto('users').values(toRow(user)).returningAll().executeTakeFirstOrThrow();
        await this.changedUser(row.id);
        if (user.id !== undefined && this.dialect === 'postgres') {
          // An explicit id (a user imported with its old id) leaves the identity
          // sequence behind; move it past the largest id so later inserts don't collide.
          await sql`SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))`.execute(this.db);
        }
        return toUser(row);
      } catch (err) {
        const field = uniqueField(err);
        if (field) throw new UniqueViolationError(field);
        throw err;
      }
    });
  }

  getUserById(id: number): Promise<UserRecord | undefined> {
    return this.findUser('id', id);
  }

  cachedUserAuth(id: number): UserAuth | undefined {
    return this.cacheLive ? this.userCache.get(id) : undefined;
  }

  getUserAuth(id: number): Promise<UserAuth | undefined> {
    const cached = this.cachedUserAuth(id);
    if (cached) return Promise.resolve(cached);
    return this.guard(async () => {
      const generation = this.generation;
      const r = this.hot ? this.hot.userAuth.get<UserAuthRow>({ id }) : await this.userAuthQuery(id).executeTakeFirst();
      if (!r) return undefined;
      const auth: UserAuth = { ...r, is_active: Boolean(r.is_active) };
      if (this.cacheLive && generation === this.generation) this.userCache.set(id, auth);
      return auth;
    });
  }

  getUserByUsername(username: string): Promise<UserRecord | undefined> {
    return this.findUser('username', username);
  }

  getUserByPhone(phone: string): Promise<UserRecord | undefined> {
    return this.findUser('phone_number', phone);
  }

  updateUser(id: number, patch: UserPatch): Promise<UserRecord | undefined> {
    return this.guard(async () => {
      if (Object.keys(patch).length === 0) return this.getUserById(id);
      try {
        const r = await this.db.updateTable('users').set(toRow(patch)).where('id', '=', id).returningAll().executeTakeFirst();
        await this.changedUser(id);
        return r && toUser(r);
      } catch (err) {
        const field = uniqueField(err);
        if (field) throw new UniqueViolationError(field);
        throw err;
      }
    });
  }

  deleteUser(id: number): Promise<boolean> {
    return this.guard(async () => {
      const r = await this.db.transaction().execute(async (trx) => {
        await trx.deleteFrom('sessions').where('user_id', '=', id).execute();
        return trx.deleteFrom('users').where('id', '=', id).executeTakeFirst();
      });
      await this.changedUser(id);
      return Number(r.numDeletedRows) > 0;
    });
  }

  listUsers(): Promise<UserRecord[]> {
    return this.guard(async () => {
      const rows = await this.db.selectFrom('users').selectAll().orderBy('id').execute();
      return rows.map(toUser);
    });
  }

  recordOutstanding(t: OutstandingToken): Promise<void> {
    return this.guard(async () => {
      await recordToken(this.db, t).execute();
    });
  }

  getTokenState(jti: string): Promise<TokenState | undefined> {
    return this.guard(async () => {
      const r = this.hot ? this.hot.tokenState.get<TokenStateRow>({ jti }) : await this.tokenStateQuery(jti).executeTakeFirst();
      if (!r) return undefined;
      return { familyId: r.family_id, familyIssuedAt: r.family_issued_at, userId: r.user_id, blacklisted: r.reason ?? null };
    });
  }

  /** Runs a write in the next group commit on SQLite, or in a Kysely transaction. */
  private write<T>(sqlite: (w: SqliteWrites) => T, kysely: (trx: Kysely<Database>) => Promise<T>): Promise<T> {
    const w = this.writes;
    return this.guard(() => (w ? w.commits.run(() => sqlite(w)) : this.db.transaction().execute(kysely)));
  }

  blacklist(t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
    return this.write(
      (w) => w.consume(t, reason, at),
      (trx) => consume(trx, t, reason, at),
    );
  }

  rotate(old: OutstandingToken, next: OutstandingToken, at: number): Promise<boolean> {
    return this.write(
      (w) => w.rotate(old, next, at),
      async (trx) => {
        if (!(await consume(trx, old, 'rotated', at))) return false;
        await recordToken(trx, next).execute();
        await noteUse(trx, { ...next, at }).execute();
        return true;
      },
    );
  }

  startSession(t: OutstandingToken, meta: SessionMeta, opts: { lastLogin?: boolean } = {}): Promise<number> {
    const lastLogin = opts.lastLogin ?? false;
    return this.write(
      (w) => w.startSession(t, meta, lastLogin),
      async (trx) => {
        await recordToken(trx, t).execute();
        const row = await openSession(trx, { ...t, ...meta }).executeTakeFirstOrThrow();
        if (lastLogin) await setLastLogin(trx, { userId: t.userId, at: t.createdAt }).execute();
        return row.id;
      },
    );
  }

  touchSession(t: OutstandingToken, at: number): Promise<void> {
    return this.write(
      (w) => w.touchSession(t, at),
      async (trx) => {
        await recordToken(trx, t).execute();
        await noteUse(trx, { ...t, at }).execute();
      },
    );
  }

  /** Sessions with at least one token neither blacklisted nor expired at `now`. */
  private liveSessions(now: number) {
    return this.db
      .selectFrom('sessions as s')
      .selectAll('s')
      .where((eb) =>
        eb.exists(
          eb
            .selectFrom('outstanding_tokens as o')
            .leftJoin('blacklisted_tokens as b', 'b.token_id', 'o.id')
            .select(eb.lit(1).as('one'))
            .whereRef('o.family_id', '=', 's.family_id')
            .where('b.id', 'is', null)
            .where('o.expires_at', '>', now),
        ),
      );
  }

  listSessions(filter: { userId?: number | undefined }, now: number): Promise<SessionRecord[]> {
    return this.guard(async () => {
      let q = this.liveSessions(now);
      if (filter.userId !== undefined) q = q.where('s.user_id', '=', filter.userId);
      const rows = await q.orderBy('s.last_used_at', 'desc').orderBy('s.id', 'desc').execute();
      return rows.map(toSession);
    });
  }

  getSession(id: number, now: number): Promise<SessionRecord | undefined> {
    return this.guard(async () => {
      const r = await this.liveSessions(now).where('s.id', '=', id).executeTakeFirst();
      return r && toSession(r);
    });
  }

  revokeFamily(familyId: string, reason: BlacklistReason, at: number): Promise<number> {
    return this.revokeWhere('family_id', familyId, reason, at);
  }

  revokeUserTokens(userId: number, reason: BlacklistReason, at: number): Promise<number> {
    return this.revokeWhere('user_id', userId, reason, at);
  }

  private revokeWhere(
    column: 'family_id' | 'user_id',
    value: string | number,
    reason: BlacklistReason,
    at: number,
  ): Promise<number> {
    return this.guard(async () => {
      const rows = await this.db
        .insertInto('blacklisted_tokens')
        .columns(['token_id', 'reason', 'blacklisted_at'])
        .expression((eb) =>
          eb
            .selectFrom('outstanding_tokens')
            .select([eb.ref('id').as('token_id'), eb.val(reason).as('reason'), eb.val(at).as('blacklisted_at')])
            .where(column, '=', value),
        )
        .onConflict((oc) => oc.column('token_id').doNothing())
        .returning('id')
        .execute();
      return rows.length;
    });
  }

  /**
   * Deletes in batches of FLUSH_BATCH tokens, one transaction each, and after
   * each batch leaves the write lock free for a quarter of the time the batch
   * took, so that a server on the same database keeps committing while a large
   * flush runs. Small transactions cost more in all, as each one rewrites and
   * checkpoints the index pages that its random jtis and families touch: on a
   * million-token SQLite database, 400,000 expired tokens went in 11 s as one
   * transaction (holding the lock throughout) and in about 60 s in batches.
   */
  async flushExpired(now: number): Promise<number> {
    const p = { now, limit: FLUSH_BATCH };
    let total = 0;
    for (;;) {
      const started = performance.now();
      const w = this.writes;
      const n = await this.guard(() =>
        w
          ? w.commits.run(() => w.flushBatch(now, FLUSH_BATCH))
          : this.db.transaction().execute(async (trx) => {
              await flushSessions(trx, p).execute();
              return Number((await flushTokens(trx, p).executeTakeFirst()).numDeletedRows);
            }),
      );
      total += n;
      if (n < FLUSH_BATCH) return total;
      await new Promise((r) => setTimeout(r, (performance.now() - started) / 4));
    }
  }
}
