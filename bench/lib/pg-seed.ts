// Preloads a migrated latchkey PostgreSQL database with users and token
// records, the PostgreSQL twin of seed.ts and the same shape of data: every
// user stores one precomputed argon2id hash; tokens come in rotation families
// of `familySize` with one `sessions` row per family; a share of the records
// is already expired and a share blacklisted ('rotated' or 'logout').
//
// The rows are what latchkey writes: a jti is a UUIDv7 in 32 hex characters
// whose first 48 bits are its mint time in ms (src/tokens.ts newJti), a
// family's id is its first token's jti, user ids are the users' identity ids.
//
// Fast: set-based INSERT ... SELECT FROM generate_series in batches (each
// batch one statement: tokens, their sessions and blacklist records through
// data-modifying CTEs), with the secondary indexes, UNIQUE and FOREIGN KEY
// constraints dropped for the load and rebuilt from their own definitions
// afterwards (one sort each instead of millions of random B-tree inserts),
// then VACUUM ANALYZE and a CHECKPOINT. Only the loading session commits
// without waiting for the WAL flush (synchronous_commit=off): the servers
// measured afterwards keep PostgreSQL's default durability.
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { SeedOptions, SeedResult } from './seed.js';

/** The SQLite seed's options (seed.ts), with a database URL in place of its file. */
export type PgSeedOptions = Omit<SeedOptions, 'file'> & { url: string };

/** What the SQLite seed reports (seed.ts); `finishSeconds` here is the constraint and index rebuild, VACUUM ANALYZE and CHECKPOINT. */
export type PgSeedResult = SeedResult;

const TABLES = ['users', 'outstanding_tokens', 'blacklisted_tokens', 'sessions'];
/** A browser's User-Agent, as a session row records it. */
const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';

/** A UUIDv7 jti (src/tokens.ts) for a token minted at `ms`, in SQL; `salt` makes each row's random bits differ. */
const v7 = (ms: string, salt: string) =>
  `lpad(to_hex(${ms}), 12, '0') || '7' || substr(md5(random()::text || ${salt}), 1, 3) || ` +
  `substr('89ab', 1 + floor(random() * 4)::int, 1) || substr(md5(random()::text || ${salt}), 1, 15)`;

export async function seedPostgres(o: PgSeedOptions): Promise<PgSeedResult> {
  const familySize = o.familySize ?? 4;
  const batch = Math.max(familySize, Math.floor((o.batch ?? 500_000) / familySize) * familySize);
  const log = o.log ?? (() => {});
  const db = new pg.Client({ connectionString: o.url });
  await db.connect();
  try {
    await db.query("SET synchronous_commit = 'off'");
    await db.query("SET maintenance_work_mem = '512MB'");
    await db.query("SET work_mem = '256MB'");

    // What to drop and rebuild: UNIQUE and FOREIGN KEY constraints (primary
    // keys stay: the foreign keys reference them, and identity ids arrive in
    // order), then the plain indexes.
    const { rows: constraints } = await db.query<{ tbl: string; name: string; def: string; type: string }>(
      `SELECT c.conrelid::regclass::text AS tbl, c.conname AS name, pg_get_constraintdef(c.oid) AS def, c.contype AS type
         FROM pg_constraint c JOIN pg_class t ON t.oid = c.conrelid
        WHERE t.relname = ANY($1) AND c.contype IN ('u', 'f')`,
      [TABLES],
    );
    const { rows: indexes } = await db.query<{ name: string; def: string }>(
      `SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS def
         FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid
        WHERE t.relname = ANY($1) AND NOT i.indisunique AND NOT i.indisprimary`,
      [TABLES],
    );
    for (const c of constraints.filter((c) => c.type === 'f')) await db.query(`ALTER TABLE ${c.tbl} DROP CONSTRAINT "${c.name}"`);
    for (const c of constraints.filter((c) => c.type === 'u')) await db.query(`ALTER TABLE ${c.tbl} DROP CONSTRAINT "${c.name}"`);
    for (const ix of indexes) await db.query(`DROP INDEX ${ix.name}`);

    const now = Math.floor(Date.now() / 1000);
    let t = performance.now();
    const userBatch = batch * 2;
    for (let from = 1; from <= o.users; from += userBatch) {
      const to = Math.min(o.users, from + userBatch - 1);
      await db.query(
        `INSERT INTO users (username, password, email, first_name, last_name, address, postal_code, is_active, is_staff, is_superuser, date_joined)
         SELECT 'seed' || g, $1, '', '', '', '', '', true, false, false, $2::bigint - (g % 31536000)
           FROM generate_series($3::bigint, $4::bigint) g`,
        [o.passwordHash, now, from, to],
      );
      log(`users: ${to}/${o.users}`);
    }
    const usersSeconds = (performance.now() - t) / 1000;
    const { rows: ids } = await db.query<{ lo: string | null; hi: string | null }>('SELECT min(id) AS lo, max(id) AS hi FROM users');
    const lo = Number(ids[0]?.lo ?? 1);
    const span = Math.max(1, Number(ids[0]?.hi ?? 1) - lo + 1);

    // Per token i: expired or live as in seed.ts, created one lifetime before
    // it expires, minted at a random millisecond of that second; the family
    // (i / familySize) takes its first token's jti and time, and one user.
    t = performance.now();
    let expired = 0;
    let blacklisted = 0;
    let sessions = 0;
    for (let from = 0; from < o.tokens; from += batch) {
      const to = Math.min(o.tokens, from + batch) - 1;
      const { rows } = await db.query<{ expired: string; blacklisted: string; sessions: string }>(
        `WITH t AS (
           SELECT i, i / $5::bigint AS fam, CASE WHEN random() < $3::float8 THEN $2::bigint - 1 - floor(random() * 2592000)::bigint
                                         ELSE $2::bigint + 1 + floor(random() * $4::bigint)::bigint END AS expires_at
             FROM generate_series($6::bigint, $7::bigint) i
         ), m AS (
           SELECT i, fam, expires_at, expires_at - $4::bigint AS created_at, (expires_at - $4::bigint) * 1000 + floor(random() * 1000)::bigint AS ms FROM t
         ), j AS (
           SELECT i, fam, expires_at, created_at, ${v7('ms', 'i')} AS jti FROM m
         ), f AS (
           SELECT j.*, first_value(jti) OVER w AS family_id, first_value(created_at) OVER w AS family_issued_at
             FROM j WINDOW w AS (PARTITION BY fam ORDER BY i)
         ), ins AS (
           INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at)
           SELECT jti, $8::bigint + ((fam * 2654435761) % $9::bigint), family_id, family_issued_at, created_at, expires_at FROM f ORDER BY i
           RETURNING id, jti, user_id, family_id, family_issued_at, created_at, expires_at
         ), s AS (
           INSERT INTO sessions (family_id, user_id, created_at, last_used_at, user_agent, address)
           SELECT family_id, user_id, family_issued_at, family_issued_at + 3600 * ($5::bigint - 1), $10, '10.' || (id % 250) || '.' || (id % 199) || '.' || (id % 211)
             FROM ins WHERE jti = family_id
           RETURNING 1
         ), b AS (
           INSERT INTO blacklisted_tokens (token_id, reason, blacklisted_at)
           SELECT id, CASE WHEN random() < 0.8 THEN 'rotated' ELSE 'logout' END, created_at + 60 FROM ins WHERE random() < $1::float8
           RETURNING 1
         )
         SELECT (SELECT count(*) FROM ins WHERE expires_at < $2::bigint) AS expired, (SELECT count(*) FROM b) AS blacklisted,
                (SELECT count(*) FROM s) AS sessions`,
        [o.blacklistedShare, now, o.expiredShare, o.refreshLifetime, familySize, from, to, lo, span, USER_AGENT],
      );
      expired += Number(rows[0]!.expired);
      blacklisted += Number(rows[0]!.blacklisted);
      sessions += Number(rows[0]!.sessions);
      log(`tokens: ${to + 1}/${o.tokens}`);
    }
    const tokensSeconds = (performance.now() - t) / 1000;

    t = performance.now();
    for (const c of constraints.filter((c) => c.type === 'u')) await db.query(`ALTER TABLE ${c.tbl} ADD CONSTRAINT "${c.name}" ${c.def}`);
    for (const c of constraints.filter((c) => c.type === 'f')) await db.query(`ALTER TABLE ${c.tbl} ADD CONSTRAINT "${c.name}" ${c.def}`);
    for (const ix of indexes) await db.query(ix.def);
    for (const table of TABLES) await db.query(`VACUUM (ANALYZE) ${table}`);
    // Written out now, or the checkpointer's writes of the load land in the first measured rounds.
    await db.query('CHECKPOINT').catch(() => log('CHECKPOINT refused (not a superuser): the first rounds may see its writes'));
    const finishSeconds = (performance.now() - t) / 1000;
    const { rows: size } = await db.query<{ bytes: string }>('SELECT pg_database_size(current_database()) AS bytes');
    return {
      users: o.users,
      tokens: o.tokens,
      expired,
      blacklisted,
      sessions,
      usersSeconds,
      tokensSeconds,
      finishSeconds,
      bytes: Number(size[0]!.bytes),
    };
  } finally {
    await db.end();
  }
}
