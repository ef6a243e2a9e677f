// Group commit of rotations on PostgreSQL. The rotations that arrive while
// earlier ones are on their way are sent together, as one statement over
// arrays: one round trip, one plan execution and one commit (one WAL flush)
// for all of them, where each alone costs all three. Each caller still learns
// only whether its own consume won, and only after the commit that holds it.
//
// It is the only rotation statement: one rotation alone is a batch of one.
// Over a set of rows it does what writes.ts's single-row writes do, and what a
// set adds: two rotations of one token in a batch consume it once (the
// first in the batch wins, as the first to commit would), and a family's last
// use is noted once. Should the batch fail (a deadlock with another instance,
// a constraint), its rotations run again one by one, so that an error reaches
// only the caller whose rotation causes it.
import DataLoader from 'dataloader';
import type pg from 'pg';
import type { OutstandingToken, Successor } from '../types.js';

export interface RotationParams {
  old: OutstandingToken;
  next: OutstandingToken;
  at: number;
  successor?: Successor;
}

/** Batches in flight at once; what arrives meanwhile waits for the next. */
const IN_FLIGHT = 2;
/** Rotations per statement at most. */
const MAX_BATCH = 256;

/** An outstanding token's fields, in the order BATCH_SQL takes them ($1-$6 the old token's, $7-$12 the next one's). */
const TOKEN_COLUMNS = [
  'jti',
  'userId',
  'familyId',
  'familyIssuedAt',
  'createdAt',
  'expiresAt',
] as const satisfies readonly (keyof OutstandingToken)[];

const BATCH_SQL = `
WITH input AS (
  SELECT * FROM unnest($1::varchar[], $2::bigint[], $3::varchar[], $4::bigint[], $5::bigint[], $6::bigint[],
                       $7::varchar[], $8::bigint[], $9::varchar[], $10::bigint[], $11::bigint[], $12::bigint[],
                       $13::bigint[], $14::varchar[], $15::text[])
    WITH ORDINALITY AS i(jti, user_id, family_id, family_issued_at, created_at, expires_at,
                         next_jti, next_user_id, next_family_id, next_family_issued_at, next_created_at, next_expires_at,
                         at, successor_jti, sealed, n)
),
ins AS (
  INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at)
  SELECT jti, user_id, family_id, family_issued_at, created_at, expires_at FROM input ORDER BY n
  ON CONFLICT (jti) DO NOTHING
  RETURNING id, jti
),
recorded AS (
  SELECT DISTINCT ON (id) id, n FROM (
    SELECT coalesce(ins.id, o.id) AS id, i.n
    FROM input i LEFT JOIN ins ON ins.jti = i.jti LEFT JOIN outstanding_tokens o ON o.jti = i.jti
  ) r WHERE id IS NOT NULL ORDER BY id, n
),
consumed AS (
  INSERT INTO blacklisted_tokens (token_id, reason, blacklisted_at)
  SELECT r.id, 'rotated', i.at FROM recorded r JOIN input i USING (n) ORDER BY r.id
  ON CONFLICT (token_id) DO NOTHING
  RETURNING token_id
),
won AS (
  SELECT r.id, i.* FROM recorded r JOIN consumed c ON c.token_id = r.id JOIN input i USING (n)
),
nxt AS (
  INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at)
  SELECT next_jti, next_user_id, next_family_id, next_family_issued_at, next_created_at, next_expires_at FROM won ORDER BY n
  ON CONFLICT (jti) DO NOTHING
),
used AS (
  INSERT INTO sessions (family_id, user_id, created_at, last_used_at, user_agent, address)
  SELECT DISTINCT ON (next_family_id) next_family_id, next_user_id, next_family_issued_at, at, '', ''
  FROM won ORDER BY next_family_id, at DESC
  ON CONFLICT (family_id) DO UPDATE SET last_used_at = EXCLUDED.last_used_at
),
kept AS (
  INSERT INTO rotation_successors (token_id, successor_jti, sealed, rotated_at)
  SELECT id, successor_jti, sealed, at FROM won WHERE sealed IS NOT NULL
  ON CONFLICT (token_id) DO NOTHING
)
SELECT n::int AS n FROM won`;

export class RotationBatcher {
  private inFlight = 0;
  /** Batches ready to go once one in flight comes back. */
  private readonly waiting: (() => void)[] = [];
  private readonly loader: DataLoader<RotationParams, boolean>;

  constructor(
    private readonly pool: pg.Pool,
    /** One rotation alone: a batch of one, and each rotation of a failed batch (tests watch it here). */
    private readonly single: (p: RotationParams) => Promise<boolean> = async (p) => (await this.together([p])).has(1),
  ) {
    // DataLoader gathers the rotations issued until the batch is dispatched:
    // the end of this turn of the event loop, or later while IN_FLIGHT
    // batches are out, so that a busy server sends fewer, larger batches.
    this.loader = new DataLoader((ps) => this.send(ps), {
      cache: false,
      maxBatchSize: MAX_BATCH,
      batchScheduleFn: (dispatch) => {
        if (this.inFlight < IN_FLIGHT) setImmediate(dispatch);
        else this.waiting.push(dispatch);
      },
    });
  }

  rotate(p: RotationParams): Promise<boolean> {
    return this.loader.load(p);
  }

  private async send(ps: readonly RotationParams[]): Promise<(boolean | Error)[]> {
    this.inFlight++;
    try {
      if (ps.length === 1) return [await this.alone(ps[0]!)];
      try {
        const won = await this.together(ps);
        return ps.map((_, i) => won.has(i + 1));
      } catch {
        return await Promise.all(ps.map((p) => this.alone(p)));
      }
    } finally {
      this.inFlight--;
      const next = this.waiting.shift();
      if (next) setImmediate(next);
    }
  }

  /** One rotation by itself: whether it won, or the error it met (DataLoader rejects that caller alone with it). */
  private async alone(p: RotationParams): Promise<boolean | Error> {
    try {
      return await this.single(p);
    } catch (err) {
      return err instanceof Error ? err : new Error(String(err));
    }
  }

  /** The batch as one statement; the 1-based positions of the rotations whose consume won. */
  private async together(ps: readonly RotationParams[]): Promise<Set<number>> {
    const col = <T>(f: (p: RotationParams) => T): T[] => ps.map(f);
    // A token's six columns, in the statement's order (the old token's, then the next one's).
    const token = (t: (p: RotationParams) => OutstandingToken) => TOKEN_COLUMNS.map((k) => col((p) => t(p)[k]));
    const { rows } = await this.pool.query<{ n: number }>({
      name: 'latchkey_rotate_batch',
      text: BATCH_SQL,
      values: [
        ...token((p) => p.old),
        ...token((p) => p.next),
        col((p) => p.at),
        col((p) => p.successor?.jti ?? null),
        col((p) => p.successor?.sealed ?? null),
      ],
    });
    return new Set(rows.map((r) => r.n));
  }
}
