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
// The rotation, the one write on a hot path, is also a prepared statement
// (prepared.ts), built from the same CTEs with sentinels for its values.
import { sql, type Kysely, type RawBuilder } from 'kysely';
import type pg from 'pg';
import type { Database } from '../schema.js';
import type { BlacklistReason, OutstandingToken, SessionMeta, Successor } from '../types.js';
import { KyselyWrites } from '../writes.js';
import { Prepared, type Sentinel } from './prepared.js';
import { RotationBatcher } from './rotation-batch.js';

/** A token's columns as a statement takes them: its values, or a prepared statement's sentinels. */
type TokenValues = { [K in keyof OutstandingToken]: unknown };

/** `recorded`: the token's outstanding_tokens id, whether this statement inserted it or it was there. */
const recordCte = (t: TokenValues) => sql`
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
const consumeCte = (reason: BlacklistReason | RawBuilder<unknown>, at: unknown) => sql`
  consumed AS (
    INSERT INTO blacklisted_tokens (token_id, reason, blacklisted_at)
    SELECT id, ${reason}, ${at}::bigint FROM recorded
    ON CONFLICT (token_id) DO NOTHING
    RETURNING token_id
  )`;

/** Sets the family's last use (queries.ts noteUse), only if `gate` has a row. */
const noteUseCte = (t: TokenValues, at: unknown, gate: RawBuilder<unknown>) => sql`
  used AS (
    INSERT INTO sessions (family_id, user_id, created_at, last_used_at, user_agent, address)
    SELECT ${t.familyId}, ${t.userId}::bigint, ${t.familyIssuedAt}::bigint, ${at}::bigint, '', '' FROM ${gate}
    ON CONFLICT (family_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
  )`;

type Won = { won: number };
type RotateParams = { old: OutstandingToken; next: OutstandingToken; at: number; successor?: Successor };

/** Storage.rotate() as one statement; `kept` only with a successor. */
function rotateStatement(v: Sentinel<RotateParams>, withSuccessor: boolean) {
  const token = (pick: (p: RotateParams) => OutstandingToken): TokenValues => ({
    jti: v((p) => pick(p).jti),
    userId: v((p) => pick(p).userId),
    familyId: v((p) => pick(p).familyId),
    familyIssuedAt: v((p) => pick(p).familyIssuedAt),
    createdAt: v((p) => pick(p).createdAt),
    expiresAt: v((p) => pick(p).expiresAt),
  });
  const old = token((p) => p.old);
  const next = token((p) => p.next);
  const at = v((p) => p.at);
  const kept = withSuccessor
    ? sql`,
  kept AS (
    INSERT INTO rotation_successors (token_id, successor_jti, sealed, rotated_at)
    SELECT token_id, ${v((p) => p.successor!.jti)}, ${v((p) => p.successor!.sealed)}, ${at}::bigint FROM consumed
    ON CONFLICT (token_id) DO NOTHING
  )`
    : sql``;
  return sql`WITH ${recordCte(old)}, ${consumeCte(sql.lit('rotated'), at)},
  nxt AS (
    INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at)
    SELECT ${next.jti}, ${next.userId}::bigint, ${next.familyId}, ${next.familyIssuedAt}::bigint,
           ${next.createdAt}::bigint, ${next.expiresAt}::bigint FROM consumed
    ON CONFLICT (jti) DO NOTHING
  ),
  ${noteUseCte(next, at, sql`consumed`)}${kept}
  SELECT count(*)::int AS won FROM consumed`;
}

export class PostgresWrites extends KyselyWrites {
  private readonly rotateWith: Prepared<RotateParams>;
  private readonly rotateWithout: Prepared<RotateParams>;
  private readonly rotations: RotationBatcher;

  constructor(
    private readonly pg: Kysely<Database>,
    private readonly pool: pg.Pool,
  ) {
    super(pg);
    this.rotateWith = new Prepared('latchkey_rotate_kept', (v) => rotateStatement(v, true).compile(pg));
    this.rotateWithout = new Prepared('latchkey_rotate', (v) => rotateStatement(v, false).compile(pg));
    this.rotations = new RotationBatcher(pool, (p) => this.rotateAlone(p));
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

  /** One rotation as its own statement (rotation-batch.ts sends concurrent ones together). */
  private async rotateAlone(p: RotateParams): Promise<boolean> {
    const rows = await (p.successor ? this.rotateWith : this.rotateWithout).run<Won>(this.pool, p);
    return rows[0]!.won > 0;
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
    await sql`WITH ${recordCte(t)}, ${noteUseCte(t, at, sql`(SELECT 1) AS one`)}
      SELECT 1`.execute(this.pg);
  }
}
