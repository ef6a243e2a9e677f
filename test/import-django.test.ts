// `latchkey import-django`: Django's auth_user copied into latchkey with ids,
// usernames, emails, names, flags, dates and password hashes kept. Checked on
// a database laid out exactly as Django 3.2 lays it out and filled with the
// fixture hashes (always), on a real Django database that the peer
// (test/peer/django_site.py) builds with each hasher (when the Debian Django
// packages are there; under CI their absence fails), and from PostgreSQL as well
// as SQLite (when TEST_POSTGRES_URL is set). After the import, users log in
// over HTTP with their old passwords, are rehashed to argon2id, and the
// SimpleJWT tokens minted for their ids keep working. A re-run changes nothing.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { ConfigError } from '../src/errors.js';
import { importDjango, sqliteDatetime, type ImportSkip } from '../src/import-django.js';
import {
  claimsOf,
  DIALECTS,
  dropDatabase,
  FIXTURES,
  freshDatabaseUrl,
  skipUnless,
  startServer,
  tempDir,
  TEST_KEY,
  type TestServer,
} from './helpers.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DJANGO_SITE = path.join(ROOT, 'test', 'peer', 'django_site.py');
const PY = '/usr/bin/python3';

// The fixture tokens carry SimpleJWT's default lifetimes (access: 5 minutes),
// so every server here runs on a clock frozen just after they were minted, as
// in interop.test.ts.
const MINTED_AT = Math.max(...FIXTURES.tokens.map((t) => Number(claimsOf(t.access).iat)));
const FIXTURE_NOW = MINTED_AT + 60;
const frozen = () => FIXTURE_NOW;

const PROTECTED = { message: 'You have accessed a protected route!' };
const NO_ACCOUNT = { detail: 'No active account found with the given credentials' };

/** 2021-03-04 05:06:07.890123 UTC, as Django stores it, and in seconds. */
const JOINED_TEXT = '2021-03-04 05:06:07.890123';
const JOINED = Date.UTC(2021, 2, 4, 5, 6, 7) / 1000;
const LAST_LOGIN_TEXT = '2022-01-02 03:04:05';
const LAST_LOGIN = Date.UTC(2022, 0, 2, 3, 4, 5) / 1000;

const login = (s: TestServer, username: string, password: string) => s.post('/api/token/', { username, password });

/** Logs in with the old password, checks the hash became argon2id, and logs in again with it. */
async function assertLoginRehashes(s: TestServer, id: number, username: string, password: string, before: string) {
  const stored = await s.storage.getUserById(id);
  assert.ok(stored?.password.startsWith(before), `user ${id} starts on its Django hash (${before}...): ${stored?.password}`);
  const res = await login(s, username, password);
  assert.equal(res.statusCode, 200, `${username}: ${res.body}`);
  assert.equal(claimsOf((res.json() as { access: string }).access).user_id, id);
  const after = await s.storage.getUserById(id);
  assert.match(after!.password, /^\$argon2id\$/, `${username} is rehashed to argon2id after logging in`);
  const again = await login(s, username, password);
  assert.equal(again.statusCode, 200, `${username} after the rehash: ${again.body}`);
  const wrong = await login(s, username, `${password}-wrong`);
  assert.equal(wrong.statusCode, 401, wrong.body);
}

async function assertFixtureTokensWork(s: TestServer): Promise<void> {
  for (const t of FIXTURES.tokens) {
    const res = await s.get('/api/protected-endpoint/', t.access);
    assert.equal(res.statusCode, 200, `user ${t.user_id}, access: ${res.body}`);
    assert.deepEqual(res.json(), PROTECTED);
    const refreshed = await s.post('/api/token/refresh/', { refresh: t.refresh });
    assert.equal(refreshed.statusCode, 200, `user ${t.user_id}, refresh: ${refreshed.body}`);
    assert.equal(claimsOf((refreshed.json() as { access: string }).access).user_id, t.user_id);
  }
}

// ---- Django's auth_user, built by hand -------------------------------------

/** Django 3.2's auth_user on SQLite, as `migrate` creates it. */
const SQLITE_DDL =
  'CREATE TABLE "auth_user" ("id" integer NOT NULL PRIMARY KEY AUTOINCREMENT, "password" varchar(128) NOT NULL, ' +
  '"last_login" datetime NULL, "is_superuser" bool NOT NULL, "username" varchar(150) NOT NULL UNIQUE, ' +
  '"last_name" varchar(150) NOT NULL, "email" varchar(254) NOT NULL, "is_staff" bool NOT NULL, ' +
  '"is_active" bool NOT NULL, "date_joined" datetime NOT NULL, "first_name" varchar(150) NOT NULL)';

/** Django 3.2's auth_user on PostgreSQL (USE_TZ=True). */
const POSTGRES_DDL =
  'CREATE TABLE auth_user (id serial PRIMARY KEY, password varchar(128) NOT NULL, last_login timestamptz NULL, ' +
  'is_superuser boolean NOT NULL, username varchar(150) NOT NULL UNIQUE, first_name varchar(150) NOT NULL, ' +
  'last_name varchar(150) NOT NULL, email varchar(254) NOT NULL, is_staff boolean NOT NULL, ' +
  'is_active boolean NOT NULL, date_joined timestamptz NOT NULL)';

interface DjangoRow {
  id: number;
  username: string;
  password: string;
  email: string;
  first_name: string;
  last_name: string;
  is_active: boolean;
  is_staff: boolean;
  is_superuser: boolean;
  /** UTC, as Django writes it on SQLite. */
  date_joined: string;
  last_login: string | null;
}

const COLUMNS = [
  'id',
  'username',
  'password',
  'email',
  'first_name',
  'last_name',
  'is_active',
  'is_staff',
  'is_superuser',
  'date_joined',
  'last_login',
] as const;

/** The fixture hashes as users; ids 1, 2 and 42 are the ones the fixture tokens name. */
const FIXTURE_IDS = [1, 2, 42, 43, 44, 45];
const FIXTURE_ROWS: (DjangoRow & { plain: string; hasher: string })[] = FIXTURES.django_password_hashes.map((h, i) => ({
  id: FIXTURE_IDS[i]!,
  username: `fx${FIXTURE_IDS[i]}`,
  password: h.encoded,
  plain: h.password,
  hasher: h.hasher,
  email: `fx${FIXTURE_IDS[i]}@example.com`,
  first_name: i === 0 ? 'Zoë' : `First${i}`,
  last_name: i === 0 ? 'Ångström' : '',
  is_active: true,
  is_staff: i === 0,
  is_superuser: i === 0,
  date_joined: JOINED_TEXT,
  last_login: i % 2 === 0 ? LAST_LOGIN_TEXT : null,
}));
assert.deepEqual(FIXTURE_IDS.length, FIXTURES.django_password_hashes.length);

function writeDjangoSqlite(file: string, rows: DjangoRow[]): void {
  const db = new SQLite(file);
  try {
    db.exec(SQLITE_DDL);
    const insert = db.prepare(`INSERT INTO auth_user (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map(() => '?').join(', ')})`);
    for (const r of rows) {
      insert.run(
        r.id,
        r.username,
        r.password,
        r.email,
        r.first_name,
        r.last_name,
        r.is_active ? 1 : 0,
        r.is_staff ? 1 : 0,
        r.is_superuser ? 1 : 0,
        r.date_joined,
        r.last_login,
      );
    }
  } finally {
    db.close();
  }
}

function updateDjangoSqlite(file: string, sql: string, ...params: unknown[]): void {
  const db = new SQLite(file);
  try {
    db.prepare(sql).run(...params);
  } finally {
    db.close();
  }
}

/** A fresh PostgreSQL schema holding Django's auth_user with `rows`; its URL. */
async function writeDjangoPostgres(rows: DjangoRow[]): Promise<string> {
  const url = await freshDatabaseUrl('postgres');
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(POSTGRES_DDL);
    for (const r of rows) {
      await client.query(`INSERT INTO auth_user (${COLUMNS.join(', ')}) VALUES (${COLUMNS.map((_, i) => `$${i + 1}`).join(', ')})`, [
        r.id,
        r.username,
        r.password,
        r.email,
        r.first_name,
        r.last_name,
        r.is_active,
        r.is_staff,
        r.is_superuser,
        `${r.date_joined}+00`,
        r.last_login === null ? null : `${r.last_login}+00`,
      ]);
    }
  } finally {
    await client.end();
  }
  return url;
}

const sha256File = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

// ---- the fixture hashes, in a database laid out as Django's ---------------

type SourceKind = 'sqlite' | 'postgres';
const SOURCES: SourceKind[] = ['sqlite', ...(process.env.TEST_POSTGRES_URL ? (['postgres'] as const) : [])];

for (const dialect of DIALECTS) {
  for (const sourceKind of SOURCES) {
    describe(`import-django [${sourceKind} → ${dialect}]: the fixture hashes and tokens`, () => {
      let s: TestServer;
      let from: string;
      let sourceFile: string | undefined;
      let sourceUrl: string | undefined;
      let sourceDigest: string | undefined;
      const dir = tempDir('latchkey-django-');

      before(async () => {
        if (sourceKind === 'sqlite') {
          sourceFile = path.join(dir, 'django.sqlite3');
          writeDjangoSqlite(sourceFile, FIXTURE_ROWS);
          sourceDigest = sha256File(sourceFile);
          from = `sqlite:${sourceFile}`;
        } else {
          sourceUrl = await writeDjangoPostgres(FIXTURE_ROWS);
          from = sourceUrl;
        }
        s = await startServer({ dialect, now: frozen });
      });
      after(async () => {
        await s?.close();
        if (sourceUrl) await dropDatabase(sourceUrl);
        fs.rmSync(dir, { recursive: true, force: true });
      });

      it('imports every user, keeping ids, usernames, emails, names, flags, dates and hashes', async () => {
        const r = await importDjango({ from, storage: s.storage, now: FIXTURE_NOW });
        assert.deepEqual(r, { created: 6, updated: 0, unchanged: 0, skipped: 0, unsupportedHashes: 0 });
        for (const row of FIXTURE_ROWS) {
          const u = await s.storage.getUserById(row.id);
          assert.ok(u, `user ${row.id} kept its id`);
          assert.equal(u.username, row.username);
          assert.equal(u.password, row.password, 'the Django hash is kept as it is');
          assert.equal(u.email, row.email);
          assert.equal(u.first_name, row.first_name);
          assert.equal(u.last_name, row.last_name);
          assert.equal(u.is_active, row.is_active);
          assert.equal(u.is_staff, row.is_staff);
          assert.equal(u.is_superuser, row.is_superuser);
          assert.equal(u.date_joined, JOINED);
          assert.equal(u.last_login, row.last_login === null ? null : LAST_LOGIN);
          assert.equal(u.phone_number, null);
        }
      });

      it('the source database is only read', () => {
        if (sourceFile) assert.equal(sha256File(sourceFile), sourceDigest);
      });

      it('SimpleJWT tokens for users 1, 2 and 42 keep working (access and refresh)', async () => {
        assert.deepEqual(
          FIXTURES.tokens.map((t) => t.user_id),
          [1, 2, 42],
        );
        await assertFixtureTokensWork(s);
      });

      for (const row of FIXTURE_ROWS) {
        it(`user ${row.id} (${row.hasher}) logs in with the old password, and is rehashed to argon2id`, async () => {
          await assertLoginRehashes(s, row.id, row.username, row.plain, row.password.split('$')[0]!);
        });
      }

      it('a re-run changes nothing and says so', async () => {
        const r = await importDjango({ from, storage: s.storage, now: FIXTURE_NOW });
        assert.deepEqual(r, { created: 0, updated: 0, unchanged: 6, skipped: 0, unsupportedHashes: 0 });
      });

      if (sourceKind === 'sqlite') {
        it('a re-run after changes in Django updates those rows, never replaces a latchkey hash, and ends deactivated sessions', async () => {
          updateDjangoSqlite(sourceFile!, `UPDATE auth_user SET email = 'new@example.com', last_name = 'Renamed' WHERE id = 2`);
          updateDjangoSqlite(sourceFile!, `UPDATE auth_user SET is_active = 0 WHERE id = 42`);
          // Django's password for user 1 changes; latchkey's (rehashed at login) wins.
          updateDjangoSqlite(sourceFile!, `UPDATE auth_user SET password = ? WHERE id = 1`, FIXTURE_ROWS[1]!.password);
          const before1 = (await s.storage.getUserById(1))!.password;
          const r = await importDjango({ from, storage: s.storage, now: FIXTURE_NOW });
          assert.deepEqual(r, { created: 0, updated: 2, unchanged: 4, skipped: 0, unsupportedHashes: 0 });
          const u2 = (await s.storage.getUserById(2))!;
          assert.equal(u2.email, 'new@example.com');
          assert.equal(u2.last_name, 'Renamed');
          assert.equal((await s.storage.getUserById(1))!.password, before1);
          const u42 = (await s.storage.getUserById(42))!;
          assert.equal(u42.is_active, false);
          assert.equal(u42.tokens_valid_after, FIXTURE_NOW);
          const res = await login(s, 'fx42', FIXTURE_ROWS[2]!.plain);
          assert.equal(res.statusCode, 401);
          assert.deepEqual(res.json(), NO_ACCOUNT);
          const token = FIXTURES.tokens.find((t) => t.user_id === 42)!;
          assert.notEqual((await s.get('/api/protected-endpoint/', token.access)).statusCode, 200);
          // And once more: nothing left to do.
          const again = await importDjango({ from, storage: s.storage, now: FIXTURE_NOW });
          assert.deepEqual(again, { created: 0, updated: 0, unchanged: 6, skipped: 0, unsupportedHashes: 0 });
        });
      }
    });
  }
}

describe('import-django: conflicts, odd rows and bad sources', () => {
  let s: TestServer;
  const dir = tempDir('latchkey-django-');
  const file = path.join(dir, 'django.sqlite3');
  const base = FIXTURE_ROWS[0]!;
  const rows: DjangoRow[] = [
    ...FIXTURE_ROWS,
    // NFKC folds these two into one username: the second is skipped.
    { ...base, id: 60, username: '\ufb01le', password: FIXTURE_ROWS[1]!.password },
    { ...base, id: 61, username: 'file' },
    // A legacy hash latchkey cannot verify: imported, and counted.
    { ...base, id: 62, username: 'legacy', password: 'sha1$abc$0123456789abcdef0123456789abcdef01234567' },
    // Django's "no usable password": imported, never matches, not counted.
    { ...base, id: 63, username: 'unusable', password: '!Xk2eYJ1w6hYkJ6Kp0a3nWc9bTq1zLr8vUe5sDf7g' },
    // Not an id Django hands out, and not one a token can name: skipped.
    { ...base, id: 0, username: 'zero' },
  ];
  let nativeFx1: number;

  before(async () => {
    writeDjangoSqlite(file, rows);
    s = await startServer({ now: frozen });
    // Already in latchkey: "fx1" under another id, and id 2 under another name.
    nativeFx1 = (await s.user({ username: 'fx1', password: 'native-fx1-pw', id: 500 })).id;
    await s.user({ username: 'native2', password: 'native-2-pw', id: 2 });
  });
  after(async () => {
    await s?.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('a username or id that latchkey already gives someone else is skipped and reported, and nothing is merged', async () => {
    const skips: ImportSkip[] = [];
    const r = await importDjango({
      from: `sqlite:${file}`,
      storage: s.storage,
      now: FIXTURE_NOW,
      batchSize: 2,
      onSkip: (k) => skips.push(k),
    });
    assert.deepEqual(r, { created: 7, updated: 0, unchanged: 0, skipped: 4, unsupportedHashes: 1 });
    assert.deepEqual(
      skips.map((k) => [k.id, k.username]),
      [
        [0, 'zero'],
        [1, 'fx1'],
        [2, 'fx2'],
        [61, 'file'],
      ],
    );
    assert.match(skips[0]!.reason, /id is not a positive integer/);
    assert.match(skips[1]!.reason, /username is taken in latchkey by user 500/);
    assert.match(skips[2]!.reason, /id belongs to "native2"/);
    assert.match(skips[3]!.reason, /username is taken in latchkey by user 60/);
    // The latchkey users are as they were.
    assert.equal((await login(s, 'fx1', 'native-fx1-pw')).statusCode, 200);
    assert.equal((await s.storage.getUserByUsername('fx1'))!.id, nativeFx1);
    assert.equal((await s.storage.getUserById(2))!.username, 'native2');
    assert.equal((await login(s, 'native2', 'native-2-pw')).statusCode, 200);
  });

  it('usernames are NFKC-normalized, as Django does: either spelling logs in', async () => {
    const u = await s.storage.getUserById(60);
    assert.equal(u?.username, 'file');
    assert.equal((await login(s, 'file', FIXTURE_ROWS[1]!.plain)).statusCode, 200);
    assert.equal((await login(s, '\ufb01le', FIXTURE_ROWS[1]!.plain)).statusCode, 200);
  });

  it('legacy and unusable hashes are imported as they are, and never log in', async () => {
    assert.equal((await s.storage.getUserById(62))!.password, rows[8]!.password);
    assert.equal((await s.storage.getUserById(63))!.password, rows[9]!.password);
    assert.equal((await login(s, 'legacy', 'anything')).statusCode, 401);
    assert.equal((await login(s, 'unusable', '!Xk2eYJ1w6hYkJ6Kp0a3nWc9bTq1zLr8vUe5sDf7g')).statusCode, 401);
  });

  it('a re-run skips the same rows again and changes nothing', async () => {
    const skips: ImportSkip[] = [];
    const r = await importDjango({ from: `sqlite:${file}`, storage: s.storage, now: FIXTURE_NOW, onSkip: (k) => skips.push(k) });
    assert.deepEqual(r, { created: 0, updated: 0, unchanged: 7, skipped: 4, unsupportedHashes: 1 });
    assert.deepEqual(
      skips.map((k) => k.id),
      [0, 1, 2, 61],
    );
  });

  it('new ids after an import do not collide with imported ones', async () => {
    const u = await s.user({ username: 'after-import', password: 'after-import-pw' });
    assert.ok(u.id > 500, `got id ${u.id}`);
  });

  it('a source that is not a Django database is a one-line ConfigError', async () => {
    const empty = path.join(dir, 'empty.sqlite3');
    new SQLite(empty).close();
    const cases: [string, RegExp][] = [
      ['mysql://localhost/django', /must be sqlite:PATH or postgres/],
      ['sqlite:', /needs the path/],
      [`sqlite:${path.join(dir, 'missing.sqlite3')}`, /cannot read the Django database/],
      [`sqlite:${empty}`, /no auth_user table/],
    ];
    for (const [from, message] of cases) {
      await assert.rejects(importDjango({ from, storage: s.storage, now: FIXTURE_NOW }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, `${from}: ${String(err)}`);
        assert.match(err.message, message);
        assert.ok(!err.message.includes('\n'));
        return true;
      });
    }
    assert.equal(fs.existsSync(path.join(dir, 'missing.sqlite3')), false, 'a missing source is not created');
  });

  it("Django's SQLite datetimes become seconds since the epoch", () => {
    assert.equal(sqliteDatetime(JOINED_TEXT), JOINED);
    assert.equal(sqliteDatetime(LAST_LOGIN_TEXT), LAST_LOGIN);
    assert.equal(sqliteDatetime('2021-03-04T05:06:07Z'), JOINED);
    assert.equal(sqliteDatetime('2021-03-04 06:06:07.5+01:00'), JOINED);
    assert.equal(sqliteDatetime('2021-03-04 00:06:07-0500'), JOINED);
    assert.equal(sqliteDatetime('1969-12-31 23:59:59'), -1);
    assert.equal(sqliteDatetime('not a date'), null);
    assert.equal(sqliteDatetime(null), null);
    assert.equal(sqliteDatetime(12345), null);
  });
});

// ---- a real Django database, made by the peer ------------------------------

function djangoMissing(): string | undefined {
  assert.ok(fs.existsSync(DJANGO_SITE), `the Django site is missing from the repository: ${DJANGO_SITE}`);
  const r = spawnSync(PY, ['-c', 'import django, argon2, bcrypt'], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    return `${PY} lacks Django, argon2-cffi or bcrypt (apt-get install python3-django python3-argon2 python3-bcrypt)`;
  }
  return undefined;
}

const HASHERS = 'django.contrib.auth.hashers';
/** Users the peer creates, one per hasher, with the prefix each Django hash starts with. */
const PEER_USERS = [
  { id: 1, username: 'alice', password: 'pw-alice-123', hasher: undefined, prefix: 'pbkdf2_sha256$' },
  { id: 2, username: 'bob', password: 'pw-bob-4567', hasher: `${HASHERS}.PBKDF2SHA1PasswordHasher`, prefix: 'pbkdf2_sha1$' },
  { id: 3, username: 'carol', password: 'pw-carol-890', hasher: `${HASHERS}.Argon2PasswordHasher`, prefix: 'argon2$argon2id$' },
  { id: 4, username: 'dave', password: 'pw-dave-éü-1', hasher: `${HASHERS}.BCryptSHA256PasswordHasher`, prefix: 'bcrypt_sha256$$2b$' },
];

/**
 * Run in Django's own shell after the adduser calls: profile fields, flags and
 * fixed dates on the first four, and users with no usable password, a
 * non-NFKC username, an inactive flag, a name latchkey already has, and id 42.
 */
const PEER_SHELL = `
from datetime import datetime, timezone
from django.contrib.auth.models import User
J = datetime(2021, 3, 4, 5, 6, 7, 890123, tzinfo=timezone.utc)
L = datetime(2022, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
a = User.objects.get(username='alice')
a.email = 'alice@example.com'; a.first_name = 'Alice'; a.last_name = '\\u00c5ngstr\\u00f6m'
a.is_staff = True; a.is_superuser = True; a.last_login = L
a.save()
User.objects.filter(username__in=['alice', 'bob', 'carol', 'dave']).update(date_joined=J)
User.objects.create_user('erin', email='erin@example.com')
f = User.objects.create_user('fiona', password='pw-fiona-123')
User.objects.filter(pk=f.pk).update(username='\\ufb01ona')
User.objects.create_user('frank', password='pw-frank-123')
User.objects.create_user('gina', password='pw-gina-123', is_active=False)
User.objects.create_user('user42', password='pw-user42-123', id=42)
`;

const PEER_SUITE = 'import-django: a real Django database made by the peer';
const missing = skipUnless(djangoMissing(), PEER_SUITE);

describe(PEER_SUITE, { skip: missing }, () => {
  const dir = tempDir('latchkey-django-peer-');
  const djangoDb = path.join(dir, 'django.sqlite3');

  function djangoSite(args: string[], hasher?: string): void {
    const env: NodeJS.ProcessEnv = { ...process.env, REF_DB: djangoDb };
    if (hasher) env.REF_HASHER = hasher;
    env.PYTHONDONTWRITEBYTECODE = '1';
    const r = spawnSync(PY, [DJANGO_SITE, ...args], { env, cwd: dir, encoding: 'utf8', timeout: 120_000 });
    assert.equal(r.status, 0, `django_site.py ${args[0]}: ${r.error?.message ?? ''}${r.stderr}`);
  }

  before(() => {
    djangoSite(['migrate', '-v', '0']);
    for (const u of PEER_USERS) djangoSite(['adduser', u.username, u.password], u.hasher);
    djangoSite(['shell', '-c', PEER_SHELL]);
  });
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  for (const dialect of DIALECTS) {
    describe(`into ${dialect}`, () => {
      let s: TestServer;
      let frankNative: number;
      before(async () => {
        s = await startServer({ dialect, now: frozen });
        // Already a latchkey user: Django's frank is skipped, not merged.
        frankNative = (await s.user({ username: 'frank', password: 'native-frank-pw', id: 1000 })).id;
      });
      after(() => s?.close());

      it('imports, keeping ids, and reports the counts', async () => {
        const skips: ImportSkip[] = [];
        const r = await importDjango({ from: `sqlite:${djangoDb}`, storage: s.storage, now: FIXTURE_NOW, onSkip: (k) => skips.push(k) });
        assert.deepEqual(r, { created: 8, updated: 0, unchanged: 0, skipped: 1, unsupportedHashes: 0 });
        assert.deepEqual(
          skips.map((k) => [k.id, k.username]),
          [[7, 'frank']],
        );
        const expected: [number, string][] = [
          [1, 'alice'],
          [2, 'bob'],
          [3, 'carol'],
          [4, 'dave'],
          [5, 'erin'],
          [6, 'fiona'],
          [8, 'gina'],
          [42, 'user42'],
        ];
        for (const [id, username] of expected) assert.equal((await s.storage.getUserById(id))?.username, username, `id ${id}`);
        assert.equal((await s.storage.getUserByUsername('frank'))!.id, frankNative);
      });

      it('keeps emails, names, flags and dates', async () => {
        const alice = (await s.storage.getUserById(1))!;
        assert.equal(alice.email, 'alice@example.com');
        assert.equal(alice.first_name, 'Alice');
        assert.equal(alice.last_name, 'Ångström');
        assert.equal(alice.is_staff, true);
        assert.equal(alice.is_superuser, true);
        assert.equal(alice.is_active, true);
        assert.equal(alice.date_joined, JOINED);
        assert.equal(alice.last_login, LAST_LOGIN);
        const bob = (await s.storage.getUserById(2))!;
        assert.equal(bob.is_staff, false);
        assert.equal(bob.last_login, null);
        assert.equal(bob.date_joined, JOINED);
        assert.equal((await s.storage.getUserById(5))!.email, 'erin@example.com');
        assert.equal((await s.storage.getUserById(8))!.is_active, false);
        // Joined "now" by Django's clock: within the last hour.
        const erinJoined = (await s.storage.getUserById(5))!.date_joined;
        assert.ok(Math.abs(erinJoined - Date.now() / 1000) < 3600, `erin joined at ${erinJoined}`);
      });

      for (const u of PEER_USERS) {
        it(`${u.username} (${u.prefix.split('$')[0]}) logs in over HTTP with the old password, then on argon2id`, async () => {
          await assertLoginRehashes(s, u.id, u.username, u.password, u.prefix);
        });
      }

      it('a username Django stored un-normalized logs in under either spelling', async () => {
        await assertLoginRehashes(s, 6, '\ufb01ona', 'pw-fiona-123', 'pbkdf2_sha256$');
        assert.equal((await login(s, 'fiona', 'pw-fiona-123')).statusCode, 200);
      });

      it('no usable password, inactive, and skipped users do not log in with their Django passwords', async () => {
        assert.ok((await s.storage.getUserById(5))!.password.startsWith('!'));
        assert.equal((await login(s, 'erin', 'anything-at-all')).statusCode, 401);
        assert.equal((await login(s, 'gina', 'pw-gina-123')).statusCode, 401);
        assert.equal((await login(s, 'frank', 'pw-frank-123')).statusCode, 401);
        assert.equal((await login(s, 'frank', 'native-frank-pw')).statusCode, 200);
      });

      it('SimpleJWT tokens for users 1, 2 and 42 keep working', async () => {
        await assertFixtureTokensWork(s);
      });

      it('a re-run reports everything unchanged', async () => {
        const r = await importDjango({ from: `sqlite:${djangoDb}`, storage: s.storage, now: FIXTURE_NOW });
        assert.deepEqual(r, { created: 0, updated: 0, unchanged: 8, skipped: 1, unsupportedHashes: 0 });
      });
    });
  }
});

// ---- the command ------------------------------------------------------------

describe('import-django: the command line', () => {
  const CLI = path.join(ROOT, 'dist', 'src', 'cli.js');
  const dir = tempDir('latchkey-django-cli-');
  const source = path.join(dir, 'django.sqlite3');
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('LATCHKEY_') || k.startsWith('NODE_TEST')) continue;
    env[k] = v;
  }
  Object.assign(env, { LATCHKEY_DATA_DIR: path.join(dir, 'data'), LATCHKEY_SIGNING_KEY: TEST_KEY, LATCHKEY_LOG_LEVEL: 'silent' });
  const run = (...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env, input: '', encoding: 'utf8', timeout: 60_000 });

  before(() => writeDjangoSqlite(source, FIXTURE_ROWS));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('imports, then reports a re-run as all unchanged', () => {
    const first = run('import-django', '--from', `sqlite:${source}`);
    assert.equal(first.status, 0, first.stderr);
    assert.match(first.stdout, /6 created, 0 updated, 0 unchanged, 0 skipped/);
    const second = run('import-django', '--from', `sqlite:${source}`);
    assert.equal(second.status, 0, second.stderr);
    assert.match(second.stdout, /0 created, 0 updated, 6 unchanged, 0 skipped/);
  });

  it('a bad --from exits 1 with one line', () => {
    const r = run('import-django', '--from', `sqlite:${path.join(dir, 'nope.sqlite3')}`);
    assert.equal(r.status, 1);
    const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^latchkey: cannot read the Django database/);
  });
});
