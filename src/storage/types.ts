// The storage interface: small and shaped by the domain, not by SQL. The
// service layer sees only this; each database is a Kysely dialect behind it.

export interface UserRecord {
  id: number;
  username: string;
  /** An encoded hash (argon2id PHC string, or a Django encoding awaiting rehash). */
  password: string;
  email: string;
  phone_number: string | null;
  first_name: string;
  last_name: string;
  address: string;
  postal_code: string;
  birthdate: string | null;
  profile_image: string | null;
  is_active: boolean;
  is_staff: boolean;
  is_superuser: boolean;
  /** Seconds since the epoch. */
  date_joined: number;
  last_login: number | null;
  /** Refresh tokens issued before this time (seconds) are refused. */
  tokens_valid_after: number | null;
}

/** What authenticating a token needs of its user: the few columns read on every request. */
export type UserAuth = Pick<UserRecord, 'id' | 'username' | 'is_active' | 'tokens_valid_after'>;

export type NewUser = Omit<UserRecord, 'id' | 'last_login' | 'tokens_valid_after'> & { id?: number };

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

export type BlacklistReason = 'logout' | 'rotated' | 'reuse' | 'revoked';

export interface TokenState {
  familyId: string;
  familyIssuedAt: number;
  userId: number | null;
  blacklisted: BlacklistReason | null;
}

export interface Storage {
  readonly dialect: 'sqlite' | 'postgres';
  /** Applies pending migrations; safe to call from several processes at once. */
  migrate(): Promise<void>;
  close(): Promise<void>;
  /** Throws if the database cannot be reached. */
  ping(): Promise<void>;

  /** Throws UniqueViolationError naming the field that collided. */
  createUser(user: NewUser): Promise<UserRecord>;
  getUserById(id: number): Promise<UserRecord | undefined>;
  /** The hot-path read behind every authenticated request. */
  getUserAuth(id: number): Promise<UserAuth | undefined>;
  getUserByUsername(username: string): Promise<UserRecord | undefined>;
  getUserByPhone(phone: string): Promise<UserRecord | undefined>;
  updateUser(id: number, patch: UserPatch): Promise<UserRecord | undefined>;
  deleteUser(id: number): Promise<boolean>;

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
   */
  rotate(old: OutstandingToken, next: OutstandingToken, at: number): Promise<boolean>;
  /** Blacklists every token of a rotation family; returns how many were newly blacklisted. */
  revokeFamily(familyId: string, reason: BlacklistReason, at: number): Promise<number>;
  /** Blacklists every recorded refresh token of one user; returns how many were newly blacklisted. */
  revokeUserTokens(userId: number, reason: BlacklistReason, at: number): Promise<number>;
  /** Deletes outstanding tokens (and their blacklist rows) that expired before `now`. */
  flushExpired(now: number): Promise<number>;
}
