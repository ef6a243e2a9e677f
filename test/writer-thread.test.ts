// SQLite's writer thread (src/storage/sqlite/writer-thread.ts): what a caller
// can see of the thread being there, and of it going away.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import SQLite from 'better-sqlite3';
import { StorageUnavailableError } from '../src/errors.js';
import type { KyselyStorage } from '../src/storage/base.js';
import { fromWire, RemoteWrites, toWire } from '../src/storage/sqlite/writer-thread.js';
import type { OutstandingToken } from '../src/storage/types.js';
import { newUser, storageTracker } from './helpers.js';

const T = 1_700_000_000;
const meta = { userAgent: 'agent', address: '10.0.0.1' };

function token(): OutstandingToken {
  const jti = randomBytes(16).toString('hex');
  return { jti, userId: 1, familyId: jti, familyIssuedAt: T, createdAt: T, expiresAt: T + 86_400 };
}

/** The storage's writer thread, which a caller never sees: only the tests reach it, to stop it. */
const threadOf = (s: KyselyStorage) => (s as unknown as { writes: RemoteWrites }).writes;
const workerOf = (s: KyselyStorage) =>
  (threadOf(s) as unknown as { link: { worker: { terminate(): Promise<number> } } | undefined }).link?.worker;

describe('storage: sqlite writer thread', () => {
  const db = storageTracker('sqlite');
  after(() => db.cleanup());

  it('a file-backed storage writes through the thread, which starts with the storage, not in the first burst of writes', async () => {
    const s = await db.fresh();
    assert.ok(threadOf(s) instanceof RemoteWrites);
    assert.ok(workerOf(s), 'the thread is started once the storage is migrated');
    const t = token();
    await s.startSession(t, meta);
    assert.equal((await s.getTokenState(t.jti))?.familyId, t.familyId);
  });

  it('writes called before close() are committed by it; writes after it are refused', async () => {
    const url = await db.url();
    const s = db.open(url);
    await s.migrate();
    const t = token();
    await s.recordOutstanding(t);
    const pending = [s.startSession(token(), meta), s.blacklist(t, 'logout', T + 1)];
    await s.close();
    assert.equal(typeof (await pending[0]), 'number');
    assert.equal(await pending[1], true);
    await assert.rejects(s.blacklist(t, 'logout', T + 2), StorageUnavailableError);
    const probe = new SQLite(url.slice('sqlite:'.length), { readonly: true });
    try {
      const row = probe
        .prepare('SELECT b.reason FROM blacklisted_tokens b JOIN outstanding_tokens o ON o.id = b.token_id WHERE o.jti = ?')
        .get(t.jti) as { reason: string } | undefined;
      assert.equal(row?.reason, 'logout');
      assert.equal((probe.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n, 1);
    } finally {
      probe.close();
    }
  });

  it('a thread that dies fails what it had not answered with StorageUnavailableError, and the next write starts a new one', async () => {
    const url = await db.url();
    const s = db.open(url);
    await s.migrate();
    await s.startSession(token(), meta); // the thread is up
    const other = new SQLite(url.slice('sqlite:'.length));
    try {
      // The write waits in the thread for the lock the other connection holds...
      other.exec('BEGIN IMMEDIATE');
      const t = token();
      const waiting = s.startSession(t, meta);
      const outcome = waiting.then(
        () => 'answered',
        (err: unknown) => err,
      );
      await new Promise((r) => setTimeout(r, 50));
      // ...when the thread goes away.
      await workerOf(s)!.terminate();
      const err = await outcome;
      assert.ok(err instanceof StorageUnavailableError, String(err));
      other.exec('ROLLBACK');
      assert.equal(await s.getTokenState(t.jti), undefined, 'nothing of the failed write is there');
      const next = token();
      assert.equal(typeof (await s.startSession(next, meta)), 'number');
      assert.equal((await s.getTokenState(next.jti))?.familyId, next.familyId);
    } finally {
      if (other.inTransaction) other.exec('ROLLBACK');
      other.close();
    }
  });

  it("the users it caches are dropped when another connection changes them, not by the storage's own writes", async () => {
    const url = await db.url();
    const s = db.open(url);
    await s.migrate();
    const { id } = await s.createUser(newUser({ date_joined: T }));
    const until = async (what: () => boolean, label: string) => {
      for (let i = 0; i < 200 && !what(); i++) await new Promise((r) => setTimeout(r, 5));
      assert.ok(what(), label);
    };
    // Cached once the thread follows the file's changes.
    await until(() => {
      void s.getUserAuth(id);
      return s.cachedUserAuth(id) !== undefined;
    }, 'the user is never cached');
    // The storage's own logins and refreshes, committed by the thread, leave it cached.
    for (let i = 0; i < 5; i++) {
      const t = { ...token(), userId: id };
      await s.startSession(t, meta);
      await s.rotate(t, { ...token(), userId: id, familyId: t.familyId }, T + 1);
    }
    await new Promise((r) => setTimeout(r, 100)); // four of the feed's polls
    assert.equal(s.cachedUserAuth(id)?.is_active, true, "the storage's own writes dropped the cached user");
    // Another connection (another process) deactivates the user: the cache lets it go.
    const other = new SQLite(url.slice('sqlite:'.length));
    try {
      other.prepare('UPDATE users SET is_active = 0 WHERE id = ?').run(id);
    } finally {
      other.close();
    }
    await until(() => s.cachedUserAuth(id) === undefined, "another connection's change left the cached user in place");
    assert.equal((await s.getUserAuth(id))?.is_active, false);
  });

  it("a database error crosses from the thread with its code, so it is classified as on the event loop's connection", () => {
    const driver = Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    const back = fromWire(toWire(driver)) as Error & { code?: string };
    assert.equal(back.message, 'database or disk is full');
    assert.equal(back.code, 'SQLITE_FULL');
    const outage = fromWire(toWire(new StorageUnavailableError(Object.assign(new Error('EACCES: denied'), { code: 'EACCES' }))));
    assert.ok(outage instanceof StorageUnavailableError);
    assert.equal((outage.cause as { code?: string }).code, 'EACCES');
  });
});
