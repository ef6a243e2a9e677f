// The storage on PostgreSQL: what differs from SQLite is where the migration
// tables live (the schema latchkey uses), the identity sequence after an
// imported id, and telling the other instances about user changes (NOTIFY).
// Its write path sends each write that commits together as one statement (writes.ts here).
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
    this.tokenState = new Prepared('latchkey_token_state', (v) =>
      tokenStateQuery(
        this.db,
        v((p) => p.jti),
      ).compile(),
    );
  }

  private readonly tokenState: Prepared<{ jti: string }>;

  /** The read behind every refresh, as a prepared statement (see prepared.ts). */
  override getTokenState(jti: string): Promise<TokenState | undefined> {
    return this.guard(async () => {
      const [r] = await this.tokenState.run<TokenStateRow>(this.pool, { jti });
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
