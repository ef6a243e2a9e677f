// Scratch databases for the bench on PostgreSQL (`--database postgres://...`).
//
// The bench creates the database named in the URL (and one more per extra
// suffix: `<name>_pair`, ...) on that server, and drops them at the end. A
// database it made carries a comment saying so; one that already exists
// without that comment is never touched (a name like `test` or `postgres` is
// refused outright), so the bench cannot drop anyone's data.
import pg from 'pg';

const MARK = 'latchkey bench scratch database (dropped at the end of the run)';
const RESERVED = new Set(['postgres', 'template0', 'template1', 'test']);

export interface Scratch {
  /** One connection URL per database, in the order of the suffixes asked for. */
  urls: string[];
  /** Drops every database this made (after the servers on them are stopped). */
  drop(): Promise<void>;
}

/** Validates `url` and returns the scratch database's base name; throws a clear error otherwise. */
export function scratchName(url: string): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new Error(`--database: not a URL: ${url}`);
  }
  if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') throw new Error('--database takes a postgres:// URL');
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!/^[a-z_][a-z0-9_]{0,50}$/.test(name)) {
    throw new Error(`--database: name the scratch database in the URL (lowercase letters, digits, _), e.g. ${u.origin}/latchkey_bench`);
  }
  if (RESERVED.has(name)) throw new Error(`--database: the bench creates and drops its database; it will not use "${name}"`);
  return name;
}

function withDatabase(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

/** Creates `<name><suffix>` for each suffix ('' is the name itself) on the server of `url`. */
export async function createScratch(url: string, suffixes: string[]): Promise<Scratch> {
  const base = scratchName(url);
  const names = suffixes.map((s) => `${base}${s}`);
  const admin = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
  await admin.connect();
  const made: string[] = [];
  try {
    for (const name of names) {
      const { rows } = await admin.query<{ mark: string | null }>(
        'SELECT shobj_description(oid, $2) AS mark FROM pg_database WHERE datname = $1',
        [name, 'pg_database'],
      );
      if (rows.length) {
        if (rows[0]!.mark !== MARK) throw new Error(`--database: "${name}" exists and the bench did not make it; choose another name`);
        // Left by an earlier run that was killed: ours to drop.
        await admin.query(`DROP DATABASE "${name}" WITH (FORCE)`);
      }
      await admin.query(`CREATE DATABASE "${name}"`);
      made.push(name);
      await admin.query(`COMMENT ON DATABASE "${name}" IS '${MARK}'`);
    }
  } catch (err) {
    await dropAll(admin, made).catch(() => {});
    await admin.end();
    throw err;
  }
  await admin.end();
  return {
    urls: names.map((n) => withDatabase(url, n)),
    async drop() {
      const c = new pg.Client({ connectionString: withDatabase(url, 'postgres') });
      await c.connect();
      try {
        await dropAll(c, made);
      } finally {
        await c.end();
      }
    },
  };
}

async function dropAll(c: pg.Client, names: string[]): Promise<void> {
  for (const name of names) await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
}
