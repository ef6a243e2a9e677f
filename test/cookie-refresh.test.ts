// The refresh token in an HttpOnly cookie (LATCHKEY_REFRESH_COOKIE): set by
// login, register and a rotating refresh, read by refresh and logout when the
// body has none, cleared by logout, and only from a trusted origin (CSRF).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { claimsOf, startServer, type TestServer } from './helpers.js';

const APP = 'http://app.example.com:3000';
const OWN = 'http://localhost'; // inject() addresses Host: localhost:80
const USER = { username: 'cookie-user', password: 'pw-cookie-123' };
const NAME = 'latchkey-refresh';

interface Cookie {
  name: string;
  value: string;
  path?: string;
  maxAge?: number;
  expires?: Date;
  httpOnly?: boolean;
  secure?: boolean;
  sameSite?: string;
  domain?: string;
}
type Res = Awaited<ReturnType<TestServer['post']>>;
const cookiesOf = (res: Res) => (res.cookies as Cookie[]).filter((c) => c.name === NAME);
const only = (res: Res): Cookie => {
  const list = cookiesOf(res);
  assert.equal(list.length, 1, `one ${NAME} cookie in ${JSON.stringify(res.headers['set-cookie'])}`);
  return list[0]!;
};
const withCookie = (token: string, origin: string | null = OWN, extra: Record<string, string> = {}) => ({
  cookie: `other=1; ${NAME}=${token}`,
  ...(origin ? { origin } : {}),
  ...extra,
});

describe('refresh cookie on (simplejwt, api-auth, auth-root)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: { LATCHKEY_REFRESH_COOKIE: 'on', LATCHKEY_CORS_ORIGINS: APP, LATCHKEY_PRESETS: 'simplejwt,api-auth,auth-root,account' },
    });
    await s.user(USER);
  });
  after(() => s.close());

  const login = async (url = '/api/token/') => {
    const res = await s.post(url, USER);
    assert.equal(res.statusCode, 200, res.body);
    return { res, cookie: only(res) };
  };

  it('login sets an HttpOnly, Secure, SameSite=Lax cookie on the refresh and logout paths, for the token’s life, and leaves refresh out of the body', async () => {
    const { res, cookie } = await login();
    const body = res.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['access']);
    assert.equal(claimsOf(cookie.value).token_type, 'refresh');
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.secure, true);
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.path, '/api/token/'); // covers /api/token/refresh/ and /api/token/blacklist/
    assert.equal(cookie.domain, undefined);
    const exp = claimsOf(cookie.value).exp as number;
    const left = exp - Math.floor(Date.now() / 1000);
    assert.ok(cookie.maxAge! <= left && cookie.maxAge! >= left - 5 && left > 86000, `Max-Age ${cookie.maxAge} vs ${left}`);
    // api-auth's refresh and logout lie under /api/auth/.
    assert.equal((await login('/api/auth/login/')).cookie.path, '/api/auth/');
  });

  it('refresh reads the cookie when the body has none, from the server’s own origin or a listed one', async () => {
    const { cookie } = await login();
    for (const headers of [
      withCookie(cookie.value, OWN),
      withCookie(cookie.value, APP),
      withCookie(cookie.value, null, { referer: `${APP}/page?x=1` }),
    ]) {
      const res = await s.request({ method: 'POST', url: '/api/token/refresh/', payload: {}, headers });
      assert.equal(res.statusCode, 200, res.body);
      assert.equal(claimsOf((res.json() as { access: string }).access).token_type, 'access');
      assert.equal(cookiesOf(res).length, 0, 'no rotation, no new cookie');
    }
    // No body at all (no Content-Type) works too.
    const bare = await s.request({ method: 'POST', url: '/api/token/refresh/', headers: withCookie(cookie.value) });
    assert.equal(bare.statusCode, 200, bare.body);
  });

  it('refuses a cookie-authenticated request from another origin with Django’s CSRF answer', async () => {
    const { cookie } = await login();
    const cases: [Record<string, string>, string][] = [
      [
        withCookie(cookie.value, 'http://evil.example'),
        'CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins.',
      ],
      [withCookie(cookie.value, 'null'), 'CSRF Failed: Origin checking failed - null does not match any trusted origins.'],
      [
        withCookie(cookie.value, 'http://localhost:8080'),
        'CSRF Failed: Origin checking failed - http://localhost:8080 does not match any trusted origins.',
      ],
      [withCookie(cookie.value, null), 'CSRF Failed: Referer checking failed - no Referer.'],
      [
        withCookie(cookie.value, null, { referer: 'http://evil.example/x' }),
        'CSRF Failed: Referer checking failed - http://evil.example/x does not match any trusted origins.',
      ],
      [withCookie(cookie.value, null, { referer: 'not a url' }), 'CSRF Failed: Referer checking failed - Referer is malformed.'],
    ];
    for (const [headers, detail] of cases) {
      for (const url of ['/api/token/refresh/', '/api/token/blacklist/']) {
        const res = await s.request({ method: 'POST', url, payload: {}, headers });
        assert.equal(res.statusCode, 403, `${url} ${JSON.stringify(headers)}`);
        assert.deepEqual(res.json(), { detail });
        assert.equal(cookiesOf(res).length, 0);
      }
    }
    // In api-auth's envelope on its routes.
    const a = only(await s.post('/api/auth/login/', USER));
    const res = await s.request({
      method: 'POST',
      url: '/api/auth/refresh/',
      payload: {},
      headers: withCookie(a.value, 'http://evil.example'),
    });
    assert.equal(res.statusCode, 403);
    assert.deepEqual(res.json(), {
      error: 'CSRF Failed: Origin checking failed - http://evil.example does not match any trusted origins.',
    });
    // The token refused above still works from a trusted origin: nothing was blacklisted.
    const still = await s.request({ method: 'POST', url: '/api/token/refresh/', payload: {}, headers: withCookie(cookie.value) });
    assert.equal(still.statusCode, 200);
  });

  it('needs no CSRF check when the token is in the body, and answers 400 when neither body nor cookie has one', async () => {
    const { cookie } = await login();
    const res = await s.post('/api/token/refresh/', { refresh: cookie.value }, { origin: 'http://evil.example' });
    assert.equal(res.statusCode, 200, res.body);
    const none = await s.post('/api/token/refresh/', {}, { origin: OWN });
    assert.equal(none.statusCode, 400);
    assert.deepEqual(none.json(), { refresh: ['This field is required.'] });
    // A body token wins over the cookie.
    const both = await s.request({
      method: 'POST',
      url: '/api/token/refresh/',
      payload: { refresh: 'garbage' },
      headers: withCookie(cookie.value),
    });
    assert.equal(both.statusCode, 401);
  });

  it('logout blacklists the cookie’s token and clears the cookie', async () => {
    const { cookie } = await login();
    const res = await s.request({ method: 'POST', url: '/api/token/blacklist/', payload: {}, headers: withCookie(cookie.value, APP) });
    assert.equal(res.statusCode, 200, res.body);
    const cleared = only(res);
    assert.equal(cleared.value, '');
    assert.equal(cleared.path, '/api/token/');
    assert.ok(cleared.maxAge === 0 || (cleared.expires !== undefined && cleared.expires.getTime() <= Date.now()), JSON.stringify(cleared));
    const after = await s.request({ method: 'POST', url: '/api/token/refresh/', payload: {}, headers: withCookie(cookie.value) });
    assert.equal(after.statusCode, 401);
    // api-auth's logout reads its own field name from the cookie too.
    const a = only(await s.post('/api/auth/login/', USER));
    const out = await s.request({ method: 'POST', url: '/api/auth/logout/', payload: {}, headers: withCookie(a.value, APP) });
    assert.equal(out.statusCode, 200, out.body);
    assert.deepEqual(out.json(), { detail: 'Successfully logged out.' });
    assert.equal(only(out).path, '/api/auth/');
  });

  it('a rotating refresh sets the new token in the cookie, not the body', async () => {
    const { cookie } = await login('/auth/token');
    assert.equal(cookie.path, '/auth/token/refresh'); // auth-root has no logout route
    const res = await s.request({ method: 'POST', url: '/auth/token/refresh', payload: {}, headers: withCookie(cookie.value) });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(Object.keys(res.json() as object), ['access']);
    const next = only(res);
    assert.notEqual(next.value, cookie.value);
    assert.equal(claimsOf(next.value).token_type, 'refresh');
    assert.equal(next.httpOnly, true);
    const again = await s.request({ method: 'POST', url: '/auth/token/refresh', payload: {}, headers: withCookie(next.value) });
    assert.equal(again.statusCode, 200, again.body);
  });

  it('register sets the cookie where it answers tokens (auth-root’s pair, api-auth’s content.tokens)', async () => {
    const pair = await s.post('/auth/register', { username: 'reg-pair', password: 'pw-register-123' });
    assert.equal(pair.statusCode, 201, pair.body);
    assert.deepEqual(Object.keys(pair.json() as object), ['access']);
    assert.equal(only(pair).path, '/auth/token/refresh');
    const content = await s.post('/api/auth/register/', { username: 'reg-content', password: 'pw-register-123', email: 'r@example.com' });
    assert.equal(content.statusCode, 201, content.body);
    const tokens = (content.json() as { content: { tokens: Record<string, unknown>; username: string } }).content;
    assert.equal(tokens.username, 'reg-content');
    assert.deepEqual(Object.keys(tokens.tokens), ['access']);
    assert.equal(only(content).path, '/api/auth/');
  });

  it('leaves routes without a refresh token alone', async () => {
    const { res } = await login();
    const access = (res.json() as { access: string }).access;
    const me = await s.get('/api/account/me/', access);
    assert.equal(me.statusCode, 200);
    assert.equal(me.headers['set-cookie'], undefined);
    const verify = await s.post('/api/token/verify/', { token: access });
    assert.equal(verify.statusCode, 200);
    assert.equal(verify.headers['set-cookie'], undefined);
  });
});

describe('refresh cookie settings', () => {
  it('is off by default: the pair in the body, no cookie', async () => {
    const s = await startServer();
    try {
      await s.user(USER);
      const res = await s.post('/api/token/', USER);
      assert.deepEqual(Object.keys(res.json() as object).sort(), ['access', 'refresh']);
      assert.equal(res.headers['set-cookie'], undefined);
    } finally {
      await s.close();
    }
  });

  it('takes a name, SameSite, Secure and Domain, and a list of presets', async () => {
    const s = await startServer({
      env: {
        LATCHKEY_PRESETS: 'simplejwt,api-auth',
        LATCHKEY_REFRESH_COOKIE: 'api-auth',
        LATCHKEY_REFRESH_COOKIE_NAME: 'rt',
        LATCHKEY_REFRESH_COOKIE_SAMESITE: 'strict',
        LATCHKEY_REFRESH_COOKIE_SECURE: 'off',
        LATCHKEY_REFRESH_COOKIE_DOMAIN: 'example.com',
      },
    });
    try {
      await s.user(USER);
      const plain = await s.post('/api/token/', USER);
      assert.deepEqual(Object.keys(plain.json() as object).sort(), ['access', 'refresh']);
      assert.equal(plain.headers['set-cookie'], undefined);
      const res = await s.post('/api/auth/login/', USER);
      const c = (res.cookies as Cookie[]).find((x) => x.name === 'rt');
      assert.ok(c, JSON.stringify(res.headers['set-cookie']));
      assert.equal(c.sameSite, 'Strict');
      assert.equal(c.secure, undefined);
      assert.equal(c.domain, 'example.com');
      assert.equal(c.httpOnly, true);
      const r = await s.request({
        method: 'POST',
        url: '/api/auth/refresh/',
        payload: {},
        headers: { cookie: `rt=${c.value}`, origin: OWN },
      });
      assert.equal(r.statusCode, 200, r.body);
    } finally {
      await s.close();
    }
  });

  it('refuses contradictory or impossible settings with a one-line reason', async () => {
    assert.throws(
      () => loadConfig({ LATCHKEY_REFRESH_COOKIE_SAMESITE: 'None', LATCHKEY_REFRESH_COOKIE_SECURE: 'off' }),
      (e: unknown) => e instanceof ConfigError && e.message.startsWith('LATCHKEY_REFRESH_COOKIE_SAMESITE: None requires a Secure cookie'),
    );
    assert.throws(
      () => loadConfig({ LATCHKEY_REFRESH_COOKIE_SAMESITE: 'sometimes' }),
      /LATCHKEY_REFRESH_COOKIE_SAMESITE: must be Strict, Lax or None/,
    );
    assert.throws(() => loadConfig({ LATCHKEY_REFRESH_COOKIE_NAME: 'a b' }), /LATCHKEY_REFRESH_COOKIE_NAME: must be a cookie name/);
    await assert.rejects(
      startServer({ env: { LATCHKEY_PRESETS: 'simplejwt', LATCHKEY_REFRESH_COOKIE: 'phone' } }),
      /LATCHKEY_REFRESH_COOKIE: names preset "phone", which LATCHKEY_PRESETS does not mount/,
    );
    await assert.rejects(
      startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,account', LATCHKEY_REFRESH_COOKIE: 'account' } }),
      /LATCHKEY_REFRESH_COOKIE: preset "account" has no refresh route/,
    );
  });
});
