// The rotation retry grace (issue 14, item 5; Supabase Auth's
// REFRESH_TOKEN_REUSE_INTERVAL): a rotated refresh token presented again
// within LATCHKEY_ROTATION_REUSE_INTERVAL gets the pair its rotation answered,
// the very same tokens, and only a reuse after the window revokes the family.
// Each token has exactly one successor, however many refreshes race for it,
// on one instance or on two sharing the database.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { createLatchkey, type Latchkey } from '../src/latchkey.js';
import { openStorage } from '../src/storage/open.js';
import type { KyselyStorage } from '../src/storage/base.js';
import { STORAGE_VARIANTS, claimsOf, startServer, type TestServer } from './helpers.js';

const PASSWORD = 'correct-horse-battery-1';
const T0 = 1_800_000_000;
const INTERVAL = 10;

interface Pair {
  access: string;
  refresh: string;
}

type Post = (url: string, body: unknown) => Promise<LightMyRequestResponse>;

const refreshOn = (post: Post, token: string) => post('/api/token/refresh/', { refresh: token });

function pairOf(r: LightMyRequestResponse, label: string): Pair {
  assert.equal(r.statusCode, 200, `${label}: ${r.statusCode} ${r.body}`);
  const pair = r.json() as Pair;
  assert.ok(pair.access && pair.refresh, `${label}: a pair`);
  return pair;
}

function expectBlacklisted(r: LightMyRequestResponse, label: string): void {
  assert.equal(r.statusCode, 401, `${label}: ${r.statusCode} ${r.body}`);
  assert.deepEqual(r.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' }, label);
}

/** How many refresh tokens the family of `refresh` holds (the login's and one per rotation). */
async function familySize(storage: KyselyStorage, refresh: string): Promise<number> {
  const state = await storage.getTokenState(String(claimsOf(refresh).jti));
  assert.ok(state, 'the token is recorded');
  const rows = await storage.db.selectFrom('outstanding_tokens').select('jti').where('family_id', '=', state.familyId).execute();
  return rows.length;
}

for (const variant of STORAGE_VARIANTS) {
  describe(`rotation retry grace (${variant.name}, LATCHKEY_ROTATION_REUSE_INTERVAL=${INTERVAL})`, () => {
    let s: TestServer;
    let other: Latchkey | undefined;
    let now = T0;
    const post: Post = (url, body) => s.post(url, body);
    before(async () => {
      s = await startServer({
        dialect: variant.dialect,
        storage: variant.opts,
        now: () => now,
        env: { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on', LATCHKEY_ROTATION_REUSE_INTERVAL: String(INTERVAL) },
      });
      await s.user({ username: 'alice', password: PASSWORD });
    });
    after(async () => {
      await other?.close();
      await s.close();
    });

    const signIn = async () => pairOf(await post('/api/token/', { username: 'alice', password: PASSWORD }), 'login');

    it('a retry within the window gets the same pair back, and the pair works', async () => {
      now = T0;
      const login = await signIn();
      const first = pairOf(await refreshOn(post, login.refresh), 'rotation');
      now += INTERVAL - 1;
      const retry = pairOf(await refreshOn(post, login.refresh), 'retry of the rotated token');
      assert.deepEqual(retry, first, 'the same access and refresh tokens, not new ones');
      assert.equal((await s.get('/api/protected-endpoint/', retry.access)).statusCode, 200);
      const next = pairOf(await refreshOn(post, retry.refresh), 'the successor rotates in turn');
      assert.notEqual(next.refresh, first.refresh);
      assert.equal(await familySize(s.storage as KyselyStorage, login.refresh), 3, 'one successor per rotation, none for the retry');
    });

    it('a reuse after the window revokes the family, the successor with it', async () => {
      now = T0 + 1000;
      const login = await signIn();
      const first = pairOf(await refreshOn(post, login.refresh), 'rotation');
      now += INTERVAL;
      expectBlacklisted(await refreshOn(post, login.refresh), 'reuse after the window');
      expectBlacklisted(await refreshOn(post, first.refresh), 'the successor, once the family is revoked');
    });

    it('a successor that was logged out is not handed out again: the retry revokes the family', async () => {
      now = T0 + 2000;
      const login = await signIn();
      const first = pairOf(await refreshOn(post, login.refresh), 'rotation');
      const second = pairOf(await refreshOn(post, first.refresh), 'the successor rotates');
      assert.equal((await post('/api/token/blacklist/', { refresh: second.refresh })).statusCode, 200, 'logout');
      expectBlacklisted(await refreshOn(post, login.refresh), 'retry of a token whose successor was rotated');
      expectBlacklisted(await refreshOn(post, first.refresh), 'retry of a token whose successor was logged out');
    });

    it('concurrent refreshes of one token: exactly one successor, and every caller gets it', async () => {
      now = T0 + 3000;
      const login = await signIn();
      const answers = await Promise.all(Array.from({ length: 8 }, () => refreshOn(post, login.refresh)));
      const pairs = answers.map((r, i) => pairOf(r, `concurrent refresh #${i}`));
      for (const p of pairs) assert.deepEqual(p, pairs[0], 'every caller has the same pair');
      assert.equal(await familySize(s.storage as KyselyStorage, login.refresh), 2, 'one successor');
      pairOf(await refreshOn(post, pairs[0]!.refresh), 'the successor works');
    });

    it('two instances on one database: refreshes racing on both get the one successor', async () => {
      now = T0 + 4000;
      other = await createLatchkey(s.config, {
        logger: false,
        now: () => now,
        storage: openStorage(s.config.databaseUrl, variant.opts),
      });
      const b = other;
      const postB: Post = (url, body) => b.app.inject({ method: 'POST', url, payload: body as Record<string, string> });
      const login = await signIn();
      const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => refreshOn(i % 2 ? postB : post, login.refresh)));
      const pairs = answers.map((r, i) => pairOf(r, `refresh #${i} on instance ${i % 2 ? 'B' : 'A'}`));
      for (const p of pairs) assert.deepEqual(p, pairs[0], 'every caller has the same pair');
      assert.equal(await familySize(s.storage as KyselyStorage, login.refresh), 2, 'one successor');
      now += INTERVAL - 1;
      assert.deepEqual(pairOf(await refreshOn(postB, login.refresh), 'a later retry on B'), pairs[0]);
    });
  });

  describe(`rotation retry grace off (${variant.name}, LATCHKEY_ROTATION_REUSE_INTERVAL=0)`, () => {
    let s: TestServer;
    const now = T0;
    before(async () => {
      s = await startServer({
        dialect: variant.dialect,
        storage: variant.opts,
        now: () => now,
        env: { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on', LATCHKEY_ROTATION_REUSE_INTERVAL: '0' },
      });
      await s.user({ username: 'bob', password: PASSWORD });
    });
    after(() => s.close());

    it('any reuse of a rotated token revokes its family at once, in the same second', async () => {
      const login = pairOf(await s.post('/api/token/', { username: 'bob', password: PASSWORD }), 'login');
      const first = pairOf(await s.post('/api/token/refresh/', { refresh: login.refresh }), 'rotation');
      expectBlacklisted(await s.post('/api/token/refresh/', { refresh: login.refresh }), 'immediate reuse');
      expectBlacklisted(await s.post('/api/token/refresh/', { refresh: first.refresh }), 'the successor');
    });
  });
}
