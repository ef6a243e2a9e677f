// Rotations sent together on PostgreSQL (src/storage/postgres/rotation-batch.ts):
// one statement for the batch, each caller told whether its own consume won,
// and a batch that fails run again one by one so the error reaches only its
// cause. The batcher is driven directly, so a test can tell a batch from the
// one-by-one path.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { KyselyStorage } from '../src/storage/base.js';
import { RotationBatcher, type RotationParams } from '../src/storage/postgres/rotation-batch.js';
import type { OutstandingToken } from '../src/storage/types.js';
import { KyselyWrites } from '../src/storage/writes.js';
import { skipUnless, storageTracker } from './helpers.js';

const T = 1_700_000_000;

function token(over: Partial<OutstandingToken> = {}): OutstandingToken {
  const jti = over.jti ?? randomBytes(16).toString('hex');
  return { jti, userId: 7, familyId: jti, familyIssuedAt: T, createdAt: T, expiresAt: T + 86_400, ...over };
}
const successorOf = (t: OutstandingToken) =>
  token({ userId: t.userId, familyId: t.familyId, familyIssuedAt: t.familyIssuedAt, createdAt: T + 5 });

describe(
  'PostgreSQL rotation batches',
  { skip: skipUnless(!process.env.TEST_POSTGRES_URL && 'TEST_POSTGRES_URL is not set', 'postgres') },
  () => {
    const db = storageTracker('postgres');
    let s: KyselyStorage;
    let pool: pg.Pool;
    let alone: RotationParams[];
    let batcher: RotationBatcher;
    before(async () => {
      const url = await db.url();
      s = db.open(url);
      await s.migrate();
      pool = new pg.Pool({ connectionString: url.replace(/^postgres(ql)?:/, 'postgres:') });
      const general = new KyselyWrites(s.db);
      batcher = new RotationBatcher(pool, (p) => {
        alone.push(p);
        return general.rotate(p.old, p.next, p.at, p.successor);
      });
    });
    after(async () => {
      await pool?.end();
      await db.cleanup();
    });

    it('rotations issued together go as one statement, and each wins its own token', async () => {
      alone = [];
      const chains = Array.from({ length: 30 }, () => token());
      for (const t of chains.slice(0, 20)) await s.startSession(t, { userAgent: 'ua', address: '10.0.0.1' });
      // The last ten were minted elsewhere: the batch records them before consuming them.
      const nexts = chains.map(successorOf);
      const results = await Promise.all(
        chains.map((old, i) =>
          batcher.rotate({ old, next: nexts[i]!, at: T + 5, successor: { jti: nexts[i]!.jti, sealed: `sealed-${i}` } }),
        ),
      );
      assert.deepEqual(
        results,
        chains.map(() => true),
      );
      assert.equal(alone.length, 0, 'nothing ran one by one');
      for (const [i, old] of chains.entries()) {
        assert.equal((await s.getTokenState(old.jti))?.blacklisted, 'rotated');
        assert.deepEqual(await s.getTokenState(nexts[i]!.jti), { familyId: old.familyId, familyIssuedAt: T, userId: 7, blacklisted: null });
        assert.deepEqual(await s.getSuccessor(old.jti), { jti: nexts[i]!.jti, sealed: `sealed-${i}`, rotatedAt: T + 5 });
      }
      const sessions = await s.db.selectFrom('sessions').select(['family_id', 'last_used_at', 'user_agent']).execute();
      assert.equal(sessions.length, 30, 'a session per family, opened for the ten minted elsewhere');
      assert.ok(sessions.every((r) => Number(r.last_used_at) === T + 5));
      assert.equal(sessions.filter((r) => r.user_agent === 'ua').length, 20, "a login's session keeps its client details");
    });

    it('of one token rotated many times in one batch, only the first wins and only its successor is recorded', async () => {
      alone = [];
      const old = token();
      await s.recordOutstanding(old);
      const nexts = Array.from({ length: 10 }, () => successorOf(old));
      const results = await Promise.all(
        nexts.map((next, i) => batcher.rotate({ old, next, at: T + 9, successor: { jti: next.jti, sealed: `s-${i}` } })),
      );
      assert.deepEqual(results, [true, ...Array.from({ length: 9 }, () => false)]);
      assert.equal(alone.length, 0);
      const recorded = await Promise.all(nexts.map((n) => s.getTokenState(n.jti)));
      assert.deepEqual(
        recorded.map((r) => r !== undefined),
        results,
      );
      assert.deepEqual(await s.getSuccessor(old.jti), { jti: nexts[0]!.jti, sealed: 's-0', rotatedAt: T + 9 });
    });

    it('a batch that fails runs again one by one: only the bad rotation fails', async () => {
      alone = [];
      const olds = Array.from({ length: 5 }, () => token());
      for (const t of olds) await s.recordOutstanding(t);
      // A jti longer than the column takes fails the statement it is in.
      const nexts = olds.map((t, i) => (i === 2 ? { ...successorOf(t), jti: 'x'.repeat(300) } : successorOf(t)));
      const results = await Promise.allSettled(olds.map((old, i) => batcher.rotate({ old, next: nexts[i]!, at: T + 11 })));
      assert.deepEqual(
        results.map((r) => r.status),
        ['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled'],
      );
      assert.equal(alone.length, 5, 'the whole batch ran again one by one');
      assert.equal((await s.getTokenState(olds[2]!.jti))?.blacklisted, null, 'the failed rotation left its token as it was');
      for (const i of [0, 1, 3, 4]) assert.equal((await s.getTokenState(olds[i]!.jti))?.blacklisted, 'rotated');
    });

    it('token states asked for together each get their own answer (one query for the turn)', async () => {
      const live = Array.from({ length: 6 }, (_, i) => token({ userId: i % 2 ? null : 3 }));
      for (const t of live) await s.recordOutstanding(t);
      await s.blacklist(live[1]!, 'logout', T + 1);
      await s.blacklist(live[4]!, 'rotated', T + 1);
      const unknown = token();
      const asked = [live[0]!, unknown, ...live.slice(1), live[0]!];
      const states = await Promise.all(asked.map((t) => s.getTokenState(t.jti)));
      assert.deepEqual(
        states,
        asked.map((t) =>
          t === unknown
            ? undefined
            : {
                familyId: t.familyId,
                familyIssuedAt: T,
                userId: t.userId,
                blacklisted: t === live[1] ? 'logout' : t === live[4] ? 'rotated' : null,
              },
        ),
      );
    });
  },
);
