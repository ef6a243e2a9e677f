// One storage suite, run unchanged against every path in STORAGE_VARIANTS
// (kysely's dialect loop, better-auth's single adapter suite): SQLite's fast
// path and, on SQLite too, the general path PostgreSQL runs, always;
// PostgreSQL when TEST_POSTGRES_URL names a server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { Migrator, sql } from 'kysely';
import { StorageUnavailableError, UniqueViolationError } from '../src/errors.js';
import type { KyselyStorage } from '../src/storage/base.js';
import { migrations } from '../src/storage/migrations.js';
import { openStorage } from '../src/storage/open.js';
import { SqliteWrites } from '../src/storage/sqlite/statements.js';
import { RemoteWrites } from '../src/storage/sqlite/writer-thread.js';
import { KyselyWrites } from '../src/storage/writes.js';
import type { OutstandingToken, Storage } from '../src/storage/types.js';
import { newUser, schemaUrl, STORAGE_VARIANTS, storageTracker } from './helpers.js';

const newJti = () => randomBytes(16).toString('hex');

/** An outstanding refresh token; by default the first of its own family. */
function token(over: Partial<OutstandingToken> = {}): OutstandingToken {
  const jti = over.jti ?? newJti();
  return {
    jti,
    userId: 1,
    familyId: jti,
    familyIssuedAt: 1_700_000_000,
    createdAt: 1_700_000_000,
    expiresAt: 1_700_086_400,
    ...over,
  };
}

const isUnique = (field: 'username' | 'phone_number') => (err: unknown) => {
  assert.ok(err instanceof UniqueViolationError, `expected UniqueViolationError, got ${String(err)}`);
  assert.equal(err.field, field);
  return true;
};

/** Calls each operation and names those that did not reject with StorageUnavailableError. */
async function notUnavailable(calls: Record<string, () => Promise<unknown>>): Promise<string[]> {
  const wrong: string[] = [];
  for (const [name, call] of Object.entries(calls)) {
    try {
      await call();
      wrong.push(`${name}: resolved`);
    } catch (err) {
      if (!(err instanceof StorageUnavailableError)) {
        wrong.push(`${name}: ${(err as Error)?.constructor?.name ?? typeof err}: ${(err as Error)?.message ?? String(err)}`);
      }
    }
  }
  return wrong;
}

/** Every storage call that touches the database, with harmless arguments. */
function everyCall(s: Storage): Record<string, () => Promise<unknown>> {
  const t = token();
  return {
    ping: () => s.ping(),
    createUser: () => s.createUser(newUser()),
    getUserById: () => s.getUserById(1),
    getUserByUsername: () => s.getUserByUsername('nobody'),
    getUserByPhone: () => s.getUserByPhone('+15550000000'),
    updateUser: () => s.updateUser(1, { email: 'x@example.com' }),
    deleteUser: () => s.deleteUser(1),
    listUsers: () => s.listUsers(),
    recordOutstanding: () => s.recordOutstanding(t),
    startSession: () => s.startSession(token(), { userAgent: 'ua', address: '127.0.0.1' }),
    touchSession: () => s.touchSession(t, 1_700_000_100),
    listSessions: () => s.listSessions({}, 1_700_000_100),
    getSession: () => s.getSession(1, 1_700_000_100),
    getTokenState: () => s.getTokenState(t.jti),
    getSuccessor: () => s.getSuccessor(t.jti),
    blacklist: () => s.blacklist(t, 'logout', 1_700_000_100),
    revokeFamily: () => s.revokeFamily(t.familyId, 'reuse', 1_700_000_100),
    revokeUserTokens: () => s.revokeUserTokens(1, 'revoked', 1_700_000_100),
    flushExpired: () => s.flushExpired(1_700_000_100),
  };
}

for (const { name, dialect, opts } of STORAGE_VARIANTS) {
  describe(`storage: ${name}`, () => {
    const db = storageTracker(dialect, opts);
    after(() => db.cleanup());

    it('runs the write path and reads it is named for', async () => {
      // Else the loop would run one path twice and cover the other never.
      const s = (await db.fresh()) as unknown as { writes: object; hot: object | undefined };
      const fast = dialect === 'sqlite' && opts.fastPath !== false;
      assert.equal(s.writes instanceof RemoteWrites, fast && opts.writes !== 'loop');
      assert.equal(s.writes instanceof SqliteWrites, fast && opts.writes === 'loop');
      assert.equal(s.writes instanceof KyselyWrites, !fast);
      assert.equal(s.hot !== undefined, fast);
    });

    describe('migrate', () => {
      it('reports its dialect', async () => {
        const s = await db.fresh();
        assert.equal(s.dialect, dialect);
      });

      it('is idempotent: a second run keeps the data and changes nothing', async () => {
        const s = await db.fresh();
        const u = await s.createUser(newUser());
        await s.migrate();
        await s.migrate();
        assert.deepEqual(await s.getUserById(u.id), u);
        await s.ping();
      });

      it('a fresh database migrates even when another one on the same server is already migrated', async () => {
        // On PostgreSQL the two are schemas of one database, reached through
        // search_path: the migration bookkeeping must look at its own schema.
        const base = await db.url();
        const [urlA, urlB] =
          dialect === 'postgres' ? [await schemaUrl(base, 'lk_first'), await schemaUrl(base, 'lk_second')] : [base, await db.url()];
        const first = db.open(urlA);
        await first.migrate();
        const second = db.open(urlB);
        await second.migrate();
        const u = await second.createUser(newUser());
        assert.equal((await second.getUserById(u.id))?.username, u.username);
        assert.equal(await first.getUserById(u.id), undefined, 'the two databases stay apart');
      });

      it('a database already migrated by a newer release is left as it is, and still served', async () => {
        // Mid rolling deploy, an instance of the old release may restart after
        // the new release migrated: it must start, not refuse the schema.
        const s = await db.fresh();
        const u = await s.createUser(newUser());
        await sql`INSERT INTO latchkey_migrations (name, timestamp) VALUES ('9999_from_a_newer_release', '2030-01-01T00:00:00.000Z')`.execute(
          (s as KyselyStorage).db,
        );
        await s.migrate();
        assert.equal((await s.getUserById(u.id))?.username, u.username);
      });

      it('two storages migrating the same fresh database at once both succeed', async () => {
        const url = await db.url();
        const a = db.open(url);
        const b = db.open(url);
        const results = await Promise.allSettled([a.migrate(), b.migrate()]);
        assert.deepEqual(
          results.map((r) => (r.status === 'fulfilled' ? 'ok' : `rejected: ${(r.reason as Error).message}`)),
          ['ok', 'ok'],
        );
        const u = await a.createUser(newUser());
        assert.equal((await b.getUserById(u.id))?.username, u.username);
      });
    });

    describe('users', () => {
      it('createUser returns the stored row: booleans as booleans, numbers as numbers, an id assigned', async () => {
        const s = await db.fresh();
        const input = newUser({ phone_number: '+14155550101', is_staff: true, date_joined: 1_700_000_123 });
        const u = await s.createUser(input);
        assert.ok(Number.isInteger(u.id) && u.id > 0, `id ${String(u.id)}`);
        assert.deepEqual(u, { ...input, id: u.id, last_login: null, tokens_valid_after: null, tokens_revoked_ms: null });
        assert.equal(typeof u.is_active, 'boolean');
        assert.equal(typeof u.is_staff, 'boolean');
        assert.equal(typeof u.is_superuser, 'boolean');
        assert.equal(typeof u.date_joined, 'number');
        assert.deepEqual(await s.getUserById(u.id), u);

        const v = await s.createUser(newUser({ is_active: false }));
        assert.ok(v.id > u.id, `second id ${v.id} after ${u.id}`);
        assert.equal(v.is_active, false);
        assert.equal(v.is_staff, false);
      });

      it('a duplicate username throws UniqueViolationError naming username', async () => {
        const s = await db.fresh();
        await s.createUser(newUser({ username: 'alice' }));
        await assert.rejects(s.createUser(newUser({ username: 'alice' })), isUnique('username'));
        assert.equal((await s.getUserByUsername('alice'))?.username, 'alice');
      });

      it('a duplicate phone number throws UniqueViolationError naming phone_number', async () => {
        const s = await db.fresh();
        await s.createUser(newUser({ phone_number: '+919876543210' }));
        await assert.rejects(s.createUser(newUser({ phone_number: '+919876543210' })), isUnique('phone_number'));
      });

      it('a null phone number may repeat', async () => {
        const s = await db.fresh();
        const a = await s.createUser(newUser({ phone_number: null }));
        const b = await s.createUser(newUser({ phone_number: null }));
        assert.notEqual(a.id, b.id);
        assert.equal(b.phone_number, null);
      });

      it('an explicit id is kept, and later inserts get larger ids without colliding', async () => {
        const s = await db.fresh();
        const first = await s.createUser(newUser());
        assert.ok(first.id < 500);
        const imported = await s.createUser(newUser({ id: 1000 }));
        assert.equal(imported.id, 1000);
        const next = await s.createUser(newUser());
        assert.ok(next.id > 1000, `id after an imported 1000: ${next.id}`);
        // An imported id below the current maximum must not move the sequence back.
        const low = await s.createUser(newUser({ id: 500 }));
        assert.equal(low.id, 500);
        const later = await s.createUser(newUser());
        assert.ok(later.id > next.id, `id after a low import: ${later.id}, previous ${next.id}`);
        assert.equal((await s.getUserById(1000))?.username, imported.username);
      });

      it('finds users by id, username and phone; unknown ones are undefined', async () => {
        const s = await db.fresh();
        const u = await s.createUser(newUser({ username: 'bob', phone_number: '+442071838750' }));
        await s.createUser(newUser({ username: 'carol', phone_number: '+442071838751' }));
        assert.deepEqual(await s.getUserById(u.id), u);
        assert.deepEqual(await s.getUserByUsername('bob'), u);
        assert.deepEqual(await s.getUserByPhone('+442071838750'), u);
        assert.equal(await s.getUserById(u.id + 1000), undefined);
        assert.equal(await s.getUserByUsername('Bob'), undefined, 'usernames are case-sensitive, as in Django');
        assert.equal(await s.getUserByUsername('nobody'), undefined);
        assert.equal(await s.getUserByPhone('+10000000000'), undefined);
      });

      it('updateUser applies a patch and returns the new row', async () => {
        const s = await db.fresh();
        const u = await s.createUser(newUser());
        const updated = await s.updateUser(u.id, {
          email: 'new@example.com',
          is_active: false,
          is_staff: true,
          last_login: 1_700_000_500,
          tokens_valid_after: 1_700_000_400,
          tokens_revoked_ms: 1_700_000_400_123,
          phone_number: '+33142685300',
        });
        assert.deepEqual(updated, {
          ...u,
          email: 'new@example.com',
          is_active: false,
          is_staff: true,
          last_login: 1_700_000_500,
          tokens_valid_after: 1_700_000_400,
          tokens_revoked_ms: 1_700_000_400_123,
          phone_number: '+33142685300',
        });
        assert.deepEqual(await s.getUserById(u.id), updated);
        assert.deepEqual(await s.updateUser(u.id, {}), updated, 'an empty patch returns the row unchanged');
        const back = await s.updateUser(u.id, { is_active: true, phone_number: null });
        assert.equal(back?.is_active, true);
        assert.equal(back?.phone_number, null);
      });

      it('updateUser of an unknown id returns undefined', async () => {
        const s = await db.fresh();
        assert.equal(await s.updateUser(4242, { email: 'x@example.com' }), undefined);
      });

      it('updateUser into a taken username or phone throws UniqueViolationError and changes nothing', async () => {
        const s = await db.fresh();
        await s.createUser(newUser({ username: 'dave', phone_number: '+4930123456' }));
        const e = await s.createUser(newUser({ username: 'erin' }));
        await assert.rejects(s.updateUser(e.id, { username: 'dave' }), isUnique('username'));
        await assert.rejects(s.updateUser(e.id, { phone_number: '+4930123456' }), isUnique('phone_number'));
        assert.deepEqual(await s.getUserById(e.id), e);
      });

      it('deleteUser removes the user once', async () => {
        const s = await db.fresh();
        const u = await s.createUser(newUser({ username: 'frank', phone_number: '+61291234567' }));
        const other = await s.createUser(newUser());
        assert.equal(await s.deleteUser(u.id), true);
        assert.equal(await s.getUserById(u.id), undefined);
        assert.equal(await s.getUserByUsername('frank'), undefined);
        assert.equal(await s.getUserByPhone('+61291234567'), undefined);
        assert.equal(await s.deleteUser(u.id), false);
        assert.deepEqual(await s.getUserById(other.id), other);
        // The name and phone are free again.
        await s.createUser(newUser({ username: 'frank', phone_number: '+61291234567' }));
      });
    });

    describe('tokens', () => {
      it('recordOutstanding is idempotent on jti: the first record wins', async () => {
        const s = await db.fresh();
        const t = token({ userId: 7 });
        await s.recordOutstanding(t);
        await s.recordOutstanding(t);
        await s.recordOutstanding({ ...t, familyId: 'another-family', userId: 8, familyIssuedAt: 1 });
        assert.deepEqual(await s.getTokenState(t.jti), {
          familyId: t.familyId,
          familyIssuedAt: t.familyIssuedAt,
          userId: 7,
          blacklisted: null,
        });
      });

      it('getTokenState reports the family, the user and the blacklist reason', async () => {
        const s = await db.fresh();
        const root = token({ userId: 3 });
        const child = token({ userId: 3, familyId: root.jti, familyIssuedAt: root.familyIssuedAt, createdAt: 1_700_000_300 });
        const anonymous = token({ userId: null });
        await s.recordOutstanding(root);
        await s.recordOutstanding(child);
        await s.recordOutstanding(anonymous);
        assert.equal(await s.getTokenState(newJti()), undefined);
        assert.deepEqual(await s.getTokenState(child.jti), {
          familyId: root.jti,
          familyIssuedAt: root.familyIssuedAt,
          userId: 3,
          blacklisted: null,
        });
        assert.equal((await s.getTokenState(anonymous.jti))?.userId, null);
        assert.equal(await s.blacklist(root, 'rotated', 1_700_000_300), true);
        assert.equal(await s.blacklist(child, 'logout', 1_700_000_400), true);
        assert.equal((await s.getTokenState(root.jti))?.blacklisted, 'rotated');
        assert.equal((await s.getTokenState(child.jti))?.blacklisted, 'logout');
      });

      it('blacklist records a token minted elsewhere, and is true once, false after', async () => {
        const s = await db.fresh();
        const t = token({ userId: 11, familyId: 'fam-elsewhere', familyIssuedAt: 1_699_999_000 });
        assert.equal(await s.getTokenState(t.jti), undefined);
        assert.equal(await s.blacklist(t, 'logout', 1_700_000_100), true);
        assert.deepEqual(await s.getTokenState(t.jti), {
          familyId: 'fam-elsewhere',
          familyIssuedAt: 1_699_999_000,
          userId: 11,
          blacklisted: 'logout',
        });
        assert.equal(await s.blacklist(t, 'logout', 1_700_000_200), false);
        assert.equal(await s.blacklist(t, 'rotated', 1_700_000_300), false);
        assert.equal((await s.getTokenState(t.jti))?.blacklisted, 'logout', 'the first reason stays');
      });

      it('blacklist of a recorded token is true once, false after', async () => {
        const s = await db.fresh();
        const t = token();
        await s.recordOutstanding(t);
        assert.equal(await s.blacklist(t, 'rotated', 1_700_000_100), true);
        assert.equal(await s.blacklist(t, 'rotated', 1_700_000_100), false);
      });

      it('20 concurrent blacklist calls for one jti: exactly one wins (pool of 10 connections)', async () => {
        const s = await db.fresh({ poolSize: 10 });
        // Three rounds on unrecorded tokens (the insert races too) and one on a recorded token.
        const recorded = token();
        await s.recordOutstanding(recorded);
        for (const t of [token(), token(), token(), recorded]) {
          const results = await Promise.all(Array.from({ length: 20 }, () => s.blacklist(t, 'rotated', 1_700_000_100)));
          assert.equal(results.filter((r) => r === true).length, 1, `winners for ${t.jti}: ${JSON.stringify(results)}`);
          assert.equal((await s.getTokenState(t.jti))?.blacklisted, 'rotated');
        }
      });

      it('rotate: of 20 concurrent rotations of one token, one wins, and only its successor is recorded', async () => {
        const s = await db.fresh({ poolSize: 10 });
        const old = token();
        await s.recordOutstanding(old);
        const successors = Array.from({ length: 20 }, () => token({ familyId: old.familyId, familyIssuedAt: old.familyIssuedAt }));
        const results = await Promise.all(successors.map((next) => s.rotate(old, next, 1_700_000_100)));
        assert.equal(results.filter((r) => r === true).length, 1, JSON.stringify(results));
        assert.equal((await s.getTokenState(old.jti))?.blacklisted, 'rotated');
        const recorded = await Promise.all(successors.map((next) => s.getTokenState(next.jti)));
        assert.deepEqual(
          recorded.map((state) => state !== undefined),
          results,
          'exactly the winning successor is recorded, the losers leave nothing behind',
        );
        const winner = recorded[results.indexOf(true)]!;
        assert.equal(winner.familyId, old.familyId);
        assert.equal(winner.blacklisted, null);
      });

      it("rotate keeps the winner's successor for the rotated token; losers keep nothing; a flush takes it with the token", async () => {
        const s = await db.fresh({ poolSize: 10 });
        const old = token({ expiresAt: 1_700_000_500 });
        await s.recordOutstanding(old);
        assert.equal(await s.getSuccessor(old.jti), undefined, 'nothing before a rotation');
        const successors = Array.from({ length: 10 }, () => token({ familyId: old.familyId, familyIssuedAt: old.familyIssuedAt }));
        const results = await Promise.all(
          successors.map((next, i) => s.rotate(old, next, 1_700_000_100, { jti: next.jti, sealed: `sealed-${i}` })),
        );
        const i = results.indexOf(true);
        assert.equal(results.filter(Boolean).length, 1);
        assert.deepEqual(await s.getSuccessor(old.jti), { jti: successors[i]!.jti, sealed: `sealed-${i}`, rotatedAt: 1_700_000_100 });
        assert.equal(await s.getSuccessor(successors[i]!.jti), undefined, 'the successor has none of its own yet');
        assert.equal(await s.flushExpired(1_700_000_600), 1);
        assert.equal(await s.getSuccessor(old.jti), undefined, 'gone with the rotated token');
      });

      it('revokeFamily blacklists every token of one family, returns the count, and leaves other families alone', async () => {
        const s = await db.fresh();
        const f = token();
        const family = (over: Partial<OutstandingToken> = {}) => token({ familyId: f.jti, familyIssuedAt: f.familyIssuedAt, ...over });
        const f2 = family();
        const f3 = family();
        const g = token();
        const g2 = token({ familyId: g.jti });
        for (const t of [f, f2, f3, g, g2]) await s.recordOutstanding(t);
        assert.equal(await s.blacklist(f, 'rotated', 1_700_000_100), true);

        assert.equal(await s.revokeFamily(f.jti, 'reuse', 1_700_000_200), 2);
        assert.equal((await s.getTokenState(f.jti))?.blacklisted, 'rotated', 'an earlier reason is kept');
        assert.equal((await s.getTokenState(f2.jti))?.blacklisted, 'reuse');
        assert.equal((await s.getTokenState(f3.jti))?.blacklisted, 'reuse');
        assert.equal((await s.getTokenState(g.jti))?.blacklisted, null);
        assert.equal((await s.getTokenState(g2.jti))?.blacklisted, null);

        assert.equal(await s.revokeFamily(f.jti, 'reuse', 1_700_000_300), 0);
        assert.equal(await s.revokeFamily('no-such-family', 'reuse', 1_700_000_300), 0);
        assert.equal(await s.blacklist(f2, 'logout', 1_700_000_300), false, 'a revoked token cannot be consumed');
      });

      it('revokeUserTokens blacklists every token of one user, returns the count, and leaves other users alone', async () => {
        const s = await db.fresh();
        const a1 = token({ userId: 1 });
        const a2 = token({ userId: 1 });
        const a3 = token({ userId: 1, familyId: a1.jti });
        const b1 = token({ userId: 2 });
        const none = token({ userId: null });
        for (const t of [a1, a2, a3, b1, none]) await s.recordOutstanding(t);
        assert.equal(await s.blacklist(a2, 'logout', 1_700_000_100), true);

        assert.equal(await s.revokeUserTokens(1, 'revoked', 1_700_000_200), 2);
        assert.equal((await s.getTokenState(a1.jti))?.blacklisted, 'revoked');
        assert.equal((await s.getTokenState(a2.jti))?.blacklisted, 'logout');
        assert.equal((await s.getTokenState(a3.jti))?.blacklisted, 'revoked');
        assert.equal((await s.getTokenState(b1.jti))?.blacklisted, null);
        assert.equal((await s.getTokenState(none.jti))?.blacklisted, null);
        assert.equal(await s.revokeUserTokens(1, 'revoked', 1_700_000_300), 0);
        assert.equal(await s.revokeUserTokens(999, 'revoked', 1_700_000_300), 0);
      });

      it('blacklist records survive deleteUser', async () => {
        const s = await db.fresh();
        const u = await s.createUser(newUser());
        const out = token({ userId: u.id });
        const kept = token({ userId: u.id });
        await s.recordOutstanding(out);
        await s.recordOutstanding(kept);
        assert.equal(await s.blacklist(out, 'logout', 1_700_000_100), true);
        assert.equal(await s.deleteUser(u.id), true);
        assert.deepEqual(await s.getTokenState(out.jti), {
          familyId: out.familyId,
          familyIssuedAt: out.familyIssuedAt,
          userId: u.id,
          blacklisted: 'logout',
        });
        assert.equal((await s.getTokenState(kept.jti))?.blacklisted, null);
        assert.equal(await s.blacklist(out, 'logout', 1_700_000_200), false);
        assert.equal(await s.revokeUserTokens(u.id, 'revoked', 1_700_000_200), 1);
      });

      it('flushExpired deletes expired tokens and their blacklist rows, keeps the rest, and returns the count', async () => {
        const s = await db.fresh();
        const expiredBlacklisted = token({ expiresAt: 1_000 });
        const expired = token({ expiresAt: 1_500 });
        const live = token({ expiresAt: 3_000 });
        const liveBlacklisted = token({ expiresAt: 4_000 });
        for (const t of [expiredBlacklisted, expired, live, liveBlacklisted]) await s.recordOutstanding(t);
        assert.equal(await s.blacklist(expiredBlacklisted, 'logout', 900), true);
        assert.equal(await s.blacklist(liveBlacklisted, 'rotated', 900), true);
        const blacklistRows = async () =>
          Number(
            (
              await s.db
                .selectFrom('blacklisted_tokens')
                .select((eb) => eb.fn.countAll().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        assert.equal(await blacklistRows(), 2);

        assert.equal(await s.flushExpired(2_000), 2);
        assert.equal(await s.getTokenState(expiredBlacklisted.jti), undefined);
        assert.equal(await s.getTokenState(expired.jti), undefined);
        assert.equal((await s.getTokenState(live.jti))?.blacklisted, null);
        assert.equal((await s.getTokenState(liveBlacklisted.jti))?.blacklisted, 'rotated');
        assert.equal(await blacklistRows(), 1, "the expired token's blacklist row went with it");

        assert.equal(await s.flushExpired(2_000), 0);
        assert.equal(await s.flushExpired(5_000), 2);
        assert.equal(await blacklistRows(), 0);
      });
    });

    describe('availability', () => {
      it('ping succeeds on a migrated database', async () => {
        const s = await db.fresh();
        await s.ping();
      });

      it('after close(), every storage call rejects with StorageUnavailableError', async () => {
        const s = await db.fresh();
        await s.close();
        assert.deepEqual(await notUnavailable(everyCall(s)), []);
      });
    });
  });
}

describe('storage: postgres that cannot be reached', () => {
  const url = 'postgres://postgres@127.0.0.1:1/test';
  let s: Storage | undefined;
  after(() => s?.close().catch(() => {}));

  it('every storage call rejects with StorageUnavailableError, not a driver error', async () => {
    s = openStorage(url);
    assert.deepEqual(await notUnavailable(everyCall(s)), []);
  });

  it('migrate rejects with StorageUnavailableError', async () => {
    const m = openStorage(url);
    try {
      assert.deepEqual(await notUnavailable({ migrate: () => m.migrate() }), []);
    } finally {
      await m.close().catch(() => {});
    }
  });
});

describe('storage: sqlite file settings', () => {
  const db = storageTracker('sqlite');
  after(() => db.cleanup());

  it('the file is in WAL mode, and the storage connection commits with synchronous=FULL', async () => {
    const url = await db.url();
    const s = db.open(url);
    await s.migrate();
    await s.createUser(newUser());
    // journal_mode=WAL is a property of the file: any connection reads it back.
    const probe = new SQLite(url.slice('sqlite:'.length), { readonly: true });
    try {
      assert.equal(probe.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      probe.close();
    }
    // synchronous is per connection: ask the storage's own connection (2 = FULL).
    const { rows } = await sql<{ synchronous: number }>`PRAGMA synchronous`.execute(s.db);
    assert.equal(rows[0]?.synchronous, 2);
    const fk = await sql<{ foreign_keys: number }>`PRAGMA foreign_keys`.execute(s.db);
    assert.equal(fk.rows[0]?.foreign_keys, 1, 'foreign keys on, so blacklist rows cascade');
  });
});

// ---- sessions: one per login's rotation family (migration 0002) ----------

for (const { name, dialect, opts } of STORAGE_VARIANTS) {
  describe(`storage: ${name}: sessions`, () => {
    const db = storageTracker(dialect, opts);
    after(() => db.cleanup());

    const T = 1_700_000_000;
    const meta = (n: number) => ({ userAgent: `agent ${n}`, address: `10.0.0.${n}` });
    /** The next token of a family, as rotation records it. */
    const successor = (first: OutstandingToken, createdAt: number) =>
      token({
        userId: first.userId,
        familyId: first.familyId,
        familyIssuedAt: first.familyIssuedAt,
        createdAt,
        expiresAt: createdAt + 86_400,
      });

    it('startSession records the first token and opens a session with its client, under an id that is no jti', async () => {
      const s = await db.fresh();
      const t = token({ userId: 7, createdAt: T, familyIssuedAt: T });
      const id = await s.startSession(t, meta(1));
      assert.ok(Number.isInteger(id) && id > 0, `id ${id}`);
      assert.deepEqual(await s.getTokenState(t.jti), { familyId: t.jti, familyIssuedAt: T, userId: 7, blacklisted: null });
      const expected = { id, familyId: t.familyId, userId: 7, createdAt: T, lastUsedAt: T, userAgent: 'agent 1', address: '10.0.0.1' };
      assert.deepEqual(await s.getSession(id, T + 1), expected);
      assert.deepEqual(await s.listSessions({ userId: 7 }, T + 1), [expected]);
      assert.notEqual(String(id), t.jti);
      const second = await s.startSession(token({ userId: 7 }), meta(2));
      assert.ok(second > id, `second id ${second} after ${id}`);
    });

    it('listSessions: per user or all, the most recently used first', async () => {
      const s = await db.fresh();
      const a = token({ userId: 1, createdAt: T });
      const b = token({ userId: 1, createdAt: T + 10 });
      const c = token({ userId: 2, createdAt: T + 5 });
      const ia = await s.startSession(a, meta(1));
      const ib = await s.startSession(b, meta(2));
      const ic = await s.startSession(c, meta(3));
      assert.deepEqual(
        (await s.listSessions({ userId: 1 }, T + 20)).map((x) => x.id),
        [ib, ia],
      );
      assert.deepEqual(
        (await s.listSessions({ userId: 2 }, T + 20)).map((x) => x.id),
        [ic],
      );
      assert.deepEqual(
        (await s.listSessions({}, T + 20)).map((x) => x.id),
        [ib, ic, ia],
      );
      assert.deepEqual(await s.listSessions({ userId: 3 }, T + 20), []);
      // A refresh moves a session to the front.
      await s.touchSession(a, T + 30);
      assert.deepEqual(
        (await s.listSessions({}, T + 40)).map((x) => x.id),
        [ia, ib, ic],
      );
    });

    it('a session ends when its every token is blacklisted or expired', async () => {
      const s = await db.fresh();
      const loggedOut = token({ userId: 1 });
      const revoked = token({ userId: 1 });
      const expiring = token({ userId: 1, expiresAt: T + 100 });
      const live = token({ userId: 1 });
      const ids = {
        loggedOut: await s.startSession(loggedOut, meta(1)),
        revoked: await s.startSession(revoked, meta(2)),
        expiring: await s.startSession(expiring, meta(3)),
        live: await s.startSession(live, meta(4)),
      };
      await s.blacklist(loggedOut, 'logout', T + 1);
      await s.revokeFamily(revoked.familyId, 'revoked', T + 1);
      assert.deepEqual((await s.listSessions({ userId: 1 }, T + 50)).map((x) => x.id).sort(), [ids.expiring, ids.live].sort());
      assert.deepEqual(
        (await s.listSessions({ userId: 1 }, T + 100)).map((x) => x.id),
        [ids.live],
      );
      assert.equal(await s.getSession(ids.loggedOut, T + 50), undefined);
      assert.equal(await s.getSession(ids.revoked, T + 50), undefined);
      assert.equal(await s.getSession(ids.expiring, T + 100), undefined);
      assert.equal((await s.getSession(ids.live, T + 100))?.id, ids.live);
      assert.equal(await s.getSession(999_999, T), undefined);
    });

    it('rotate keeps the session, moves its last use, and revokeFamily ends it with every descendant', async () => {
      const s = await db.fresh();
      const first = token({ userId: 1, createdAt: T, familyIssuedAt: T });
      const id = await s.startSession(first, meta(1));
      const second = successor(first, T + 60);
      assert.equal(await s.rotate(first, second, T + 60), true);
      const third = successor(first, T + 120);
      assert.equal(await s.rotate(second, third, T + 120), true);
      const [session, ...others] = await s.listSessions({ userId: 1 }, T + 130);
      assert.equal(others.length, 0, 'one session however often it rotates');
      assert.deepEqual(session, {
        id,
        familyId: first.jti,
        userId: 1,
        createdAt: T,
        lastUsedAt: T + 120,
        userAgent: 'agent 1',
        address: '10.0.0.1',
      });
      assert.equal(await s.revokeFamily(first.familyId, 'logout', T + 130), 1);
      assert.equal((await s.getTokenState(third.jti))?.blacklisted, 'logout');
      assert.deepEqual(await s.listSessions({ userId: 1 }, T + 130), []);
    });

    it('a lost rotation changes no session', async () => {
      const s = await db.fresh();
      const first = token({ userId: 1, createdAt: T });
      const id = await s.startSession(first, meta(1));
      assert.equal(await s.rotate(first, successor(first, T + 10), T + 10), true);
      assert.equal(await s.rotate(first, successor(first, T + 20), T + 20), false);
      assert.equal((await s.getSession(id, T + 30))?.lastUsedAt, T + 10);
    });

    it('touchSession records a token minted elsewhere and opens a session without client details; again, it only moves the last use', async () => {
      const s = await db.fresh();
      const foreign = token({ userId: 4, createdAt: T, familyIssuedAt: T });
      await s.touchSession(foreign, T + 5);
      assert.deepEqual(await s.getTokenState(foreign.jti), { familyId: foreign.jti, familyIssuedAt: T, userId: 4, blacklisted: null });
      const [session] = await s.listSessions({ userId: 4 }, T + 10);
      assert.ok(session);
      assert.deepEqual(
        { ...session, id: 0 },
        { id: 0, familyId: foreign.jti, userId: 4, createdAt: T, lastUsedAt: T + 5, userAgent: '', address: '' },
      );
      await s.touchSession(foreign, T + 9);
      assert.deepEqual(await s.listSessions({ userId: 4 }, T + 10), [{ ...session, lastUsedAt: T + 9 }]);
    });

    it("deleteUser deletes the user's sessions and keeps their token records", async () => {
      const s = await db.fresh();
      const u = await s.createUser(newUser());
      const v = await s.createUser(newUser());
      const t = token({ userId: u.id });
      await s.startSession(t, meta(1));
      const kept = await s.startSession(token({ userId: v.id }), meta(2));
      assert.equal(await s.deleteUser(u.id), true);
      assert.deepEqual(await s.listSessions({ userId: u.id }, T), []);
      assert.equal((await s.getTokenState(t.jti))?.userId, u.id);
      assert.deepEqual(
        (await s.listSessions({}, T)).map((x) => x.id),
        [kept],
      );
    });

    it('listUsers returns every user by id', async () => {
      const s = await db.fresh();
      assert.deepEqual(await s.listUsers(), []);
      const a = await s.createUser(newUser());
      const b = await s.createUser(newUser({ is_staff: true }));
      assert.deepEqual(await s.listUsers(), [a, b]);
    });

    it('flushExpired deletes the sessions left without tokens and keeps the rest', async () => {
      const s = await db.fresh();
      const gone = token({ userId: 1, expiresAt: 1_000 });
      const stays = token({ userId: 1, expiresAt: 3_000 });
      // A rotated family whose first token expired and whose newest has not.
      const rotated = token({ userId: 1, expiresAt: 1_500 });
      const goneId = await s.startSession(gone, meta(1));
      const staysId = await s.startSession(stays, meta(2));
      const rotatedId = await s.startSession(rotated, meta(3));
      assert.equal(await s.rotate(rotated, { ...successor(rotated, 1_400), expiresAt: 2_500 }, 1_400), true);
      assert.equal(await s.flushExpired(2_000), 2);
      const ids = async () => (await s.db.selectFrom('sessions').select('id').orderBy('id').execute()).map((r) => r.id);
      assert.deepEqual(await ids(), [staysId, rotatedId]);
      assert.ok(!(await ids()).includes(goneId));
      assert.equal(await s.flushExpired(2_600), 1);
      assert.deepEqual(await ids(), [staysId]);
    });

    it('migration 0002 turns the families already recorded into sessions without client details', async () => {
      const s = db.open(await db.url());
      const migrator = new Migrator({
        db: s.db,
        provider: { getMigrations: async () => migrations(dialect) },
        migrationTableName: 'latchkey_migrations',
        migrationLockTableName: 'latchkey_migrations_lock',
        ...(dialect === 'postgres'
          ? { migrationTableSchema: (await sql<{ schema: string }>`SELECT current_schema() AS schema`.execute(s.db)).rows[0]!.schema }
          : {}),
      });
      const first = await migrator.migrateTo('0001_users_and_tokens');
      assert.equal(first.error, undefined);
      const a = token({ userId: 1, createdAt: T, familyIssuedAt: T });
      const a2 = successor(a, T + 40);
      const b = token({ userId: 2, createdAt: T + 7, familyIssuedAt: T + 7 });
      for (const t of [a, a2, b]) await s.recordOutstanding(t);
      await s.blacklist(a, 'rotated', T + 40);

      await s.migrate();
      const strip = (x: { id: number }) => ({ ...x, id: 0 });
      assert.deepEqual((await s.listSessions({}, T + 50)).map(strip), [
        { id: 0, familyId: a.jti, userId: 1, createdAt: T, lastUsedAt: T + 40, userAgent: '', address: '' },
        { id: 0, familyId: b.jti, userId: 2, createdAt: T + 7, lastUsedAt: T + 7, userAgent: '', address: '' },
      ]);
      // And new logins work beside them.
      await s.startSession(token({ userId: 1 }), meta(1));
      assert.equal((await s.listSessions({ userId: 1 }, T + 50)).length, 2);
    });
  });
}
