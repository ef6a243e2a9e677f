// Every statement both databases run, each built by Kysely from one parameter
// object. The general path executes them through Kysely (in a transaction
// where writes go together); SQLite's fast path compiles each once and runs it
// as a prepared statement (sqlite/prepared.ts). One source, so the two paths
// cannot drift apart.
import type { Expression, Kysely } from 'kysely';
import type { Database, UserKey } from './schema.js';
import type { BlacklistReason, OutstandingToken, SessionMeta } from './types.js';

export type ConsumeParams = { jti: string; reason: BlacklistReason; at: number };
export type UseParams = Pick<OutstandingToken, 'familyId' | 'userId' | 'familyIssuedAt'> & { at: number };
export type LastLoginParams = { userId: number | null; at: number };
export type FlushParams = { now: number; limit: number };
export type SuccessorParams = { jti: string; successorJti: string; sealed: string; at: number };

/** Records an issued refresh token; a jti already recorded is left as it is. */
export const recordToken = (db: Kysely<Database>, t: OutstandingToken) =>
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
export const blacklistToken = (db: Kysely<Database>, p: ConsumeParams) =>
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

/** Keeps the pair a rotation of `jti` answered (the retry grace); one per rotated token. */
export const recordSuccessor = (db: Kysely<Database>, p: SuccessorParams) =>
  db
    .insertInto('rotation_successors')
    .columns(['token_id', 'successor_jti', 'sealed', 'rotated_at'])
    .expression((eb) =>
      eb
        .selectFrom('outstanding_tokens')
        .select((o) => [
          o.ref('id').as('token_id'),
          o.val(p.successorJti).as('successor_jti'),
          o.val(p.sealed).as('sealed'),
          o.val(p.at).as('rotated_at'),
        ])
        .where('jti', '=', p.jti),
    )
    .onConflict((oc) => oc.column('token_id').doNothing());

/** The pair kept by the rotation of `jti`, if any. */
export const successorQuery = (db: Kysely<Database>, jti: string) =>
  db
    .selectFrom('rotation_successors as r')
    .innerJoin('outstanding_tokens as o', 'o.id', 'r.token_id')
    .select(['r.successor_jti', 'r.sealed', 'r.rotated_at'])
    .where('o.jti', '=', jti);

/**
 * Sets a family's last use, opening a session without client details for a
 * family that has none (one minted elsewhere, or before sessions were kept).
 */
export const noteUse = (db: Kysely<Database>, p: UseParams) =>
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

/** A login's session, for the family its first token starts. */
export const openSession = (db: Kysely<Database>, p: OutstandingToken & SessionMeta) =>
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

export const setLastLogin = (db: Kysely<Database>, p: LastLoginParams) =>
  db.updateTable('users').set({ last_login: p.at }).where('id', '=', p.userId);

/** The oldest `limit` tokens that expired before `now`: one batch of a flush. */
const expiredBatch = (db: Kysely<Database>, p: FlushParams) =>
  db.selectFrom('outstanding_tokens').where('expires_at', '<', p.now).orderBy('expires_at').orderBy('id').limit(p.limit);

/**
 * The sessions a flush batch leaves without a token: found from the batch's
 * tokens (by the expiry index), so the cost follows what expired, not how
 * many sessions there are. Runs before the batch's tokens go.
 */
export const flushSessions = (db: Kysely<Database>, p: FlushParams) =>
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
export const flushTokens = (db: Kysely<Database>, p: FlushParams) =>
  db.deleteFrom('outstanding_tokens').where('id', 'in', expiredBatch(db, p).select('id'));

/** A whole user by one of its unique columns (a login's lookup). */
export const userQuery = (db: Kysely<Database>, key: UserKey, value: string | number) =>
  db.selectFrom('users').selectAll().where(key, '=', value);

/** The columns of a UserAuth: the read behind every authenticated request. */
export const userAuthQuery = (db: Kysely<Database>, id: number) =>
  db.selectFrom('users').select(['id', 'username', 'is_active', 'tokens_valid_after', 'tokens_revoked_ms']).where('id', '=', id);

/** A refresh token's family, user and blacklist reason: the read behind every refresh (`jti` may be an expression: PostgreSQL's any(array)). */
export const tokenStateQuery = (db: Kysely<Database>, jti: string | Expression<string>) =>
  db
    .selectFrom('outstanding_tokens as o')
    .leftJoin('blacklisted_tokens as b', 'b.token_id', 'o.id')
    .select(['o.family_id', 'o.family_issued_at', 'o.user_id', 'b.reason'])
    .where('o.jti', '=', jti);

/** Sessions with at least one token neither blacklisted nor expired at `now`. */
export const liveSessions = (db: Kysely<Database>, now: number) =>
  db
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

/** Blacklists every recorded token of one family or one user; returns the rows newly blacklisted. */
export const revokeWhere = (
  db: Kysely<Database>,
  column: 'family_id' | 'user_id',
  value: string | number,
  reason: BlacklistReason,
  at: number,
) =>
  db
    .insertInto('blacklisted_tokens')
    .columns(['token_id', 'reason', 'blacklisted_at'])
    .expression((eb) =>
      eb
        .selectFrom('outstanding_tokens')
        .select([eb.ref('id').as('token_id'), eb.val(reason).as('reason'), eb.val(at).as('blacklisted_at')])
        .where(column, '=', value),
    )
    .onConflict((oc) => oc.column('token_id').doNothing())
    .returning('id');
