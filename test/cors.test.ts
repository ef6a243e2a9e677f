// CORS (LATCHKEY_CORS_ORIGINS): off by default; a listed origin's preflight is
// answered by CORS, cached, and its requests may read the answer; an unlisted
// origin gets no Access-Control-Allow-Origin; a plain OPTIONS keeps DRF's answer.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { startServer, type TestServer } from './helpers.js';

const APP = 'https://app.example.com';
const OTHER = 'https://evil.example.net';
const USER = { username: 'cors-user', password: 'pw-cors-123' };
const DRF_OPTIONS = { renders: ['application/json'], parses: ['application/json', 'application/x-www-form-urlencoded'] };

const corsHeaders = (headers: Record<string, unknown>) => Object.keys(headers).filter((h) => h.startsWith('access-control-'));

const preflight = (s: TestServer, url: string, origin: string, headers = 'content-type') =>
  s.request({
    method: 'OPTIONS',
    url,
    headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': headers },
  });

describe('CORS off (the default)', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
    await s.user(USER);
  });
  after(() => s.close());

  it('sends no Access-Control-* header, even to a preflight', async () => {
    const pre = await preflight(s, '/api/token/', APP);
    assert.deepEqual(corsHeaders(pre.headers), []);
    assert.equal(pre.statusCode, 200);
    assert.deepEqual(pre.json(), DRF_OPTIONS);
    const login = await s.post('/api/token/', USER, { origin: APP });
    assert.equal(login.statusCode, 200);
    assert.deepEqual(corsHeaders(login.headers), []);
  });
});

describe('CORS on for a list of origins', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_CORS_ORIGINS: `${APP}, http://localhost:5173` } });
    await s.user(USER);
  });
  after(() => s.close());

  it('answers a listed origin’s preflight: 204, the origin, credentials, headers, cached for 600 s', async () => {
    const res = await preflight(s, '/api/token/refresh/', APP, 'content-type,authorization');
    assert.equal(res.statusCode, 204);
    assert.equal(res.headers['access-control-allow-origin'], APP);
    assert.equal(res.headers['access-control-allow-credentials'], 'true');
    assert.equal(res.headers['access-control-max-age'], '600');
    const allowHeaders = String(res.headers['access-control-allow-headers']).toLowerCase().split(/,\s*/);
    for (const h of ['authorization', 'content-type']) assert.ok(allowHeaders.includes(h), `${h} in ${allowHeaders.join(',')}`);
    const methods = String(res.headers['access-control-allow-methods']).split(/,\s*/);
    for (const m of ['GET', 'POST', 'PATCH', 'DELETE']) assert.ok(methods.includes(m), `${m} in ${methods.join(',')}`);
    assert.match(String(res.headers.vary), /Origin/);
    assert.equal(res.body, '');
    // The second listed origin too, on a protected path.
    const other = await preflight(s, '/api/account/me/', 'http://localhost:5173', 'authorization');
    assert.equal(other.statusCode, 204);
    assert.equal(other.headers['access-control-allow-origin'], 'http://localhost:5173');
  });

  it('gives an unlisted origin’s preflight no Access-Control-Allow-Origin (DRF’s OPTIONS answer instead)', async () => {
    for (const origin of [OTHER, 'https://app.example.com.evil.net', 'null', `${APP}:8443`]) {
      const res = await preflight(s, '/api/token/', origin);
      assert.equal(res.headers['access-control-allow-origin'], undefined, origin);
      assert.equal(res.headers['access-control-allow-credentials'], undefined, origin);
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), DRF_OPTIONS);
    }
  });

  it('keeps DRF’s answer to a plain OPTIONS (no Origin, or no Access-Control-Request-Method)', async () => {
    for (const headers of [{}, { origin: APP }]) {
      const res = await s.request({ method: 'OPTIONS', url: '/api/token/', headers });
      assert.equal(res.statusCode, 200);
      assert.deepEqual(res.json(), DRF_OPTIONS);
      assert.match(String(res.headers.allow), /POST/);
    }
  });

  it('lets a listed origin read answers and the headers a client needs; an unlisted one gets no ACAO', async () => {
    const ok = await s.post('/api/token/', USER, { origin: APP });
    assert.equal(ok.statusCode, 200);
    assert.equal(ok.headers['access-control-allow-origin'], APP);
    assert.equal(ok.headers['access-control-allow-credentials'], 'true');
    const exposed = String(ok.headers['access-control-expose-headers']).toLowerCase().split(/,\s*/);
    assert.ok(exposed.includes('retry-after') && exposed.includes('www-authenticate'), exposed.join(','));
    // Errors carry them too: a page must read a 401's body and WWW-Authenticate.
    const refused = await s.get('/api/protected-endpoint/', 'not-a-token');
    assert.equal(refused.statusCode, 401);
    const refusedFromApp = await s.request({
      method: 'GET',
      url: '/api/protected-endpoint/',
      headers: { origin: APP, authorization: 'Bearer x' },
    });
    assert.equal(refusedFromApp.statusCode, 401);
    assert.equal(refusedFromApp.headers['access-control-allow-origin'], APP);

    const bad = await s.post('/api/token/', USER, { origin: OTHER });
    // The server still answers (CORS is the browser's rule), but gives the page no right to read it.
    assert.equal(bad.statusCode, 200);
    assert.equal(bad.headers['access-control-allow-origin'], undefined);
  });

  it('answers a listed origin’s preflight on a path latchkey does not serve (and 404s the request itself)', async () => {
    const res = await preflight(s, '/nowhere/', APP);
    assert.equal(res.statusCode, 204);
    const plain = await s.request({ method: 'OPTIONS', url: '/nowhere/' });
    assert.equal(plain.statusCode, 404);
  });
});

describe('CORS settings', () => {
  it('`*` without the refresh cookie: any origin, no credentials; the max age is configurable', async () => {
    const s = await startServer({ env: { LATCHKEY_CORS_ORIGINS: '*', LATCHKEY_CORS_MAX_AGE: '60' } });
    try {
      const res = await preflight(s, '/api/token/', OTHER);
      assert.equal(res.statusCode, 204);
      assert.equal(res.headers['access-control-allow-origin'], '*');
      assert.equal(res.headers['access-control-allow-credentials'], undefined);
      assert.equal(res.headers['access-control-max-age'], '60');
    } finally {
      await s.close();
    }
  });

  it('refuses `*` together with the refresh cookie, and anything that is not an exact origin', () => {
    assert.throws(
      () => loadConfig({ LATCHKEY_CORS_ORIGINS: '*', LATCHKEY_REFRESH_COOKIE: 'on' }),
      (e: unknown) =>
        e instanceof ConfigError && /LATCHKEY_CORS_ORIGINS: `\*` cannot be combined with LATCHKEY_REFRESH_COOKIE/.test(e.message),
    );
    for (const bad of ['https://app.example.com/', 'app.example.com', 'https://app.example.com/path', 'ftp://x.example']) {
      assert.throws(
        () => loadConfig({ LATCHKEY_CORS_ORIGINS: bad }),
        (e: unknown) => e instanceof ConfigError && e.message.startsWith('LATCHKEY_CORS_ORIGINS: must be exact origins'),
        bad,
      );
    }
    assert.throws(() => loadConfig({ LATCHKEY_CORS_MAX_AGE: '-1' }), ConfigError);
    assert.deepEqual(loadConfig({ LATCHKEY_CORS_ORIGINS: ' https://a.example , http://localhost:3000 ' }).corsOrigins, [
      'https://a.example',
      'http://localhost:3000',
    ]);
  });
});
