// The storage both databases share, over Kysely: the user cache and the change
// feed that keeps it true, the reads, the users, sessions and revocations, the
// migration run and the flush loop. What differs per database is in
// sqlite/storage.ts and postgres/storage.ts, through the few hooks below; the
// write path of logins, refreshes and logouts is a Writes (writes.ts).
import { Migrator, sql, type Kysely, type MigrationResult, type Selectable } from 'kysely';
import { boundedCache } from '../bounded-cache.js';
import { StorageUnavailableError } from '../errors.js';
import { asUniqueViolation, isUnavailable } from './db-errors.js';
import { migrations, type Dialect } from './migrations.js';
import { liveSessions, recordToken, revokeWhere, successorQuery, tokenStateQuery, userAuthQuery, userQuery } from './queries.js';
import { toRow, toSession, toUser, type Database, type TokenStateRow, type UserAuthRow, type UserKey, type UsersTable } from './schema.js';
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
  MailFor,
  Successor,
} from './types.js';
import { KyselyMailOutbox } from '../mail/outbox-store.js';
import type { MailOutbox } from '../mail/outbox.js';
import { KyselyWrites, type Writes } from './writes.js';

/** A statement answered synchronously, without a round trip: one of SQLite's prepared statements. */
export interface Prepared<P> {
  run(p: P): { changes: number };
  get<R>(p: P): R | undefined;
}

/** The reads every request makes, answered synchronously where the database allows it (SQLite). */
export interface HotReads {
  userAuth: Prepared<{ id: number }>;
  tokenState: Prepared<{ jti: string }>;
  /** A whole user by id, username or phone number (a login's lookup). */
  user: Record<UserKey, Prepared<{ value: string | number }>>;
}

/**
 * How this storage learns that another process changed users, so that cached
 * user reads are dropped: SQLite's data_version (sqlite/feed.ts), PostgreSQL's
 * LISTEN/NOTIFY (postgres/feed.ts). Starting one returns how to stop it.
 * Without a feed, user reads are never cached.
 */
export type ChangeFeed = (listener: {
  /** A user (or, without an id, any user) changed. */
  changed(this: void, id?: number): void;
  /** Whether the feed is following changes now: the cache is used only while it is. */
  live(this: void, on: boolean): void;
}) => () => void;

/** Cached user reads live at most this long, whatever the feed says. */
const USER_CACHE_TTL_MS = 2_000;

/** Tokens deleted per transaction by flushExpired: about a quarter second of the write lock on a million-token SQLite database. */
const FLUSH_BATCH = 2_000;

export abstract class KyselyStorage implements Storage {
  abstract readonly dialect: Dialect;
  /** The write path; a subclass may swap in a faster one once migrated. */
  protected writes: Writes;
  /** Synchronous hot reads, if the subclass has them; otherwise each read is a Kysely query. */
  protected hot: HotReads | undefined;
  private closed = false;

  /**
   * The auth state of recently seen users: the read behind every authenticated
   * request. Entries are dropped when this process changes the user, when the
   * change feed reports another process's change, and after a short TTL.
   * `generation` moves on every drop, so a read that raced a change is not cached.
   */
  private readonly userCache = boundedCache<number, UserAuth>(50_000, { ttl: USER_CACHE_TTL_MS });
  private generation = 0;
  private cacheLive = false;
  private stopFeed: (() => void) | undefined;

  /** The mail outbox, in this database (src/mail/). */
  readonly outbox: MailOutbox;

  constructor(
    readonly db: Kysely<Database>,
    private readonly feed: ChangeFeed | undefined,
    dialect: Dialect,
  ) {
    this.writes = new KyselyWrites(db);
    this.outbox = new KyselyMailOutbox(db, { dialect });
  }

  // ---- what differs per database (defaults: nothing to do) ----

  /** Runs the migration `fn` holding whatever lock the database needs for it. */
  protected exclusively<T extends { error?: unknown }>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }

  /** The schema Kysely keeps its migration tables in, if it must be named. */
  protected async migrationSchema(): Promise<string | undefined> {
    return undefined;
  }

  /** After a successful migration: the tables exist now. */
  protected migrated(): void {}

  /**
   * Why the database must not be touched now, or undefined. SQLite: its files
   * cannot be written, and touching their memory map would kill the process.
   */
  protected fault(): Error | undefined {
    return undefined;
  }

  /** After a change to a user: drop it here (a subclass also tells the other instances). */
  protected async changedUser(id: number): Promise<void> {
    this.forget(id);
  }

  /** After a user was inserted with an explicit id (an imported user). */
  protected async insertedWithId(): Promise<void> {}

  // ---- the user cache ----

  protected forget(id?: number): void {
    this.generation++;
    if (id === undefined) this.userCache.clear();
    else this.userCache.delete(id);
  }

  /** Starts following other processes' user changes; caching is on only while this works. */
  private startFeed(): void {
    if (!this.feed || this.stopFeed) return;
    this.stopFeed = this.feed({
      changed: (id) => this.forget(id),
      live: (on) => {
        this.cacheLive = on;
      },
    });
  }

  /** Runs a storage call, turning "database unreachable" into StorageUnavailableError. */
  protected async guard<T>(fn: () => Promise<T>): Promise<T> {
    if (this.closed) throw new StorageUnavailableError(new Error('storage is closed'));
    const fault = this.fault();
    if (fault) throw new StorageUnavailableError(fault);
    try {
      return await fn();
    } catch (err) {
      if (isUnavailable(err)) throw new StorageUnavailableError(err);
      throw err;
    }
  }

  async migrate(): Promise<void> {
    const schema = await this.migrationSchema();
    const migrator = new Migrator({
      db: this.db,
      provider: { getMigrations: async () => migrations(this.dialect) },
      migrationTableName: 'latchkey_migrations',
      migrationLockTableName: 'latchkey_migrations_lock',
      ...(schema === undefined ? {} : { migrationTableSchema: schema }),
    });
    const { error, results } = await this.guard(() =>
      this.exclusively(async () => {
        // A database migrated by a newer release (mid rolling deploy) is left
        // as it is: migrations are additive, so this release still runs on it.
        if (await this.aheadOfThisRelease()) return { results: [] as MigrationResult[] };
        return migrator.migrateToLatest();
      }),
    );
    if (error) {
      const failed = results?.find((r) => r.status === 'Error');
      throw new Error(`migration ${failed?.migrationName ?? ''} failed: ${String((error as Error).message ?? error)}`, {
        cause: error,
      });
    }
    this.migrated();
    this.startFeed();
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

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopFeed?.();
    this.forget();
    const fault = this.fault();
    // Closing commits what waits and checkpoints: writes that a faulted
    // database cannot take (SQLite: through a map that would kill the process).
    // Then the connection is left for the process's exit to drop.
    await this.writes.end(new StorageUnavailableError(fault ?? new Error('storage is closed')));
    if (!fault) await this.db.destroy();
  }

  ping(): Promise<void> {
    return this.guard(async () => {
      await this.db
        .selectFrom('latchkey_migrations' as never)
        .select((eb) => eb.lit(1).as('one'))
        .limit(1)
        .execute();
    });
  }

  // ---- users ----

  createUser(user: NewUser, mail?: MailFor): Promise<UserRecord> {
    return this.guard(async () => {
      try {
        const insert = async (db: Kysely<Database>) => {
          const row = await db.insertInto('users').values(toRow(user)).returningAll().executeTakeFirstOrThrow();
          const created = toUser(row);
          await this.recordMail(db, mail, created);
          return created;
        };
        const created = mail ? await this.db.transaction().execute(insert) : await insert(this.db);
        await this.changedUser(created.id);
        if (user.id !== undefined) await this.insertedWithId();
        return created;
      } catch (err) {
        throw asUniqueViolation(err);
      }
    });
  }

  /** Records the mail a change causes, inside that change's transaction. */
  private async recordMail(db: Kysely<Database>, mail: MailFor | undefined, user: UserRecord): Promise<void> {
    const m = mail?.(user);
    if (m) await this.outbox.enqueue(m, db);
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
      const r = this.hot ? this.hot.userAuth.get<UserAuthRow>({ id }) : await userAuthQuery(this.db, id).executeTakeFirst();
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

  /** A user by one of its unique columns. */
  private findUser(key: UserKey, value: string | number): Promise<UserRecord | undefined> {
    return this.guard(async () => {
      const r = this.hot
        ? this.hot.user[key].get<Selectable<UsersTable>>({ value })
        : await userQuery(this.db, key, value).executeTakeFirst();
      return r && toUser(r);
    });
  }

  updateUser(id: number, patch: UserPatch, mail?: MailFor): Promise<UserRecord | undefined> {
    return this.guard(async () => {
      if (Object.keys(patch).length === 0 && !mail) return this.getUserById(id);
      try {
        const update = async (db: Kysely<Database>) => {
          const r =
            Object.keys(patch).length === 0
              ? await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()
              : await db.updateTable('users').set(toRow(patch)).where('id', '=', id).returningAll().executeTakeFirst();
          const updated = r && toUser(r);
          if (updated) await this.recordMail(db, mail, updated);
          return updated;
        };
        const updated = mail ? await this.db.transaction().execute(update) : await update(this.db);
        await this.changedUser(id);
        return updated;
      } catch (err) {
        throw asUniqueViolation(err);
      }
    });
  }

  getUsersByEmail(email: string, opts: { iexact?: boolean } = {}): Promise<UserRecord[]> {
    return this.guard(async () => {
      const rows = await this.db
        .selectFrom('users')
        .selectAll()
        .where((eb) => (opts.iexact ? eb(eb.fn('upper', ['email']), '=', eb.fn('upper', [eb.val(email)])) : eb('email', '=', email)))
        .orderBy('id')
        .execute();
      return rows.map(toUser);
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

  // ---- tokens and sessions ----

  recordOutstanding(t: OutstandingToken): Promise<void> {
    return this.guard(async () => {
      await recordToken(this.db, t).execute();
    });
  }

  getTokenState(jti: string): Promise<TokenState | undefined> {
    return this.guard(async () => {
      const r = this.hot ? this.hot.tokenState.get<TokenStateRow>({ jti }) : await tokenStateQuery(this.db, jti).executeTakeFirst();
      if (!r) return undefined;
      return { familyId: r.family_id, familyIssuedAt: r.family_issued_at, userId: r.user_id, blacklisted: r.reason ?? null };
    });
  }

  blacklist(t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
    return this.guard(() => this.writes.blacklist(t, reason, at));
  }

  rotate(old: OutstandingToken, next: OutstandingToken, at: number, successor?: Successor): Promise<boolean> {
    return this.guard(() => this.writes.rotate(old, next, at, successor));
  }

  getSuccessor(jti: string): Promise<(Successor & { rotatedAt: number }) | undefined> {
    return this.guard(async () => {
      const r = await successorQuery(this.db, jti).executeTakeFirst();
      return r && { jti: r.successor_jti, sealed: r.sealed, rotatedAt: r.rotated_at };
    });
  }

  startSession(t: OutstandingToken, meta: SessionMeta, opts: { lastLogin?: boolean } = {}): Promise<number> {
    const lastLogin = opts.lastLogin ?? false;
    return this.guard(() => this.writes.startSession(t, meta, lastLogin));
  }

  touchSession(t: OutstandingToken, at: number): Promise<void> {
    return this.guard(() => this.writes.touchSession(t, at));
  }

  listSessions(filter: { userId?: number | undefined }, now: number): Promise<SessionRecord[]> {
    return this.guard(async () => {
      let q = liveSessions(this.db, now);
      if (filter.userId !== undefined) q = q.where('s.user_id', '=', filter.userId);
      const rows = await q.orderBy('s.last_used_at', 'desc').orderBy('s.id', 'desc').execute();
      return rows.map(toSession);
    });
  }

  getSession(id: number, now: number): Promise<SessionRecord | undefined> {
    return this.guard(async () => {
      const r = await liveSessions(this.db, now).where('s.id', '=', id).executeTakeFirst();
      return r && toSession(r);
    });
  }

  revokeFamily(familyId: string, reason: BlacklistReason, at: number): Promise<number> {
    return this.guard(async () => (await revokeWhere(this.db, 'family_id', familyId, reason, at).execute()).length);
  }

  revokeUserTokens(userId: number, reason: BlacklistReason, at: number): Promise<number> {
    return this.guard(async () => (await revokeWhere(this.db, 'user_id', userId, reason, at).execute()).length);
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
    let total = 0;
    for (;;) {
      const started = performance.now();
      const n = await this.guard(() => this.writes.flushBatch(now, FLUSH_BATCH));
      total += n;
      if (n < FLUSH_BATCH) return total;
      await new Promise((r) => setTimeout(r, (performance.now() - started) / 4));
    }
  }
}
