// The write path of logins, refreshes and logouts (group commit on SQLite's
// fast path, a transaction per call on the general path) and the batched
// flush: behaviour that must hold whichever way writes are batched.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import type { KyselyStorage } from '../src/storage/base.js';
import { whenUnlocked } from '../src/storage/sqlite/files.js';
import type { OutstandingToken } from '../src/storage/types.js';
import { newUser, STORAGE_VARIANTS, storageTracker } from './helpers.js';

const T = 1_700_000_000;
const meta = { userAgent: 'agent', address: '10.0.0.1' };

function token(over: Partial<OutstandingToken> = {}): OutstandingToken {
  const jti = over.jti ?? randomBytes(16).toString('hex');
  return { jti, userId: 1, familyId: jti, familyIssuedAt: T, createdAt: T, expiresAt: T + 86_400, ...over };
}

const successor = (t: OutstandingToken) => token({ userId: t.userId, familyId: t.familyId, familyIssuedAt: t.familyIssuedAt });

/** A second connection to a database the suite already migrated. */
const reopen = async (db: ReturnType<typeof storageTracker>, url: string) => {
  const s = db.open(url);
  await s.migrate();
  return s;
};

async function createUser(s: KyselyStorage, username: string): Promise<number> {
  return (await s.createUser(newUser({ username, date_joined: T }))).id;
}

/** `n` expired tokens (half of them blacklisted), each in its own session, loaded directly. */
async function seedExpired(s: KyselyStorage, n: number): Promise<void> {
  for (let start = 0; start < n; start += 500) {
    const rows = Array.from({ length: Math.min(500, n - start) }, (_, i) => {
      const jti = `expired-${start + i}`;
      return { jti, user_id: 1, family_id: jti, family_issued_at: 1_000, created_at: 1_000, expires_at: 1_500 };
    });
    await s.db.insertInto('outstanding_tokens').values(rows).execute();
    await s.db
      .insertInto('sessions')
      .values(
        rows.map((r) => ({ family_id: r.family_id, user_id: 1, created_at: 1_000, last_used_at: 1_000, user_agent: '', address: '' })),
      )
      .execute();
  }
  await s.db
    .insertInto('blacklisted_tokens')
    .columns(['token_id', 'reason', 'blacklisted_at'])
    .expression((eb) =>
      eb
        .selectFrom('outstanding_tokens')
        .select([eb.ref('id').as('token_id'), eb.val('logout').as('reason'), eb.val(1_200).as('blacklisted_at')])
        .where(eb('id', '%', 2), '=', 0),
    )
    .execute();
}

const count = async (s: KyselyStorage, table: 'outstanding_tokens' | 'blacklisted_tokens' | 'sessions') =>
  Number(
    (
      await s.db
        .selectFrom(table)
        .select((eb) => eb.fn.countAll().as('n'))
        .executeTakeFirstOrThrow()
    ).n,
  );

for (const { name, dialect, opts } of STORAGE_VARIANTS) {
  describe(`storage writes: ${name}`, () => {
    const db = storageTracker(dialect, opts);
    after(() => db.cleanup());

    it('writes issued together each get their own answer, and one that fails fails alone', async () => {
      const s = await db.fresh();
      const taken = token();
      await s.startSession(taken, meta);
      const rotated = token();
      await s.recordOutstanding(rotated);
      const loggedOut = token();
      const results = await Promise.allSettled([
        s.startSession(token(), meta),
        s.startSession({ ...token(), familyId: taken.familyId }, meta), // the family already has its session
        s.rotate(rotated, successor(rotated), T + 10),
        s.rotate(rotated, successor(rotated), T + 10),
        s.blacklist(loggedOut, 'logout', T + 10),
        s.touchSession(token(), T + 10),
      ]);
      assert.equal(results[0].status, 'fulfilled');
      assert.equal(typeof (results[0] as PromiseFulfilledResult<number>).value, 'number');
      assert.equal(results[1].status, 'rejected', 'a second session for one family is refused');
      assert.deepEqual(
        results
          .slice(2, 4)
          .map((r) => (r as PromiseFulfilledResult<boolean>).value)
          .sort(),
        [false, true],
        'of two rotations of one token, one wins',
      );
      assert.equal((results[4] as PromiseFulfilledResult<boolean>).value, true);
      assert.equal(results[5].status, 'fulfilled');
      // What the failed write did is gone; what the others did stays.
      const sessions = await s.listSessions({}, T);
      assert.equal(sessions.length, 4, JSON.stringify(sessions));
      assert.equal((await s.getTokenState(loggedOut.jti))?.blacklisted, 'logout');
      assert.equal((await s.getTokenState(rotated.jti))?.blacklisted, 'rotated');
    });

    it("startSession with lastLogin sets the user's last_login in the same commit; without, leaves it", async () => {
      const s = await db.fresh();
      const id = await createUser(s, 'ada');
      await s.startSession(token({ userId: id, createdAt: T + 5 }), meta);
      assert.equal((await s.getUserById(id))?.last_login, null);
      await s.startSession(token({ userId: id, createdAt: T + 7 }), meta, { lastLogin: true });
      assert.equal((await s.getUserById(id))?.last_login, T + 7);
    });

    it("flushExpired works in batches: the same storage's writes are answered while a long flush runs", async () => {
      const s = await db.fresh();
      await seedExpired(s, 5_000);
      const live = token();
      await s.startSession(live, meta);
      let flushed: number | undefined;
      const flush = s.flushExpired(2_000).then((n) => (flushed = n));
      const written = await Promise.all([s.startSession(token(), meta), s.rotate(live, successor(live), T + 1)]);
      assert.equal(flushed, undefined, 'a login and a rotation were answered before the flush ended');
      assert.equal(written[1], true);
      assert.equal(await flush, 5_000);
      assert.equal(await count(s, 'outstanding_tokens'), 3);
      assert.equal(await count(s, 'blacklisted_tokens'), 1, "the expired tokens' blacklist rows went with them");
      assert.equal(await count(s, 'sessions'), 2, 'the sessions left without a token went');
    });
  });
}

describe('storage writes: sqlite (fast path: group commit), several connections to one file', () => {
  const db = storageTracker('sqlite');
  after(() => db.cleanup());

  it('20 concurrent rotations of one token through two connections: exactly one wins', async () => {
    const url = await db.url();
    const [a, b] = [await reopen(db, url), await reopen(db, url)];
    for (let round = 0; round < 3; round++) {
      const old = token();
      await a.recordOutstanding(old);
      const successors = Array.from({ length: 20 }, () => successor(old));
      const results = await Promise.all(successors.map((next, i) => (i % 2 ? a : b).rotate(old, next, T + 1)));
      assert.equal(results.filter(Boolean).length, 1, JSON.stringify(results));
      const recorded = await Promise.all(successors.map((next) => a.getTokenState(next.jti)));
      assert.deepEqual(
        recorded.map((r) => r !== undefined),
        results,
        "only the winner's successor is recorded",
      );
    }
  });

  it('a write is answered only once committed: another connection sees it at once', async () => {
    const url = await db.url();
    const s = await reopen(db, url);
    const probe = new SQLite(url.slice('sqlite:'.length), { readonly: true });
    try {
      const t = token();
      const id = await s.startSession(t, meta);
      assert.equal((probe.prepare('SELECT id FROM sessions WHERE family_id = ?').get(t.familyId) as { id: number }).id, id);
      assert.equal(await s.blacklist(t, 'logout', T + 1), true);
      assert.ok(
        probe.prepare('SELECT 1 FROM blacklisted_tokens b JOIN outstanding_tokens o ON o.id = b.token_id WHERE o.jti = ?').get(t.jti),
      );
    } finally {
      probe.close();
    }
  });

  it('while another connection holds the write lock, writes wait without blocking the event loop, then commit', async () => {
    const url = await db.url();
    const s = await reopen(db, url);
    const other = new SQLite(url.slice('sqlite:'.length));
    try {
      other.exec('BEGIN IMMEDIATE');
      const t = token();
      let answered = false;
      const write = s.startSession(t, meta).then(() => (answered = true));
      // Timers still fire while the write waits: the loop is free.
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      await new Promise((r) => setTimeout(r, 150));
      clearInterval(timer);
      assert.ok(ticks >= 10, `only ${ticks} timer ticks in 150 ms`);
      assert.equal(answered, false, 'not answered while the lock is held elsewhere');
      other.exec('COMMIT');
      await write;
      assert.equal((await s.getTokenState(t.jti))?.familyId, t.familyId);
    } finally {
      other.close();
    }
  });

  it("user changes, alone or in a transaction, wait for another connection's write lock without blocking the event loop, then commit", async () => {
    const url = await db.url();
    const s = await reopen(db, url);
    const keep = await createUser(s, 'keeper');
    const gone = await createUser(s, 'leaver');
    const other = new SQLite(url.slice('sqlite:'.length));
    try {
      other.exec('BEGIN IMMEDIATE');
      const answered: string[] = [];
      const changes = [
        s.updateUser(keep, { first_name: 'Grace' }).then(() => answered.push('update')),
        s.createUser(newUser({ username: 'joiner', date_joined: T })).then(() => answered.push('create')),
        s.deleteUser(gone).then(() => answered.push('delete')), // a transaction: sessions, then the user
      ];
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      await new Promise((r) => setTimeout(r, 150));
      clearInterval(timer);
      // With SQLite's busy handler each change would sleep on this thread, timers and all, until it gave up.
      assert.ok(ticks >= 10, `only ${ticks} timer ticks in 150 ms`);
      assert.deepEqual(answered, [], 'nothing is answered while the lock is held elsewhere');
      other.exec('COMMIT');
      await Promise.all(changes);
      assert.deepEqual([...answered].sort(), ['create', 'delete', 'update']);
      assert.equal((await s.getUserById(keep))?.first_name, 'Grace');
      assert.equal((await s.getUserByUsername('joiner'))?.username, 'joiner');
      assert.equal(await s.getUserById(gone), undefined);
    } finally {
      other.close();
    }
  });

  it('a write that cannot get the lock within its wait fails with SQLITE_BUSY, and the connection waits as before afterwards', async () => {
    const url = await db.url();
    await reopen(db, url);
    const file = url.slice('sqlite:'.length);
    const holder = new SQLite(file);
    const writer = new SQLite(file);
    writer.pragma('busy_timeout = 4321');
    try {
      holder.exec('BEGIN IMMEDIATE');
      let ticks = 0;
      const timer = setInterval(() => ticks++, 5);
      const started = Date.now();
      await assert.rejects(
        whenUnlocked(writer, () => writer.exec('BEGIN IMMEDIATE'), { waitMs: 100, retryMs: 2, restoreMs: 4321 }),
        (err: { code?: string }) => err.code === 'SQLITE_BUSY',
      );
      clearInterval(timer);
      assert.ok(Date.now() - started >= 100, 'it tried for the whole wait');
      assert.ok(ticks >= 5, `only ${ticks} timer ticks while it tried`);
      assert.equal(writer.inTransaction, false);
      assert.equal(writer.pragma('busy_timeout', { simple: true }), 4321);
      holder.exec('COMMIT');
      await whenUnlocked(writer, () => writer.exec('BEGIN IMMEDIATE'), { waitMs: 100, retryMs: 2, restoreMs: 4321 });
      assert.equal(writer.inTransaction, true);
      writer.exec('ROLLBACK');
    } finally {
      holder.close();
      writer.close();
    }
  });

  it('another connection commits between the batches of a long flush', async () => {
    const url = await db.url();
    const s = await reopen(db, url);
    await seedExpired(s, 8_000);
    const other = new SQLite(url.slice('sqlite:'.length));
    other.pragma('busy_timeout = 0'); // a write either gets the lock now or fails
    const insert = other.prepare(
      'INSERT INTO outstanding_tokens (jti, user_id, family_id, family_issued_at, created_at, expires_at) VALUES (?, 1, ?, 1, 1, 9999999999)',
    );
    try {
      let done = false;
      const flush = s.flushExpired(2_000).finally(() => (done = true));
      let committed = 0;
      let n = 0;
      while (!done) {
        try {
          const jti = `other-${n++}`;
          insert.run(jti, jti);
          committed++;
        } catch (err) {
          if ((err as { code?: string }).code !== 'SQLITE_BUSY') throw err;
        }
        await new Promise((r) => setTimeout(r, 1));
      }
      assert.equal(await flush, 8_000);
      assert.ok(committed >= 2, `the other connection committed ${committed} times during the flush`);
    } finally {
      other.close();
    }
  });
});
