// PostgreSQL's write path: each write that must commit together is one
// statement (data-modifying CTEs), so one round trip and one commit instead of
// BEGIN, a statement per table and COMMIT. The statements are the same writes
// as the general path's (queries.ts); what is new is only that they travel
// together. A single statement is its own transaction, committed with the
// server's durability settings as they are (synchronous_commit untouched).
//
// One subtlety of CTEs: every part sees the snapshot taken when the statement
// began, not the rows another part inserted. So a token recorded by this very
// statement is found through the insert's RETURNING, not by a SELECT.
// The rotation, the one write on a hot path, is a prepared statement over
// arrays that carries every rotation issued together (rotation-batch.ts).
import { sql, type Kysely } from 'kysely';
import type pg from 'pg';
import type { Database } from '../schema.js';
import type { BlacklistReason, OutstandingToken, SessionMeta, Successor } from '../types.js';
import { KyselyWrites } from '../writes.js';
import { RotationBatcher } from './rotation-batch.js';

/** `recorded`: the token's outstanding_tokens id, whether this statement inserted it or it was there. */
const recordCte = (t: OutstandingToken) => sql`
  ins AS (
    INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at)
    VALUES (${t.jti}, ${t.userId}, ${t.familyId}, ${t.familyIssuedAt}, ${t.createdAt}, ${t.expiresAt})
    ON CONFLICT (jti) DO NOTHING
    RETURNING id
  ),
  recorded AS (
    SELECT id FROM ins
    UNION ALL
    SELECT id FROM outstanding_tokens WHERE jti = ${t.jti} AND NOT EXISTS (SELECT 1 FROM ins)
  )`;

/** `consumed`: the token's id if this statement blacklisted it (the atomic consume: one insert wins). */
const consumeCte = (reason: BlacklistReason, at: number) => sql`
  consumed AS (
    INSERT INTO blacklisted_tokens (token_id, reason, blacklisted_at)
    SELECT id, ${reason}, ${at}::bigint FROM recorded
    ON CONFLICT (token_id) DO NOTHING
    RETURNING token_id
  )`;

/** Sets the family's last use (queries.ts noteUse). */
const noteUseCte = (t: OutstandingToken, at: number) => sql`
  used AS (
    INSERT INTO sessions (family_id, user_id, created_at, last_used_at, user_agent, address)
    VALUES (${t.familyId}, ${t.userId}::bigint, ${t.familyIssuedAt}::bigint, ${at}::bigint, '', '')
    ON CONFLICT (family_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
  )`;

type Won = { won: number };

export class PostgresWrites extends KyselyWrites {
  private readonly rotations: RotationBatcher;

  constructor(
    private readonly pg: Kysely<Database>,
    pool: pg.Pool,
  ) {
    super(pg);
    this.rotations = new RotationBatcher(pool);
  }

  override async blacklist(t: OutstandingToken, reason: BlacklistReason, at: number): Promise<boolean> {
    const { rows } = await sql<Won>`WITH ${recordCte(t)}, ${consumeCte(reason, at)}
      SELECT count(*)::int AS won FROM consumed`.execute(this.pg);
    return rows[0]!.won > 0;
  }

  /**
   * Consumes `old`, records `next`, notes the family's use and keeps the
   * successor, as one statement: the last three only if the consume won.
   * Rotations issued together travel as one batch (rotation-batch.ts).
   */
  override rotate(old: OutstandingToken, next: OutstandingToken, at: number, successor?: Successor): Promise<boolean> {
    return this.rotations.rotate({ old, next, at, ...(successor ? { successor } : {}) });
  }

  override async startSession(t: OutstandingToken, meta: SessionMeta, lastLogin: boolean): Promise<number> {
    const last = lastLogin
      ? sql`,
  login AS (UPDATE users SET last_login = ${t.createdAt}::bigint WHERE id = ${t.userId}::bigint)`
      : sql``;
    const { rows } = await sql<{ id: number }>`WITH ${recordCte(t)},
  opened AS (
    INSERT INTO sessions (family_id, user_id, created_at, last_used_at, user_agent, address)
    VALUES (${t.familyId}, ${t.userId}, ${t.familyIssuedAt}, ${t.createdAt}, ${meta.userAgent}, ${meta.address})
    RETURNING id
  )${last}
  SELECT id FROM opened`.execute(this.pg);
    return rows[0]!.id;
  }

  override async touchSession(t: OutstandingToken, at: number): Promise<void> {
    await sql`WITH ${recordCte(t)}, ${noteUseCte(t, at)}
      SELECT 1`.execute(this.pg);
  }
}
