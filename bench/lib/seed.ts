// Preloads a migrated latchkey SQLite file with users and token records,
// directly with better-sqlite3 (not through the service): one precomputed
// argon2id hash for every user, rows inserted in batches, one transaction per
// batch, with journaling and fsync off while loading (the file is put back in
// WAL mode at the end, as the server keeps it). Tokens come in rotation
// families; when the schema has a `sessions` table (one row per family), each
// family gets its session row too.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import SQLite from 'better-sqlite3';

export interface SeedOptions {
  /** The SQLite file, already migrated (`latchkey migrate`). */
  file: string;
  users: number;
  tokens: number;
  /** One argon2id hash, stored for every seeded user (so any of them can log in). */
  passwordHash: string;
  /** Share of token records already expired (what flushexpiredtokens deletes). */
  expiredShare: number;
  /** Share of token records that are blacklisted (rotated or logged out). */
  blacklistedShare: number;
  /** Refresh token lifetime, seconds. */
  refreshLifetime: number;
  /** Tokens per rotation family. */
  familySize?: number;
  batch?: number;
  /** Progress lines go here. */
  log?: (line: string) => void;
}

export interface SeedResult {
  users: number;
  tokens: number;
  expired: number;
  blacklisted: number;
  /** Rows in `sessions` (0 when the schema has no such table). */
  sessions: number;
  usersSeconds: number;
  tokensSeconds: number;
  /** Index rebuild and checkpoint at the end. */
  finishSeconds: number;
  bytes: number;
}

/** Username of the i-th seeded user (1-based). */
export const seededUsername = (i: number) => `seed${i}`;

export function seedDatabase(o: SeedOptions): SeedResult {
  const batch = o.batch ?? 50_000;
  const familySize = o.familySize ?? 4;
  const log = o.log ?? (() => {});
  const db = new SQLite(o.file);
  // Loading settings: nothing here survives a crash, which is fine for a bench file.
  db.pragma('journal_mode = OFF');
  db.pragma('synchronous = OFF');
  db.pragma('cache_size = -1048576'); // 1 GiB
  db.pragma('temp_store = MEMORY');
  db.pragma('foreign_keys = OFF');

  // Secondary indexes (not the UNIQUE ones, which SQLite owns) are dropped for
  // the load and rebuilt from their own CREATE statements afterwards: one sort
  // instead of millions of random B-tree inserts.
  const indexes = db
    .prepare(
      "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN ('outstanding_tokens', 'users', 'blacklisted_tokens', 'sessions') AND sql IS NOT NULL",
    )
    .all() as { name: string; sql: string }[];
  for (const ix of indexes) db.exec(`DROP INDEX "${ix.name}"`);

  const now = Math.floor(Date.now() / 1000);
  const userStart = (db.prepare('SELECT COALESCE(MAX(id), 0) AS m FROM users').get() as { m: number }).m;

  let t = performance.now();
  const insertUser = db.prepare(
    'INSERT INTO users (username, password, email, first_name, last_name, address, postal_code, is_active, is_staff, is_superuser, date_joined) ' +
      "VALUES (?, ?, '', '', '', '', '', 1, 0, 0, ?)",
  );
  const userBatch = db.transaction((from: number, to: number) => {
    for (let i = from; i < to; i++) insertUser.run(seededUsername(i), o.passwordHash, now - (i % 31_536_000));
  });
  for (let from = 1; from <= o.users; from += batch) {
    userBatch(from, Math.min(o.users + 1, from + batch));
    if ((from - 1) % (batch * 10) === 0) log(`users: ${Math.min(o.users, from + batch - 1)}/${o.users}`);
  }
  const usersSeconds = (performance.now() - t) / 1000;
  const userCount = userStart + o.users;

  t = performance.now();
  const insertToken = db.prepare(
    'INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
  );
  const insertBlacklisted = db.prepare('INSERT INTO blacklisted_tokens (token_id, reason, blacklisted_at) VALUES (?, ?, ?)');
  const sessionColumns = new Set(
    (db.prepare("SELECT name FROM pragma_table_info('sessions')").all() as { name: string }[]).map((c) => c.name),
  );
  const hasSessions = ['family_id', 'user_id', 'created_at', 'last_used_at'].every((c) => sessionColumns.has(c));
  const insertSession = hasSessions
    ? db.prepare('INSERT INTO sessions (family_id, user_id, created_at, last_used_at) VALUES (?, ?, ?, ?)')
    : undefined;
  let expired = 0;
  let blacklisted = 0;
  let sessions = 0;
  let rnd = 0x9e3779b9;
  const random = () => {
    // xorshift32: cheap and repeatable
    rnd ^= rnd << 13;
    rnd ^= rnd >>> 17;
    rnd ^= rnd << 5;
    return (rnd >>> 0) / 4294967296;
  };
  const tokenBatch = db.transaction((from: number, to: number) => {
    // 16 random bytes per jti, as uuid4().hex: 32 hex characters.
    const hex = randomBytes((to - from) * 16).toString('hex');
    let family = '';
    let familyIssued = 0;
    let user = 1;
    for (let i = from; i < to; i++) {
      const jti = hex.slice((i - from) * 32, (i - from + 1) * 32);
      const isExpired = random() < o.expiredShare;
      // Expired: ran out up to 30 days ago. Live: runs out within the lifetime.
      const expiresAt = isExpired ? now - 1 - Math.floor(random() * 30 * 86_400) : now + 1 + Math.floor(random() * o.refreshLifetime);
      const createdAt = expiresAt - o.refreshLifetime;
      if (i % familySize === 0 || family === '') {
        family = jti;
        familyIssued = createdAt;
        user = userCount > 0 ? 1 + Math.floor(random() * userCount) : 1;
        if (insertSession) {
          insertSession.run(family, user, familyIssued, createdAt + 3_600 * (familySize - 1));
          sessions++;
        }
      }
      const info = insertToken.run(jti, user, family, familyIssued, createdAt, expiresAt);
      if (isExpired) expired++;
      if (random() < o.blacklistedShare) {
        insertBlacklisted.run(info.lastInsertRowid, random() < 0.8 ? 'rotated' : 'logout', createdAt + 60);
        blacklisted++;
      }
    }
  });
  for (let from = 0; from < o.tokens; from += batch) {
    tokenBatch(from, Math.min(o.tokens, from + batch));
    if (from % (batch * 10) === 0) log(`tokens: ${Math.min(o.tokens, from + batch)}/${o.tokens}`);
  }
  const tokensSeconds = (performance.now() - t) / 1000;

  t = performance.now();
  for (const ix of indexes) db.exec(ix.sql);
  db.pragma('journal_mode = WAL');
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  // Loaded without fsync: write the file out now, or the kernel's writeback of
  // its 1 GB+ of dirty pages takes the cores while the first rounds are measured.
  const fd = fs.openSync(o.file, 'r+');
  fs.fsyncSync(fd);
  fs.closeSync(fd);
  const finishSeconds = (performance.now() - t) / 1000;
  const bytes = fs.statSync(o.file).size;
  return { users: o.users, tokens: o.tokens, expired, blacklisted, sessions, usersSeconds, tokensSeconds, finishSeconds, bytes };
}
