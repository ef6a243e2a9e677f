// The user field table (src/users/fields.ts) against what it describes: the
// users table the hand-written migrations build, on SQLite and (with
// TEST_POSTGRES_URL) PostgreSQL, and the account routes' profile and PATCH.
import assert from 'node:assert/strict';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { after, before, describe, it } from 'node:test';
import type { ProfileInput, ProfilePatch } from '../src/service.js';
import {
  PATCH_FIELDS,
  SHOWN_FIELDS,
  USER_FIELDS,
  type FieldSpec,
  type PatchField,
  type RegisterField,
  type UserField,
  type Validation,
} from '../src/users/fields.js';
import { DIALECTS, startServer, storageTracker, type DialectName, type TestServer } from './helpers.js';

// Compile-time: the service's input types name exactly the fields the table lets each caller set.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
type Assert<T extends true> = T;
export type ServiceInputsMatchTable = [Assert<Same<keyof ProfileInput, RegisterField>>, Assert<Same<keyof ProfilePatch, PatchField>>];

interface Column {
  name: string;
  type: string;
  notNull: boolean;
  default: string | boolean | undefined;
}

const FIELDS = Object.entries(USER_FIELDS) as [UserField, FieldSpec][];

/** The column a field should be, as the catalogs of each database describe it. */
function expectedColumn(dialect: DialectName, name: UserField, spec: FieldSpec): Column {
  const type = {
    integer: dialect === 'sqlite' ? 'integer' : 'bigint',
    string: dialect === 'sqlite' ? `varchar(${spec.max})` : `character varying(${spec.max})`,
    boolean: 'boolean',
    time: 'bigint',
  }[spec.type];
  const dflt = spec.default === null ? undefined : spec.default;
  return { name, type, notNull: !spec.nullable, default: dflt };
}

/** A catalog's column default as a value: `''::character varying` -> '', `true` -> true. */
function defaultValue(raw: string | null): string | boolean | undefined {
  if (raw === null) return undefined;
  const v = raw.replace(/::[a-z ]+$/, '');
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  const quoted = /^'(.*)'$/s.exec(v);
  return quoted ? quoted[1]!.replaceAll("''", "'") : v;
}

async function sqliteColumns(url: string): Promise<{ columns: Column[]; unique: string[] }> {
  const db = new SQLite(url.slice('sqlite:'.length), { readonly: true });
  try {
    const rows = db.prepare('PRAGMA table_info(users)').all() as {
      name: string;
      type: string;
      notnull: number;
      dflt_value: string | null;
      pk: number;
    }[];
    const columns = rows.map((r) => ({
      name: r.name,
      type: r.type.toLowerCase(),
      // The INTEGER PRIMARY KEY is the rowid: never null, though not declared NOT NULL.
      notNull: r.notnull === 1 || r.pk === 1,
      default: defaultValue(r.dflt_value),
    }));
    const indexes = db.prepare(`SELECT name FROM pragma_index_list('users') WHERE "unique" = 1 AND origin <> 'pk'`).all() as {
      name: string;
    }[];
    const unique = indexes.flatMap((i) =>
      (db.prepare('SELECT name FROM pragma_index_info(?)').all(i.name) as { name: string }[]).map((c) => c.name),
    );
    return { columns, unique };
  } finally {
    db.close();
  }
}

async function postgresColumns(url: string): Promise<{ columns: Column[]; unique: string[] }> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const cols = await client.query<{
      column_name: string;
      data_type: string;
      character_maximum_length: number | null;
      is_nullable: 'YES' | 'NO';
      column_default: string | null;
    }>(
      `SELECT column_name, data_type, character_maximum_length, is_nullable, column_default
         FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'users'`,
    );
    const columns = cols.rows.map((r) => ({
      name: r.column_name,
      type: r.character_maximum_length === null ? r.data_type : `${r.data_type}(${r.character_maximum_length})`,
      notNull: r.is_nullable === 'NO',
      default: defaultValue(r.column_default),
    }));
    const unique = await client.query<{ column_name: string }>(
      `SELECT k.column_name FROM information_schema.table_constraints t
         JOIN information_schema.key_column_usage k
           ON k.constraint_schema = t.constraint_schema AND k.constraint_name = t.constraint_name
        WHERE t.table_schema = current_schema() AND t.table_name = 'users' AND t.constraint_type = 'UNIQUE'`,
    );
    return { columns, unique: unique.rows.map((r) => r.column_name) };
  } finally {
    await client.end();
  }
}

const byName = (a: { name: string }, b: { name: string }) => a.name.localeCompare(b.name);

for (const dialect of DIALECTS) {
  describe(`the users table matches the field table (${dialect})`, () => {
    const storages = storageTracker(dialect);
    let actual: { columns: Column[]; unique: string[] };
    before(async () => {
      const url = await storages.url();
      await storages.open(url).migrate();
      actual = dialect === 'sqlite' ? await sqliteColumns(url) : await postgresColumns(url);
    });
    after(() => storages.cleanup());

    it('has one column per field, of its type, nullability and default', () => {
      const expected = FIELDS.map(([name, spec]) => expectedColumn(dialect, name, spec));
      assert.deepEqual([...actual.columns].sort(byName), expected.sort(byName));
    });

    it('has a unique index on exactly the fields marked unique', () => {
      const expected = FIELDS.filter(([, s]) => s.unique).map(([n]) => n);
      assert.deepEqual([...actual.unique].sort(), expected.sort());
    });

    it('includes the internal columns, which the profile never shows', () => {
      const names = actual.columns.map((c) => c.name);
      for (const internal of ['password', 'tokens_valid_after']) {
        assert.ok(names.includes(internal), internal);
        assert.ok(!(SHOWN_FIELDS as string[]).includes(internal), internal);
      }
    });
  });
}

/** A value each validation kind refuses. */
const INVALID: Record<Exclude<Validation, 'username'>, string> = {
  email: 'not-an-email',
  e164: '12345',
  past_date: 'not-a-date',
  url: 'not a url',
};

describe('the account routes follow the field table', () => {
  let s: TestServer;
  let access: string;
  before(async () => {
    s = await startServer();
    await s.user({ username: 'ada', password: 'correct-horse-battery-1' });
    const r = await s.post('/api/token/', { username: 'ada', password: 'correct-horse-battery-1' });
    assert.equal(r.statusCode, 200, r.body);
    access = (r.json() as { access: string }).access;
  });
  after(() => s?.close());

  const patch = (payload: Record<string, unknown>) =>
    s.request({ method: 'PATCH', url: '/api/account/me/', payload, headers: { authorization: `Bearer ${access}` } });

  it('shows exactly the fields that are not internal, in the table order', async () => {
    const r = await s.get('/api/account/me/', access);
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(Object.keys(r.json() as object), SHOWN_FIELDS);
  });

  it('lets a user change each field the table lets a PATCH set, up to its length', async () => {
    for (const f of PATCH_FIELDS) {
      const spec: FieldSpec = USER_FIELDS[f];
      const tooLong = await patch({ [f]: 'x'.repeat(spec.max! + 1) });
      assert.equal(tooLong.statusCode, 400, `${f}: ${tooLong.body}`);
      assert.ok(f in (tooLong.json() as object), `${f}: ${tooLong.body}`);
      if (spec.validate && spec.validate !== 'username') {
        const invalid = await patch({ [f]: INVALID[spec.validate] });
        assert.equal(invalid.statusCode, 400, `${f}: ${invalid.body}`);
        assert.ok(f in (invalid.json() as object), `${f}: ${invalid.body}`);
      }
      const cleared = await patch({ [f]: null });
      if (spec.nullable) {
        assert.equal(cleared.statusCode, 200, `${f}: ${cleared.body}`);
        assert.equal((cleared.json() as Record<string, unknown>)[f], null, f);
      } else {
        assert.equal(cleared.statusCode, 400, `${f}: ${cleared.body}`);
      }
    }
  });

  it('ignores the shown fields a PATCH may not set', async () => {
    const before = (await s.get('/api/account/me/', access)).json() as Record<string, unknown>;
    const readOnly = SHOWN_FIELDS.filter((f) => !(PATCH_FIELDS as string[]).includes(f));
    assert.ok(readOnly.length > 0);
    const attempt: Record<string, unknown> = {};
    for (const f of readOnly) {
      const v = before[f];
      attempt[f] = typeof v === 'boolean' ? !v : typeof v === 'number' ? v + 1 : '2001-01-01T00:00:00Z';
    }
    const r = await patch(attempt);
    assert.equal(r.statusCode, 200, r.body);
    const afterPatch = r.json() as Record<string, unknown>;
    for (const f of readOnly) assert.deepEqual(afterPatch[f], before[f], f);
  });
});
