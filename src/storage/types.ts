// The storage interface: small and shaped by the domain, not by SQL. The
// service layer sees only this; each database is a Kysely dialect behind it.
import type { UserColumns } from '../users/fields.js';
import type { MailOutbox, NewMail } from '../mail/outbox.js';

/** A user: every column of the users table, as src/users/fields.ts declares them. */
export type UserRecord = UserColumns;

/** What authenticating a token needs of its user: the few columns read on every request. */
export type UserAuth = Pick<UserRecord, 'id' | 'username' | 'is_active' | 'tokens_valid_after' | 'tokens_revoked_ms'>;

export type NewUser = Omit<UserRecord, 'id' | 'last_login' | 'tokens_valid_after' | 'tokens_revoked_ms'> & { id?: number };

export type UserPatch = Partial<Omit<UserRecord, 'id'>>;

export interface OutstandingToken {
  jti: string;
  userId: number | null;
  /** The jti of the refresh token that started this login's rotation chain. */
  familyId: string;
  /** When the family started (seconds): rotation never extends a family past its absolute lifetime. */
  familyIssuedAt: number;
  createdAt: number;
  expiresAt: number;
}

/** What a rotation keeps for a retry of the rotated token: its successor's jti and the answered pair, sealed. */
export interface Successor {
  jti: string;
  sealed: string;
}

export type BlacklistReason = 'logout' | 'rotated' | 'reuse' | 'revoked';

export interface TokenState {
  familyId: string;
  familyIssuedAt: number;
  userId: number | null;
  blacklisted: BlacklistReason | null;
}

/** What a login records about its client, shown back in the session list. */
export interface SessionMeta {
  userAgent: string;
  address: string;
}

/**
 * A session: one login's rotation family, with when it started, when it was
 * last refreshed and who started it. `id` is the table's own key, the only
 * handle shown to clients; `familyId` (a refresh token's jti) never leaves the
 * server.
 */
export interface SessionRecord extends SessionMeta {
  id: number;
  familyId: string;
  userId: number | null;
  /** The family's first login (seconds). */
  createdAt: number;
  /** The last refresh of any token of the family, or the login (seconds). */
  lastUsedAt: number;
}

/**
 * The mail a user change causes, composed from the user as the change left it
 * (a one-time link covers the new password hash, email and last_login), or
 * null for none. The storage records it in the change's own transaction.
 */
export type MailFor = (user: UserRecord) => NewMail | null;

export interface Storage {
  readonly dialect: 'sqlite' | 'postgres';
  /** The mail outbox, in the same database. */
  readonly outbox: MailOutbox;
  /** Applies pending migrations; safe to call from several processes at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Throws if the database cannot be reached. */
  ping(): Promise<void>;

  /**
   * Throws UniqueViolationError naming the field that collided. With `mail`,
   * the mail is recorded in the same transaction as the new user.
   */
  createUser(user: NewUser, mail?: MailFor): Promise<UserRecord>;
  getUserById(id: number): Promise<UserRecord | undefined>;
  /** The hot-path read behind every authenticated request. */
  getUserAuth(id: number): Promise<UserAuth | undefined>;
  /**
   * getUserAuth() answered from this process's cache without waiting, or
   * undefined when the user is not cached (ask getUserAuth() then). The cache
   * follows every instance's changes to users (see KyselyStorage).
   */
  cachedUserAuth(id: number): UserAuth | undefined;
  getUserByUsername(username: string): Promise<UserRecord | undefined>;
  getUserByPhone(phone: string): Promise<UserRecord | undefined>;
  /** With `mail`, the mail is recorded in the same transaction as the change. */
  updateUser(id: number, patch: UserPatch, mail?: MailFor): Promise<UserRecord | undefined>;
  /**
   * Users whose email is exactly `email` (emails are not unique), by id; with
   * `iexact`, ignoring case, as Django's `email__iexact` (a login by email).
   */
  getUsersByEmail(email: string, opts?: { iexact?: boolean }): Promise<UserRecord[]>;
  /** Deletes the user and their sessions; their token and blacklist records stay. */
  deleteUser(id: number): Promise<boolean>;
  /** Every user, by id. */
  listUsers(): Promise<UserRecord[]>;

  /** Records an issued refresh token; a second call with the same jti changes nothing. */
  recordOutstanding(token: OutstandingToken): Promise<void>;
  getTokenState(jti: string): Promise<TokenState | undefined>;
  /**
   * Blacklists one refresh token, recording it first if it was minted elsewhere.
   * Atomic: of any number of concurrent calls for one jti, exactly one returns true.
   */
  blacklist(token: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean>;
  /**
   * Rotation in one transaction: consumes `old` (as blacklist() does, reason
   * 'rotated') and records `next`, or, if another caller consumed `old` first,
   * changes nothing and returns false. One commit, so one fsync, per refresh.
   * The winner also sets the family's last use to `at`, as touchSession does,
   * and records `successor` for `old`, so that every caller that lost (or
   * comes back) finds the winner's.
   */
  rotate(old: OutstandingToken, next: OutstandingToken, at: number, successor?: Successor): Promise<boolean>;
  /** What the rotation of `jti` kept for a retry (rotate()'s `successor`), if anything. */
  getSuccessor(jti: string): Promise<(Successor & { rotatedAt: number }) | undefined>;
  /**
   * A login: records the family's first refresh token and opens its session,
   * in one transaction (one commit). With `lastLogin`, the same transaction
   * sets the user's last_login to the token's createdAt. Returns the session's id.
   */
  startSession(token: OutstandingToken, meta: SessionMeta, opts?: { lastLogin?: boolean }): Promise<number>;
  /**
   * A refresh without rotation: records the token if it was minted elsewhere,
   * and sets its family's last use to `at` (opening a session without client
   * details if the family has none). rotate() does the same for its family.
   */
  touchSession(token: OutstandingToken, at: number): Promise<void>;
  /**
   * Live sessions (a family with a token neither blacklisted nor expired at
   * `now`), of one user or of all, the most recently used first.
   */
  listSessions(filter: { userId?: number | undefined }, now: number): Promise<SessionRecord[]>;
  /** One live session by id, or undefined if there is none or it has ended. */
  getSession(id: number, now: number): Promise<SessionRecord | undefined>;
  /** Blacklists every token of a rotation family; returns how many were newly blacklisted. */
  revokeFamily(familyId: string, reason: BlacklistReason, at: number): Promise<number>;
  /** Blacklists every recorded refresh token of one user; returns how many were newly blacklisted. */
  revokeUserTokens(userId: number, reason: BlacklistReason, at: number): Promise<number>;
  /**
   * Deletes outstanding tokens (and their blacklist rows) that expired before
   * `now`, and the sessions left with no token; returns how many tokens went.
   */
  flushExpired(now: number): Promise<number>;
}
