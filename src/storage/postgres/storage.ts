// The storage on PostgreSQL: what differs from SQLite is where the migration
// tables live (the schema latchkey uses), the identity sequence after an
// imported id, and telling the other instances about user changes (NOTIFY).
// Its write path sends each write that commits together as one statement (writes.ts here).
import DataLoader from 'dataloader';
import { Kysely, PostgresDialect, sql } from 'kysely';
import type pg from 'pg';
import { KyselyStorage, type ChangeFeed } from '../base.js';
import { tokenStateQuery } from '../queries.js';
import type { Database, TokenStateRow } from '../schema.js';
import type { TokenState } from '../types.js';
import { USER_CHANNEL } from './feed.js';
import { Prepared } from './prepared.js';
import { PostgresWrites } from './writes.js';

export class PostgresStorage extends KyselyStorage {
  readonly dialect = 'postgres' as const;

  constructor(
    private readonly pool: pg.Pool,
    feed: ChangeFeed | undefined,
  ) {
    super(new Kysely<Database>({ dialect: new PostgresDialect({ pool }) }), feed, 'postgres');
    this.writes = new PostgresWrites(this.db, pool);
    // Every token's state asked for in one turn of the event loop, in one query.
    const states = new Prepared<{ jtis: readonly string[] }>('latchkey_token_states', (v) =>
      tokenStateQuery(this.db, sql<string>`any(${v((p) => p.jtis)}::varchar[])`)
        .select('o.jti')
        .compile(),
    );
    this.tokenStates = new DataLoader(
      async (jtis) => {
        const rows = await states.run<TokenStateRow & { jti: string }>(this.pool, { jtis });
        const byJti = new Map(rows.map((r) => [r.jti, r]));
        return jtis.map((jti) => byJti.get(jti));
      },
      { cache: false, batchScheduleFn: (dispatch) => setImmediate(dispatch) },
    );
  }

  private readonly tokenStates: DataLoader<string, TokenStateRow | undefined>;

  /** The read behind every refresh: a prepared statement (see prepared.ts), batched per turn of the event loop. */
  override getTokenState(jti: string): Promise<TokenState | undefined> {
    return this.guard(async () => {
      const r = await this.tokenStates.load(jti);
      if (!r) return undefined;
      return { familyId: r.family_id, familyIssuedAt: r.family_issued_at, userId: r.user_id, blacklisted: r.reason ?? null };
    });
  }

  /**
   * Keeps the migration tables in the schema latchkey uses (search_path);
   * unqualified, Kysely would find another schema's copy.
   */
  protected override async migrationSchema(): Promise<string> {
    const { rows } = await this.guard(() => sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(this.db));
    if (!rows[0]?.schema) throw new Error('PostgreSQL has no current schema; check search_path');
    return rows[0].schema;
  }

  /** Drops the user here, and tells the other instances. */
  protected override async changedUser(id: number): Promise<void> {
    this.forget(id);
    await sql`SELECT pg_notify(${USER_CHANNEL}, ${String(id)})`.execute(this.db);
  }

  /**
   * An explicit id (a user imported with its old id) leaves the identity
   * sequence behind; move it past the largest id so later inserts don't collide.
   */
  protected override async insertedWithId(): Promise<void> {
    await sql`SELECT setval(pg_get_serial_sequence('users', 'id'), (SELECT MAX(id) FROM users))`.execute(this.db);
  }
}
