// The life of a token after it is issued: blacklisting, rotation and reuse,
// users deactivated or deleted, password changes, expiry and the flush. Runs
// once per database dialect (SQLite always, PostgreSQL when TEST_POSTGRES_URL
// is set), on a frozen clock that the tests move forward by hand.
import assert from 'node:assert/strict';
import { describe, it, type TestContext } from 'node:test';
import { claimsOf, DIALECTS, startServer, type TestServer } from './helpers.js';

/** The frozen clock's start, in seconds since the epoch. */
const T0 = 1_800_000_000;
const PASSWORD = 'pw-alice-123';
const NEW_PASSWORD = 'N3w-passw0rd-xyz';

const BLACKLISTED = { detail: 'Token is blacklisted', code: 'token_not_valid' };
const INVALID = { detail: 'Token is invalid or expired', code: 'token_not_valid' };
const USER_NOT_FOUND = { detail: 'User not found', code: 'user_not_found' };
const USER_INACTIVE = { detail: 'User is inactive', code: 'user_inactive' };
const NO_ACCOUNT = { detail: 'No active account found with the given credentials' };
const PROTECTED = { message: 'You have accessed a protected route!' };

interface Pair {
  access: string;
  refresh: string;
}

interface Harness {
  s: TestServer;
  clock: { t: number };
  userId: number;
  login(this: void, password?: string): Promise<Pair>;
}

const jtiOf = (token: string) => String(claimsOf(token).jti);
const expOf = (token: string) => Number(claimsOf(token).exp);

for (const dialect of DIALECTS) {
  describe(`lifecycle (${dialect})`, () => {
    /** A fresh server on a frozen clock, with one user "alice". Closed when the test ends. */
    async function setup(t: TestContext, env: Record<string, string> = {}): Promise<Harness> {
      const clock = { t: T0 };
      const s = await startServer({ dialect, env, now: () => clock.t });
      t.after(() => s.close()); // close() also drops the test's PostgreSQL database
      const { id: userId } = await s.user({ username: 'alice', password: PASSWORD });
      return {
        s,
        clock,
        userId,
        async login(password = PASSWORD) {
          const res = await s.post('/api/token/', { username: 'alice', password });
          assert.equal(res.statusCode, 200, res.body);
          return res.json() as Pair;
        },
      };
    }

    const refresh = (s: TestServer, token: string) => s.post('/api/token/refresh/', { refresh: token });
    const verify = (s: TestServer, token: string) => s.post('/api/token/verify/', { token });

    describe('blacklisting', () => {
      it('via /api/token/blacklist/: the token is then refused by refresh and verify', async (t) => {
        const { s, login } = await setup(t);
        const pair = await login();
        assert.equal((await verify(s, pair.refresh)).statusCode, 200, 'control: valid before');

        const bl = await s.post('/api/token/blacklist/', { refresh: pair.refresh });
        assert.equal(bl.statusCode, 200, bl.body);
        assert.deepEqual(bl.json(), {});

        const r = await refresh(s, pair.refresh);
        assert.equal(r.statusCode, 401);
        assert.deepEqual(r.json(), BLACKLISTED);
        const v = await verify(s, pair.refresh);
        assert.equal(v.statusCode, 401);
        assert.deepEqual(v.json(), BLACKLISTED);
        const again = await s.post('/api/token/blacklist/', { refresh: pair.refresh });
        assert.equal(again.statusCode, 401);
        assert.deepEqual(again.json(), BLACKLISTED);
      });

      it('via /api/auth/logout/: the token is then refused by refresh and verify', async (t) => {
        const { s, login } = await setup(t);
        const pair = await login();

        const out = await s.post('/api/auth/logout/', { refresh_token: pair.refresh });
        assert.equal(out.statusCode, 200, out.body);
        assert.deepEqual(out.json(), { detail: 'Successfully logged out.' });

        const r = await refresh(s, pair.refresh);
        assert.equal(r.statusCode, 401);
        assert.deepEqual(r.json(), BLACKLISTED);
        const r2 = await s.post('/api/auth/refresh/', { refresh: pair.refresh });
        assert.equal(r2.statusCode, 401, r2.body);
        const v = await verify(s, pair.refresh);
        assert.equal(v.statusCode, 401);
        assert.deepEqual(v.json(), BLACKLISTED);

        const again = await s.post('/api/auth/logout/', { refresh_token: pair.refresh });
        assert.equal(again.statusCode, 400);
        assert.deepEqual(again.json(), { error: 'Invalid or expired refresh token.' });
      });

      it('blacklisting one login leaves another login of the same user working', async (t) => {
        const { s, login } = await setup(t);
        const a = await login();
        const b = await login();
        assert.equal((await s.post('/api/token/blacklist/', { refresh: a.refresh })).statusCode, 200);
        assert.equal((await refresh(s, b.refresh)).statusCode, 200);
      });
    });

    describe('rotation (LATCHKEY_ROTATE_REFRESH_TOKENS=on)', () => {
      const ROTATE = { LATCHKEY_ROTATE_REFRESH_TOKENS: 'on', LATCHKEY_ROTATION_REUSE_INTERVAL: '0' }; // reuse revokes at once: no retry grace

      it('rotates: a new refresh token, and the old one blacklisted', async (t) => {
        const { s, login } = await setup(t, ROTATE);
        const pair = await login();
        const res = await refresh(s, pair.refresh);
        assert.equal(res.statusCode, 200, res.body);
        const next = res.json() as Pair;
        assert.equal(typeof next.refresh, 'string');
        assert.notEqual(jtiOf(next.refresh), jtiOf(pair.refresh));
        assert.equal((await s.storage.getTokenState(jtiOf(pair.refresh)))?.blacklisted, 'rotated');
        assert.equal((await s.get('/api/protected-endpoint/', next.access)).statusCode, 200);
      });

      it('20 concurrent refreshes of one token: exactly one succeeds', async (t) => {
        const { s, login } = await setup(t, ROTATE);
        const pair = await login();
        const results = await Promise.all(Array.from({ length: 20 }, () => refresh(s, pair.refresh)));
        const statuses = results.map((r) => r.statusCode);
        assert.equal(statuses.filter((c) => c === 200).length, 1, `statuses: ${statuses.join(',')}`);
        for (const r of results) {
          if (r.statusCode === 200) {
            assert.deepEqual(Object.keys(r.json() as object).sort(), ['access', 'refresh']);
          } else {
            assert.equal(r.statusCode, 401, r.body);
            assert.equal((r.json() as { code: string }).code, 'token_not_valid');
          }
        }
      });

      it('reusing a rotated-out token is refused and revokes the token the rotation produced', async (t) => {
        const { s, login } = await setup(t, ROTATE);
        const pair = await login();
        const other = await login(); // a second login: another family
        const first = await refresh(s, pair.refresh);
        assert.equal(first.statusCode, 200, first.body);
        const next = (first.json() as Pair).refresh;

        const reuse = await refresh(s, pair.refresh);
        assert.equal(reuse.statusCode, 401);
        assert.deepEqual(reuse.json(), BLACKLISTED);

        const successor = await refresh(s, next);
        assert.equal(successor.statusCode, 401, 'the family is revoked');
        assert.deepEqual(successor.json(), BLACKLISTED);
        const v = await verify(s, next);
        assert.equal(v.statusCode, 401);
        assert.deepEqual(v.json(), BLACKLISTED);

        assert.equal((await refresh(s, other.refresh)).statusCode, 200, 'the other login is untouched');
      });

      it('reuse deep in a chain revokes every descendant', async (t) => {
        const { s, clock, login } = await setup(t, ROTATE);
        const chain = [(await login()).refresh];
        for (let i = 0; i < 3; i++) {
          clock.t += 10;
          const res = await refresh(s, chain.at(-1)!);
          assert.equal(res.statusCode, 200, res.body);
          chain.push((res.json() as Pair).refresh);
        }
        assert.equal((await refresh(s, chain[1]!)).statusCode, 401);
        assert.equal((await refresh(s, chain.at(-1)!)).statusCode, 401);
      });

      it("a rotated token's exp never exceeds the family's start + LATCHKEY_REFRESH_FAMILY_LIFETIME", async (t) => {
        const { s, clock, login } = await setup(t, { ...ROTATE, LATCHKEY_REFRESH_FAMILY_LIFETIME: '1000' });
        const end = T0 + 1000;
        let token = (await login()).refresh;
        for (const at of [T0 + 100, T0 + 500, T0 + 900, T0 + 999]) {
          clock.t = at;
          const res = await refresh(s, token);
          assert.equal(res.statusCode, 200, `at +${at - T0}: ${res.body}`);
          token = (res.json() as Pair).refresh;
          assert.ok(expOf(token) <= end, `at +${at - T0}: exp ${expOf(token) - T0} > family end 1000`);
          assert.equal(Number(claimsOf(token).iat), at);
        }
        clock.t = end;
        const over = await refresh(s, token);
        assert.equal(over.statusCode, 401, 'the family has ended');
        assert.deepEqual(over.json(), INVALID);
      });

      it("no refresh is granted once the family's lifetime is over, even with an unexpired login token", async (t) => {
        const { s, clock, login } = await setup(t, { ...ROTATE, LATCHKEY_REFRESH_FAMILY_LIFETIME: '1000' });
        const pair = await login(); // exp T0 + 86400, family ends at T0 + 1000
        clock.t = T0 + 1500;
        const res = await refresh(s, pair.refresh);
        if (res.statusCode === 200) {
          const next = (res.json() as Pair).refresh;
          assert.fail(`refresh at +1500 was granted past the family end (+1000); the new refresh token's exp is +${expOf(next) - T0}`);
        }
        assert.equal(res.statusCode, 401, res.body);
      });
    });

    describe('users that change', () => {
      it('a deactivated user: refresh and the protected route answer 401 user_inactive', async (t) => {
        const { s, clock, userId, login } = await setup(t);
        const pair = await login();
        clock.t += 1;
        await s.service.setActive(userId, false);

        const me = await s.get('/api/protected-endpoint/', pair.access);
        assert.equal(me.statusCode, 401);
        assert.deepEqual(me.json(), USER_INACTIVE);
        assert.equal(me.headers['www-authenticate'], 'Bearer realm="api"');

        const r = await refresh(s, pair.refresh);
        assert.equal(r.statusCode, 401);
        assert.deepEqual(r.json(), USER_INACTIVE);

        const l = await s.post('/api/token/', { username: 'alice', password: PASSWORD });
        assert.equal(l.statusCode, 401);
        assert.deepEqual(l.json(), NO_ACCOUNT);
      });

      it('a deactivated user: refresh is refused even within the same second', async (t) => {
        const { s, userId, login } = await setup(t);
        const pair = await login();
        await s.service.setActive(userId, false);
        const r = await refresh(s, pair.refresh);
        assert.equal(r.statusCode, 401);
        assert.deepEqual(r.json(), USER_INACTIVE);
        const me = await s.get('/api/protected-endpoint/', pair.access);
        assert.equal(me.statusCode, 401);
        assert.deepEqual(me.json(), USER_INACTIVE);
      });

      it('a deleted user: 401 user_not_found, and their blacklist records survive the deletion', async (t) => {
        const { s, userId, login } = await setup(t);
        const loggedOut = await login();
        const live = await login();
        assert.equal((await s.post('/api/token/blacklist/', { refresh: loggedOut.refresh })).statusCode, 200);

        assert.equal(await s.storage.deleteUser(userId), true);

        const r = await refresh(s, live.refresh);
        assert.equal(r.statusCode, 401);
        assert.deepEqual(r.json(), USER_NOT_FOUND);
        const me = await s.get('/api/protected-endpoint/', live.access);
        assert.equal(me.statusCode, 401);
        assert.deepEqual(me.json(), USER_NOT_FOUND);
        const v = await verify(s, live.access);
        assert.equal(v.statusCode, 401);
        assert.deepEqual(v.json(), USER_NOT_FOUND);

        const state = await s.storage.getTokenState(jtiOf(loggedOut.refresh));
        assert.ok(state, 'the blacklisted token is still recorded');
        assert.equal(state.blacklisted, 'logout');
        // The user is checked before the blacklist, so the answer names the
        // deleted user (as for an inactive one); either way the token is refused.
        const again = await refresh(s, loggedOut.refresh);
        assert.equal(again.statusCode, 401);
        assert.deepEqual(again.json(), USER_NOT_FOUND);
      });

      it("a user created after a deletion does not inherit the deleted user's id or tokens", async (t) => {
        const { s, userId, login } = await setup(t);
        const pair = await login();
        assert.equal(await s.storage.deleteUser(userId), true);
        const { id } = await s.user({ username: 'mallory', password: 'pw-mallory-123' });
        assert.notEqual(id, userId);
        const me = await s.get('/api/protected-endpoint/', pair.access);
        assert.equal(me.statusCode, 401);
        assert.deepEqual(me.json(), USER_NOT_FOUND);
      });

      it('setPassword revokes the tokens issued before it; the new password works', async (t) => {
        const { s, clock, userId, login } = await setup(t);
        const before = await login();
        clock.t += 1;
        const user = await s.storage.getUserById(userId);
        assert.ok(user);
        await s.service.setPassword(user, NEW_PASSWORD);

        const r = await refresh(s, before.refresh);
        assert.equal(r.statusCode, 401);
        assert.equal((r.json() as { code: string }).code, 'token_not_valid');
        const v = await verify(s, before.refresh);
        assert.equal(v.statusCode, 401);
        const me = await s.get('/api/protected-endpoint/', before.access);
        assert.equal(me.statusCode, 401, 'an access token from before the change is refused too');

        const old = await s.post('/api/token/', { username: 'alice', password: PASSWORD });
        assert.equal(old.statusCode, 401);
        assert.deepEqual(old.json(), NO_ACCOUNT);

        const after = await login(NEW_PASSWORD);
        assert.equal((await refresh(s, after.refresh)).statusCode, 200);
        assert.equal((await s.get('/api/protected-endpoint/', after.access)).statusCode, 200);
      });

      it('setPassword in the same second as the login still revokes its refresh token', async (t) => {
        const { s, userId, login } = await setup(t);
        const before = await login();
        await s.service.setPassword((await s.storage.getUserById(userId))!, NEW_PASSWORD);
        const r = await refresh(s, before.refresh);
        assert.equal(r.statusCode, 401);
        assert.equal((r.json() as { code: string }).code, 'token_not_valid');
        const after = await login(NEW_PASSWORD);
        assert.equal((await refresh(s, after.refresh)).statusCode, 200);
      });
    });

    describe('expiry', () => {
      it('an access token works until 300 s, then is refused', async (t) => {
        const { s, clock, login } = await setup(t);
        const pair = await login();
        assert.equal(expOf(pair.access), T0 + 300);

        clock.t = T0 + 299;
        const ok = await s.get('/api/protected-endpoint/', pair.access);
        assert.equal(ok.statusCode, 200);
        assert.deepEqual(ok.json(), PROTECTED);

        for (const at of [T0 + 300, T0 + 301, T0 + 3600]) {
          clock.t = at;
          const me = await s.get('/api/protected-endpoint/', pair.access);
          assert.equal(me.statusCode, 401, `at +${at - T0}`);
          assert.deepEqual(me.json(), {
            detail: 'Given token not valid for any token type',
            code: 'token_not_valid',
            messages: [{ token_class: 'AccessToken', token_type: 'access', message: 'Token is invalid or expired' }],
          });
          const v = await verify(s, pair.access);
          assert.equal(v.statusCode, 401);
          assert.deepEqual(v.json(), INVALID);
        }
      });

      it('a refresh token works until its lifetime, then is refused', async (t) => {
        const { s, clock, login } = await setup(t);
        const pair = await login();
        assert.equal(expOf(pair.refresh), T0 + 86400);
        clock.t = T0 + 86399;
        assert.equal((await refresh(s, pair.refresh)).statusCode, 200);
        clock.t = T0 + 86400;
        const r = await refresh(s, pair.refresh);
        assert.equal(r.statusCode, 401);
        assert.deepEqual(r.json(), INVALID);
        const v = await verify(s, pair.refresh);
        assert.equal(v.statusCode, 401);
        assert.deepEqual(v.json(), INVALID);
      });

      it('a token issued in the future (clock moved back) is refused', async (t) => {
        const { s, clock, login } = await setup(t);
        const pair = await login();
        clock.t = T0 - 60;
        const me = await s.get('/api/protected-endpoint/', pair.access);
        assert.equal(me.statusCode, 401);
        assert.equal((me.json() as { code: string }).code, 'token_not_valid');
      });
    });

    describe('flushExpired', () => {
      it('deletes the rows whose exp has passed and keeps the others', async (t) => {
        const { s, clock, login } = await setup(t, { LATCHKEY_REFRESH_TOKEN_LIFETIME: '1000' });
        const old = await login(); // exp T0 + 1000
        const oldOut = await login();
        assert.equal((await s.post('/api/token/blacklist/', { refresh: oldOut.refresh })).statusCode, 200);
        clock.t = T0 + 600;
        const young = await login(); // exp T0 + 1600
        const youngOut = await login();
        assert.equal((await s.post('/api/token/blacklist/', { refresh: youngOut.refresh })).statusCode, 200);

        for (const p of [old, oldOut, young, youngOut]) {
          assert.ok(await s.storage.getTokenState(jtiOf(p.refresh)), 'recorded before the flush');
        }

        clock.t = T0 + 1200;
        assert.equal(await s.service.flushExpired(), 2);

        assert.equal(await s.storage.getTokenState(jtiOf(old.refresh)), undefined);
        assert.equal(await s.storage.getTokenState(jtiOf(oldOut.refresh)), undefined);
        const y = await s.storage.getTokenState(jtiOf(young.refresh));
        assert.ok(y);
        assert.equal(y.blacklisted, null);
        const yo = await s.storage.getTokenState(jtiOf(youngOut.refresh));
        assert.ok(yo);
        assert.equal(yo.blacklisted, 'logout');

        // What the flush keeps still behaves as before; what it removed stays refused.
        assert.equal((await refresh(s, young.refresh)).statusCode, 200);
        const blacklisted = await refresh(s, youngOut.refresh);
        assert.equal(blacklisted.statusCode, 401);
        assert.deepEqual(blacklisted.json(), BLACKLISTED);
        for (const p of [old, oldOut]) {
          const r = await refresh(s, p.refresh);
          assert.equal(r.statusCode, 401);
          assert.deepEqual(r.json(), INVALID);
        }

        assert.equal(await s.service.flushExpired(), 0, 'a second flush finds nothing');
      });
    });
  });
}
