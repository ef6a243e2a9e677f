// The tables as Kysely sees them, and the conversions between their rows and
// the records of types.ts. Both databases share them: a boolean column reads
// back as 0/1 on SQLite and as true/false on PostgreSQL, hence Bool.
import type { Generated, Insertable, Selectable, Updateable } from 'kysely';
import type { BlacklistReason, NewUser, SessionRecord, UserPatch, UserRecord } from './types.js';

export type Bool = number | boolean;

export interface UsersTable {
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
  tokens_revoked_ms: number | null;
}

export interface OutstandingTable {
  id: Generated<number>;
  jti: string;
  user_id: number | null;
  family_id: string;
  family_issued_at: number;
  created_at: number;
  expires_at: number;
}

export interface BlacklistedTable {
  id: Generated<number>;
  token_id: number;
  reason: BlacklistReason;
  blacklisted_at: number;
}

export interface SessionsTable {
  id: Generated<number>;
  family_id: string;
  user_id: number | null;
  created_at: number;
  last_used_at: number;
  user_agent: string;
  address: string;
}

export interface RotationSuccessorsTable {
  token_id: number;
  successor_jti: string;
  sealed: string;
  rotated_at: number;
}

export interface Database {
  users: UsersTable;
  outstanding_tokens: OutstandingTable;
  blacklisted_tokens: BlacklistedTable;
  sessions: SessionsTable;
  rotation_successors: RotationSuccessorsTable;
}

/** The unique columns a user is found by. */
export type UserKey = 'id' | 'username' | 'phone_number';

export type UserAuthRow = {
  id: number;
  username: string;
  is_active: Bool;
  tokens_valid_after: number | null;
  tokens_revoked_ms: number | null;
};
export type TokenStateRow = { family_id: string; family_issued_at: number; user_id: number | null; reason: BlacklistReason | null };

export const toSession = (r: Selectable<SessionsTable>): SessionRecord => ({
  id: r.id,
  familyId: r.family_id,
  userId: r.user_id,
  createdAt: r.created_at,
  lastUsedAt: r.last_used_at,
  userAgent: r.user_agent,
  address: r.address,
});

export const toUser = (r: Selectable<UsersTable>): UserRecord => ({
  ...r,
  is_active: Boolean(r.is_active),
  is_staff: Boolean(r.is_staff),
  is_superuser: Boolean(r.is_superuser),
});

// Booleans are written as 1/0: better-sqlite3 binds no booleans, and
// PostgreSQL reads '1'/'0' as boolean input.
const bit = (b: boolean) => (b ? 1 : 0);
export function toRow(u: NewUser): Insertable<UsersTable>;
export function toRow(u: UserPatch): Updateable<UsersTable>;
export function toRow(u: UserPatch): Updateable<UsersTable> {
  const row: Updateable<UsersTable> = { ...u };
  for (const k of ['is_active', 'is_staff', 'is_superuser'] as const) if (typeof u[k] === 'boolean') row[k] = bit(u[k]);
  return row;
}
