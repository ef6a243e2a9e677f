// `latchkey import-django --from sqlite:PATH|postgres://...`: copies Django's
// auth_user into latchkey's users, keeping ids (so SimpleJWT tokens still valid
// at cut-over keep working: their user_id names the same user), usernames,
// emails, names, flags, dates and password hashes. The hashes stay as Django
// wrote them until each user's next login verifies and rehashes them to argon2id.
//
// Safe to re-run: rows are matched by id and username, changed ones updated,
// equal ones left alone, and the counts reported. The source is only read.
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { isDjangoEncoding } from './django-hashers.js';
import { ConfigError, UniqueViolationError } from './errors.js';
import type { Storage, UserPatch, UserRecord } from './storage/types.js';
import { USER_DEFAULTS } from './users/fields.js';
import { normalizeUsername } from './validation.js';

export interface ImportDjangoOptions {
  /** The Django database: `sqlite:PATH` or `postgres://...` (`postgresql://` too). */
  from: string;
  storage: Storage;
  /** Seconds since the epoch: when users deactivated by the import lose their sessions. */
  now: number;
  /** Rows read from the source per query. */
  batchSize?: number;
  /** Called once for each row not imported, with the reason. */
  onSkip?: (skip: ImportSkip) => void;
}

export interface ImportSkip {
  id: number;
  username: string;
  reason: string;
}

export interface ImportResult {
  created: number;
  updated: number;
  unchanged: number;
  skipped: number;
  /**
   * Imported users whose password hash latchkey cannot verify (Django's legacy
   * sha1/md5/crypt hashers): they must reset their password. Django's
   * unusable-password marker is not counted: Django refused those logins too.
   */
  unsupportedHashes: number;
}

/** One auth_user row, converted: datetimes as seconds since the epoch. */
interface DjangoUser {
  id: number;
  username: string;
  password: string;
  email: string;
  first_name: string;
  last_name: string;
  is_active: boolean;
  is_staff: boolean;
  is_superuser: boolean;
  /** Null only if the source held something that is not a datetime. */
  date_joined: number | null;
  last_login: number | null;
}

interface Source {
  /** Up to `limit` rows with ids above `afterId`, in id order. */
  batch(afterId: number, limit: number): Promise<DjangoUser[]>;
  close(): Promise<void>;
}

const COLUMNS = 'id, username, password, email, first_name, last_name, is_active, is_staff, is_superuser';

export async function importDjango(opts: ImportDjangoOptions): Promise<ImportResult> {
  const batchSize = opts.batchSize ?? 500;
  const result: ImportResult = { created: 0, updated: 0, unchanged: 0, skipped: 0, unsupportedHashes: 0 };
  const source = await openSource(opts.from);
  try {
    // Below any id, so that rows with an id of 0 or less are read (and skipped, with a reason).
    let after = Number.MIN_SAFE_INTEGER;
    for (;;) {
      // One batch in memory at a time, and one row written at a time: the
      // source is never read faster than the destination takes it.
      const rows = await source.batch(after, batchSize);
      for (const row of rows) {
        const outcome = await importRow(row, opts);
        if (typeof outcome.kind === 'string') {
          result[outcome.kind]++;
          if (!verifiable(outcome.hash)) result.unsupportedHashes++;
        } else {
          result.skipped++;
          opts.onSkip?.(outcome.kind);
        }
      }
      if (rows.length < batchSize) break;
      after = rows[rows.length - 1]!.id;
    }
  } finally {
    await source.close();
  }
  return result;
}

/** What became of a row, and the password hash the user now has in latchkey. */
interface Outcome {
  kind: 'created' | 'updated' | 'unchanged' | ImportSkip;
  hash: string;
}

/** A hash some login can match: latchkey's own, or a Django encoding it verifies; `!...` is Django's "no password". */
const verifiable = (hash: string) => hash.startsWith('$argon2') || hash.startsWith('!') || isDjangoEncoding(hash);

async function importRow(row: DjangoUser, opts: ImportDjangoOptions): Promise<Outcome> {
  const { storage } = opts;
  const username = normalizeUsername(row.username);
  const skip = (reason: string): Outcome => ({ kind: { id: row.id, username, reason }, hash: '!' });
  if (!Number.isSafeInteger(row.id) || row.id < 1) return skip('the id is not a positive integer');
  if (username === '') return skip('the username is empty');

  const byId = await storage.getUserById(row.id);
  if (byId && byId.username === username) return update(byId, row, opts);
  const byName = await storage.getUserByUsername(username);
  if (byName) return skip(`the username is taken in latchkey by user ${byName.id}`);
  if (byId) {
    // Never merge two people: SimpleJWT tokens for this id would now open the
    // latchkey user's account, so the operator has to settle it by hand.
    return skip(`the id belongs to "${byId.username}" in latchkey`);
  }
  try {
    await storage.createUser({
      ...USER_DEFAULTS,
      id: row.id,
      username,
      password: row.password,
      email: row.email,
      first_name: row.first_name,
      last_name: row.last_name,
      is_active: row.is_active,
      is_staff: row.is_staff,
      is_superuser: row.is_superuser,
      date_joined: row.date_joined ?? opts.now,
    });
  } catch (err) {
    // Someone took the id or the username between the reads and the insert.
    if (err instanceof UniqueViolationError || isUniqueViolation(err)) return skip('the id or username was taken during the import');
    throw err;
  }
  if (row.last_login !== null) await storage.updateUser(row.id, { last_login: row.last_login });
  return { kind: 'created', hash: row.password };
}

/**
 * Django is the source of truth for the profile, the flags and the join date.
 * Two things latchkey may know better are kept:
 * - a password hash latchkey wrote (`$argon2...`: a login rehashed it, or the
 *   password was changed here) is never replaced by Django's older hash;
 * - last_login keeps the later of the two.
 */
async function update(existing: UserRecord, row: DjangoUser, opts: ImportDjangoOptions): Promise<Outcome> {
  const patch: UserPatch = {};
  const set = <K extends keyof UserPatch>(key: K, value: UserPatch[K]) => {
    if (existing[key as keyof UserRecord] !== value) patch[key] = value;
  };
  set('email', row.email);
  set('first_name', row.first_name);
  set('last_name', row.last_name);
  set('is_active', row.is_active);
  set('is_staff', row.is_staff);
  set('is_superuser', row.is_superuser);
  if (row.date_joined !== null) set('date_joined', row.date_joined);
  if (!existing.password.startsWith('$argon2')) set('password', row.password);
  if (row.last_login !== null && (existing.last_login === null || row.last_login > existing.last_login)) {
    set('last_login', row.last_login);
  }
  // Deactivated in Django: sessions issued before now end, as `users deactivate` does.
  if (existing.is_active && !row.is_active) patch.tokens_valid_after = opts.now;
  const hash = patch.password ?? existing.password;
  if (Object.keys(patch).length === 0) return { kind: 'unchanged', hash };
  await opts.storage.updateUser(existing.id, patch);
  return { kind: 'updated', hash };
}

const isUniqueViolation = (err: unknown): boolean => {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '23505' || (typeof code === 'string' && code.startsWith('SQLITE_CONSTRAINT'));
};

// ---- sources ---------------------------------------------------------------

async function openSource(from: string): Promise<Source> {
  if (from.startsWith('sqlite:')) return openSqliteSource(from.slice('sqlite:'.length));
  if (/^postgres(ql)?:\/\//.test(from)) return openPostgresSource(from);
  throw new ConfigError('--from: must be sqlite:PATH or postgres://...');
}

function openSqliteSource(file: string): Source {
  if (file === '' || file === ':memory:') throw new ConfigError('--from: sqlite: needs the path of the Django database file');
  let db: SQLite.Database;
  try {
    db = new SQLite(file, { readonly: true, fileMustExist: true });
    db.pragma('busy_timeout = 5000');
    const table = db.prepare(`SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'auth_user'`).get();
    if (!table) throw new ConfigError(`${file} has no auth_user table: is it a Django database?`);
  } catch (err) {
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read the Django database ${file}: ${(err as Error).message}`);
  }
  const select = db.prepare(`SELECT ${COLUMNS}, date_joined, last_login FROM auth_user WHERE id > ? ORDER BY id LIMIT ?`);
  return {
    batch(afterId, limit) {
      const rows = select.all(afterId, limit) as Record<string, unknown>[];
      return Promise.resolve(rows.map((r) => toDjangoUser(r, sqliteDatetime(r.date_joined), sqliteDatetime(r.last_login))));
    },
    close() {
      db.close();
      return Promise.resolve();
    },
  };
}

async function openPostgresSource(url: string): Promise<Source> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => {}); // a lost connection rejects the query in flight instead
  try {
    await client.connect();
    // One snapshot for the whole import, and no way to write by mistake.
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    const found = await client.query<{ t: string | null }>(`SELECT to_regclass('auth_user')::text AS t`);
    if (!found.rows[0]?.t) throw new ConfigError('the Django database has no auth_user table (check the URL and its search_path)');
  } catch (err) {
    await client.end().catch(() => {});
    if (err instanceof ConfigError) throw err;
    throw new ConfigError(`cannot read the Django database: ${(err as Error).message}`);
  }
  // EXTRACT(EPOCH ...) reads timestamptz (USE_TZ=True) as the instant it is,
  // and a naive timestamp (USE_TZ=False) as UTC.
  const text =
    `SELECT ${COLUMNS}, floor(extract(epoch FROM date_joined))::float8 AS date_joined, ` +
    `floor(extract(epoch FROM last_login))::float8 AS last_login ` +
    `FROM auth_user WHERE id > $1::bigint ORDER BY id LIMIT $2`;
  return {
    async batch(afterId, limit) {
      const res = await client.query<Record<string, unknown>>(text, [afterId, limit]);
      return res.rows.map((r) => toDjangoUser(r, epoch(r.date_joined), epoch(r.last_login)));
    },
    async close() {
      await client.query('COMMIT').catch(() => {});
      await client.end().catch(() => {});
    },
  };
}

function toDjangoUser(r: Record<string, unknown>, dateJoined: number | null, lastLogin: number | null): DjangoUser {
  return {
    id: Number(r.id), // BigAutoField comes back from pg as a string
    username: text(r.username),
    password: text(r.password),
    email: text(r.email),
    first_name: text(r.first_name),
    last_name: text(r.last_name),
    // SQLite stores Django's booleans as 0/1; PostgreSQL returns booleans.
    is_active: Boolean(r.is_active),
    is_staff: Boolean(r.is_staff),
    is_superuser: Boolean(r.is_superuser),
    date_joined: dateJoined,
    last_login: lastLogin,
  };
}

/** A text column's value; NULL as ''. (SQLite may hand back a number for a value that looks like one.) */
const text = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' || typeof v === 'bigint' ? String(v) : '');

const epoch = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);

/**
 * Django on SQLite stores datetimes as text, `2021-03-04 05:06:07.890123`, in
 * UTC when USE_TZ=True (naive ones are read as UTC too). An offset, if some
 * other tool wrote one, is honoured. Fractions of a second are dropped.
 */
const SQLITE_DATETIME = /^(\d{4})-(\d{2})-(\d{2})(?:[ T](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?)?\s*(?:Z|([+-])(\d{2}):?(\d{2}))?$/;

export function sqliteDatetime(v: unknown): number | null {
  if (typeof v !== 'string') return null;
  const m = SQLITE_DATETIME.exec(v.trim());
  if (!m) return null;
  const n = (i: number) => Number(m[i] ?? 0);
  const ms = Date.UTC(n(1), n(2) - 1, n(3), n(4), n(5), n(6));
  if (!Number.isFinite(ms)) return null;
  const offset = m[7] ? (m[7] === '-' ? -1 : 1) * (n(8) * 3600 + n(9) * 60) : 0;
  return Math.floor(ms / 1000) - offset;
}
