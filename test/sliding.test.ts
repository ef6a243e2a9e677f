// Sliding tokens, SimpleJWT's SlidingToken, TokenObtainSlidingView and
// TokenRefreshSlidingView, on the simplejwt-sliding preset: what the token
// carries, what a refresh changes (exp and iat only), refresh_exp, the
// blacklist, and the token as a Bearer token under LATCHKEY_AUTH_TOKEN_CLASSES.
// The server's clock is a variable the tests move.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { claimsOf, DIALECTS, startServer, type TestServer } from './helpers.js';

const PROTECTED = '/api/protected-endpoint/';
const LOGIN = '/api/token/sliding/';
const REFRESH = '/api/token/sliding/refresh/';
const BLACKLIST = '/api/token/sliding/blacklist/';
const tokenOf = (res: { json(): unknown }) => (res.json() as { token: string }).token;
const T0 = Math.floor(Date.now() / 1000);

const anyType = (messages: [string, string, string][]) => ({
  detail: 'Given token not valid for any token type',
  code: 'token_not_valid',
  messages: messages.map(([token_class, token_type, message]) => ({ token_class, token_type, message })),
});

for (const dialect of DIALECTS) {
  describe(`sliding tokens (${dialect})`, () => {
    let s: TestServer | undefined;
    let now = T0;
    let id: number;
    before(async () => {
      s = await startServer({
        dialect,
        now: () => now,
        env: {
          LATCHKEY_PRESETS: 'simplejwt,simplejwt-sliding,account',
          LATCHKEY_AUTH_TOKEN_CLASSES: 'access,sliding',
          LATCHKEY_SLIDING_TOKEN_LIFETIME: '300',
          LATCHKEY_SLIDING_TOKEN_REFRESH_LIFETIME: '1000',
          LATCHKEY_TOKEN_CLAIMS: 'email',
        },
      });
      ({ id } = await s.user({ username: 'ada', password: 'pw-ada-12345', email: 'ada@example.com' }));
    });
    after(() => s?.close());
    const login = async (at = T0) => {
      now = at;
      const res = await s!.post(LOGIN, { username: 'ada', password: 'pw-ada-12345' });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(res.json() as object), ['token']);
      return tokenOf(res);
    };

    it('a login answers {"token"}: token_type sliding, exp and refresh_exp from the two lifetimes, SimpleJWT’s order', async () => {
      const c = claimsOf(await login());
      assert.deepEqual(Object.keys(c), ['token_type', 'exp', 'iat', 'jti', 'refresh_exp', 'user_id', 'email']);
      assert.deepEqual(
        [c.token_type, c.exp, c.iat, c.refresh_exp, c.user_id, c.email],
        ['sliding', T0 + 300, T0, T0 + 1000, id, 'ada@example.com'],
      );
    });

    it('is a Bearer token on protected routes, and listed as a session', async () => {
      const token = await login();
      const me = await s!.get(PROTECTED, token);
      assert.equal(me.statusCode, 200, me.body);
      const sessions = await s!.get('/api/account/sessions/', token);
      assert.equal(sessions.statusCode, 200, sessions.body);
      assert.ok((sessions.json() as unknown[]).length >= 1);
    });

    it('a refresh changes exp and iat only: the same jti, refresh_exp and user; custom claims read again', async () => {
      const token = await login();
      await s!.storage.updateUser(id, { email: 'ada@lovelace.org' });
      now = T0 + 200;
      const res = await s!.post(REFRESH, { token });
      assert.equal(res.statusCode, 200, res.body);
      assert.deepEqual(Object.keys(res.json() as object), ['token']);
      const before = claimsOf(token);
      const after = claimsOf(tokenOf(res));
      assert.deepEqual(Object.keys(after), Object.keys(before));
      assert.deepEqual(
        [after.exp, after.iat, after.jti, after.refresh_exp, after.user_id, after.email],
        [T0 + 500, T0 + 200, before.jti, before.refresh_exp, id, 'ada@lovelace.org'],
      );
      // Past the first token's exp, the refreshed one still opens the route.
      now = T0 + 400;
      assert.equal((await s!.get(PROTECTED, tokenOf(res))).statusCode, 200);
      assert.equal((await s!.get(PROTECTED, token)).statusCode, 401);
      await s!.storage.updateUser(id, { email: 'ada@example.com' });
    });

    it('past exp it cannot be refreshed (SimpleJWT checks exp first); past refresh_exp: "Token \'refresh_exp\' claim has expired"', async () => {
      const token = await login();
      now = T0 + 301;
      const expired = await s!.post(REFRESH, { token });
      assert.equal(expired.statusCode, 401);
      assert.deepEqual(expired.json(), { detail: 'Token is invalid or expired', code: 'token_not_valid' });

      // Slide up to refresh_exp, then once more past it while exp still holds.
      now = T0 + 250;
      let t = tokenOf(await s!.post(REFRESH, { token }));
      now = T0 + 500;
      t = tokenOf(await s!.post(REFRESH, { token: t }));
      now = T0 + 790;
      t = tokenOf(await s!.post(REFRESH, { token: t }));
      assert.equal(claimsOf(t).exp, T0 + 1090);
      now = T0 + 1001;
      const late = await s!.post(REFRESH, { token: t });
      assert.equal(late.statusCode, 401);
      assert.deepEqual(late.json(), { detail: "Token 'refresh_exp' claim has expired", code: 'token_not_valid' });
      // It is still a valid Bearer token until its exp.
      assert.equal((await s!.get(PROTECTED, t)).statusCode, 200);
    });

    it('other token types are not sliding tokens, nor a sliding token a refresh token', async () => {
      now = T0;
      const pair = (await s!.post('/api/token/', { username: 'ada', password: 'pw-ada-12345' })).json() as {
        access: string;
        refresh: string;
      };
      for (const token of [pair.access, pair.refresh]) {
        const res = await s!.post(REFRESH, { token });
        assert.deepEqual(res.json(), { detail: 'Token has wrong type', code: 'token_not_valid' });
      }
      const sliding = await login();
      const asRefresh = await s!.post('/api/token/refresh/', { refresh: sliding });
      assert.deepEqual(asRefresh.json(), { detail: 'Token has wrong type', code: 'token_not_valid' });
      // SimpleJWT's blacklist view takes refresh tokens only.
      const bl = await s!.post('/api/token/blacklist/', { refresh: sliding });
      assert.equal(bl.statusCode, 401);
      assert.deepEqual(bl.json(), { detail: 'Token has wrong type', code: 'token_not_valid' });
      // A refresh token as a Bearer token: each accepted class gives its reason.
      const me = await s!.get(PROTECTED, pair.refresh);
      assert.deepEqual(
        me.json(),
        anyType([
          ['AccessToken', 'access', 'Token has wrong type'],
          ['SlidingToken', 'sliding', 'Token has wrong type'],
        ]),
      );
    });

    it('blacklisted, it opens nothing and does not refresh', async () => {
      const token = await login();
      const bl = await s!.post(BLACKLIST, { token });
      assert.equal(bl.statusCode, 200, bl.body);
      assert.deepEqual(bl.json(), {});
      const me = await s!.get(PROTECTED, token);
      assert.equal(me.statusCode, 401);
      assert.deepEqual(
        me.json(),
        anyType([
          ['AccessToken', 'access', 'Token has wrong type'],
          ['SlidingToken', 'sliding', 'Token is blacklisted'],
        ]),
      );
      const r = await s!.post(REFRESH, { token });
      assert.deepEqual(r.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' });
      const again = await s!.post(BLACKLIST, { token });
      assert.deepEqual(again.json(), { detail: 'Token is blacklisted', code: 'token_not_valid' });
    });

    it('a password change (logout everywhere) revokes it, refreshed or not', async () => {
      const token = await login();
      now = T0 + 10;
      const slid = tokenOf(await s!.post(REFRESH, { token }));
      const out = await s!.post('/api/account/logout-all/', undefined, { authorization: `Bearer ${slid}` });
      assert.ok(out.statusCode < 300, out.body);
      assert.equal((await s!.get(PROTECTED, slid)).statusCode, 401);
      assert.equal((await s!.post(REFRESH, { token: slid })).statusCode, 401);
      // (The clock does not go back to before the revocation.)
      assert.equal((await s!.get(PROTECTED, await login(T0 + 20))).statusCode, 200);
    });
  });
}

describe('sliding tokens without LATCHKEY_AUTH_TOKEN_CLASSES=sliding', () => {
  let s: TestServer | undefined;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,simplejwt-sliding' } });
    await s.user({ username: 'ada', password: 'pw-ada-12345' });
  });
  after(() => s?.close());

  it('are not Bearer tokens (SimpleJWT’s default AUTH_TOKEN_CLASSES is AccessToken alone), but refresh', async () => {
    const token = tokenOf(await s!.post(LOGIN, { username: 'ada', password: 'pw-ada-12345' }));
    const me = await s!.get(PROTECTED, token);
    assert.equal(me.statusCode, 401);
    assert.deepEqual(me.json(), anyType([['AccessToken', 'access', 'Token has wrong type']]));
    assert.equal((await s!.post(REFRESH, { token })).statusCode, 200);
    assert.equal((await s!.post('/api/token/verify/', { token })).statusCode, 200);
  });

  it('a wrong password is SimpleJWT’s 401', async () => {
    const res = await s!.post(LOGIN, { username: 'ada', password: 'nope' });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { detail: 'No active account found with the given credentials' });
  });

  it('a token without refresh_exp does not refresh: "Token has no \'refresh_exp\' claim"', async () => {
    const token = tokenOf(await s!.post(LOGIN, { username: 'ada', password: 'pw-ada-12345' }));
    const c = claimsOf(token);
    delete c.refresh_exp;
    const { createHmac } = await import('node:crypto');
    const enc = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const input = `${enc({ alg: 'HS256', typ: 'JWT' })}.${enc(c)}`;
    const forged = `${input}.${createHmac('sha256', s!.config.signingKey!).update(input).digest('base64url')}`;
    const res = await s!.post(REFRESH, { token: forged });
    assert.equal(res.statusCode, 401);
    assert.deepEqual(res.json(), { detail: "Token has no 'refresh_exp' claim", code: 'token_not_valid' });
  });
});
