// DRF's HTTP-level errors (SPEC §3) on the default presets (simplejwt,api-auth),
// and the startup errors of a bad LATCHKEY_PRESETS.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { createLatchkey } from '../../src/latchkey.js';
import { selectPresets } from '../../src/presets/index.js';
import { startServer, tempDir, TEST_KEY, type TestServer } from '../helpers.js';
import { body, expectExact, expectPair, FORM, form, JSON_CT } from './expect.js';

const REQUIRED = ['This field is required.'];

describe('HTTP errors (default presets)', () => {
  let s: TestServer;
  let aliceId: number;
  before(async () => {
    s = await startServer();
    ({ id: aliceId } = await s.user({ username: 'alice', password: 'alice-pw-123' }));
  });
  after(() => s.close());

  it('serves both default presets', async () => {
    expectPair(await s.post('/api/token/', { username: 'alice', password: 'alice-pw-123' }), aliceId);
    expectPair(await s.post('/api/auth/login/', { username: 'alice', password: 'alice-pw-123' }), aliceId);
  });

  describe('malformed and unexpected bodies', () => {
    it('answers malformed JSON with 400 {"detail": "JSON parse error - ..."}', async () => {
      for (const raw of ['{"username": "alice", ', '{username: alice}', "{'username': 'alice'}", '{"a":1}}']) {
        const res = await s.post('/api/token/', raw, JSON_CT);
        assert.equal(res.statusCode, 400, `${raw} -> ${res.body}`);
        const b = body(res);
        assert.deepEqual(Object.keys(b), ['detail']);
        assert.match(b.detail as string, /^JSON parse error - /);
      }
    });

    it('accepts application/json with a charset parameter', async () => {
      const res = await s.post('/api/token/', JSON.stringify({ username: 'alice', password: 'alice-pw-123' }), {
        'content-type': 'application/json; charset=utf-8',
      });
      expectPair(res, aliceId);
    });

    it('answers text/plain with 415 and DRF wording', async () => {
      const res = await s.post('/api/token/', 'username=alice&password=alice-pw-123', { 'content-type': 'text/plain' });
      expectExact(res, 415, { detail: 'Unsupported media type "text/plain" in request.' });
    });

    it('names the media type it refused', async () => {
      const res = await s.post('/api/token/', '<a/>', { 'content-type': 'application/xml' });
      expectExact(res, 415, { detail: 'Unsupported media type "application/xml" in request.' });
    });

    it('answers a JSON array body with 400 and DRF non_field_errors', async () => {
      expectExact(await s.post('/api/token/', '[]', JSON_CT), 400, {
        non_field_errors: ['Invalid data. Expected a dictionary, but got list.'],
      });
      expectExact(await s.post('/api/token/', '["alice", "alice-pw-123"]', JSON_CT), 400, {
        non_field_errors: ['Invalid data. Expected a dictionary, but got list.'],
      });
    });

    it('answers other non-object JSON bodies with 400', async () => {
      for (const raw of ['"alice"', '42', 'true']) {
        const res = await s.post('/api/token/', raw, JSON_CT);
        assert.equal(res.statusCode, 400, `${raw} -> ${res.body}`);
        assert.ok(Array.isArray(body(res).non_field_errors), res.body);
      }
      assert.equal((await s.post('/api/token/', 'null', JSON_CT)).statusCode, 400);
    });

    it('answers an empty JSON body with field-required errors', async () => {
      expectExact(await s.post('/api/token/', '', JSON_CT), 400, { username: REQUIRED, password: REQUIRED });
      expectExact(await s.post('/api/token/', '   ', JSON_CT), 400, { username: REQUIRED, password: REQUIRED });
      expectExact(await s.post('/api/token/', '{}', JSON_CT), 400, { username: REQUIRED, password: REQUIRED });
    });

    it('answers no body and no content type with field-required errors', async () => {
      expectExact(await s.post('/api/token/'), 400, { username: REQUIRED, password: REQUIRED });
      expectExact(await s.post('/api/token/refresh/'), 400, { refresh: REQUIRED });
    });

    it('answers an empty form body with field-required errors', async () => {
      expectExact(await s.post('/api/token/', '', FORM), 400, { username: REQUIRED, password: REQUIRED });
    });

    it('answers a body nested 100 levels deep with 400', async () => {
      const deep = `{"username": ${'['.repeat(100)}${']'.repeat(100)}, "password": "x"}`;
      const res = await s.post('/api/token/', deep, JSON_CT);
      assert.equal(res.statusCode, 400, res.body);
      assert.equal(typeof body(res).detail, 'string');
      const deepObject = `${'{"a":'.repeat(100)}1${'}'.repeat(100)}`;
      assert.equal((await s.post('/api/token/', deepObject, JSON_CT)).statusCode, 400);
    });
  });

  describe('__proto__ and constructor keys', () => {
    it('never lets __proto__ supply a missing field', async () => {
      const raw = '{"__proto__": {"username": "alice", "password": "alice-pw-123"}}';
      expectExact(await s.post('/api/token/', raw, JSON_CT), 400, { username: REQUIRED, password: REQUIRED });
    });

    it('answers credentials next to a __proto__ key normally (401 or 200, never 500)', async () => {
      const wrong = '{"username": "alice", "password": "wrong", "__proto__": {"is_staff": true}}';
      expectExact(await s.post('/api/token/', wrong, JSON_CT), 401, {
        detail: 'No active account found with the given credentials',
      });
      const right = '{"username": "alice", "password": "alice-pw-123", "constructor": {"prototype": {"is_staff": true}}}';
      assert.ok([200, 400].includes((await s.post('/api/token/', right, JSON_CT)).statusCode));
    });

    it('does not let __proto__ in a registration make a staff user or pollute prototypes', async () => {
      const raw = JSON.stringify({ username: 'protouser', password: 'proto-pw-73519' }).replace(
        /}$/,
        ', "__proto__": {"is_staff": true, "is_superuser": true}, "constructor": {"prototype": {"is_staff": true}}}',
      );
      const res = await s.post('/api/auth/register/', raw, JSON_CT);
      assert.ok([201, 400].includes(res.statusCode), res.body);
      const stored = await s.storage.getUserByUsername('protouser');
      if (stored) {
        assert.equal(stored.is_staff, false);
        assert.equal(stored.is_superuser, false);
      }
      assert.equal(({} as Record<string, unknown>).is_staff, undefined);
      assert.equal(({} as Record<string, unknown>).is_superuser, undefined);
    });

    it('handles __proto__ in a form body without a 500', async () => {
      const res = await s.post('/api/token/', '__proto__=x&username=alice&password=wrong', FORM);
      assert.ok([400, 401].includes(res.statusCode), res.body);
      const res2 = await s.post('/api/token/', '__proto__[username]=alice&__proto__[password]=alice-pw-123', FORM);
      assert.equal(res2.statusCode, 400, res2.body);
    });
  });

  describe('methods and paths', () => {
    it('answers GET on a POST route with 405, DRF wording and an Allow header', async () => {
      for (const url of ['/api/token/', '/api/token/refresh/', '/api/token/verify/', '/api/token/blacklist/']) {
        const res = await s.get(url);
        expectExact(res, 405, { detail: 'Method "GET" not allowed.' });
        assert.match(String(res.headers.allow), /\bPOST\b/);
        assert.doesNotMatch(String(res.headers.allow), /\bGET\b/);
      }
    });

    it('names the method it refused', async () => {
      for (const method of ['PUT', 'PATCH', 'DELETE'] as const) {
        const res = await s.request({ method, url: '/api/token/', payload: {} });
        expectExact(res, 405, { detail: `Method "${method}" not allowed.` });
        assert.match(String(res.headers.allow), /\bPOST\b/);
      }
    });

    it('answers an unknown path with 404 {"detail": "Not found."}', async () => {
      expectExact(await s.get('/no/such/path/'), 404, { detail: 'Not found.' });
      expectExact(await s.post('/api/nope/', { a: 1 }), 404, { detail: 'Not found.' });
      // Presets that are not mounted are not found either.
      expectExact(await s.post('/auth/token', { username: 'alice', password: 'alice-pw-123' }), 404, { detail: 'Not found.' });
      expectExact(await s.post('/api/login/', { username: 'alice', password: 'alice-pw-123' }), 404, { detail: 'Not found.' });
    });
  });
});

describe('HTTP errors: body limit', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_BODY_LIMIT: '2048' } });
  });
  after(() => s.close());

  it('answers a JSON body over LATCHKEY_BODY_LIMIT with 413 and a detail', async () => {
    const res = await s.post('/api/token/', JSON.stringify({ username: 'alice', password: 'x'.repeat(4096) }), JSON_CT);
    assert.equal(res.statusCode, 413, res.body);
    const b = body(res);
    assert.deepEqual(Object.keys(b), ['detail']);
    assert.equal(typeof b.detail, 'string');
    assert.ok((b.detail as string).length > 0);
  });

  it('answers a form body over the limit with 413', async () => {
    const res = await s.post('/api/token/', form({ username: 'alice', password: 'x'.repeat(4096) }), FORM);
    assert.equal(res.statusCode, 413, res.body);
    assert.equal(typeof body(res).detail, 'string');
  });

  it('still answers a body under the limit', async () => {
    const res = await s.post(
      '/api/token/',
      JSON.stringify({ username: 'alice', password: 'x'.repeat(900), pad: 'y'.repeat(900) }),
      JSON_CT,
    );
    expectExact(res, 401, { detail: 'No active account found with the given credentials' });
  });

  it('answers an over-limit body on an error-envelope route in {"error": ...}', async () => {
    const res = await s.post('/api/auth/login/', JSON.stringify({ username: 'alice', password: 'x'.repeat(4096) }), JSON_CT);
    assert.equal(res.statusCode, 413, res.body);
    assert.deepEqual(Object.keys(body(res)), ['error']);
  });
});

describe('LATCHKEY_PRESETS at startup', () => {
  const env = (presets: string) => ({
    LATCHKEY_DATA_DIR: tempDir(),
    LATCHKEY_SIGNING_KEY: TEST_KEY,
    LATCHKEY_LOG_LEVEL: 'silent',
    LATCHKEY_PRESETS: presets,
  });
  const collision = (a: string, b: string, route: string) => (err: unknown) => {
    assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
    assert.ok(err.message.includes(a), err.message);
    assert.ok(err.message.includes(b), err.message);
    assert.ok(err.message.includes(route), err.message);
    return true;
  };

  it('refuses simplejwt,phone: both serve POST /api/token/refresh/', async () => {
    assert.throws(() => selectPresets(['simplejwt', 'phone']), collision('simplejwt', 'phone', 'POST /api/token/refresh/'));
    await assert.rejects(
      createLatchkey(loadConfig(env('simplejwt,phone')), { logger: false }),
      collision('simplejwt', 'phone', 'POST /api/token/refresh/'),
    );
  });

  it('refuses simplejwt,users: both serve POST /api/token/', async () => {
    assert.throws(() => selectPresets(['simplejwt', 'users']), collision('simplejwt', 'users', '/api/token/'));
  });

  it('refuses users,phone: both serve POST /api/token/refresh/', async () => {
    assert.throws(() => selectPresets(['users', 'phone']), collision('users', 'phone', 'POST /api/token/refresh/'));
  });

  it('accepts presets that share no route', () => {
    assert.deepEqual(
      selectPresets(['simplejwt', 'api-auth', 'auth-root']).map((p) => p.id),
      ['simplejwt', 'api-auth', 'auth-root'],
    );
    assert.deepEqual(
      selectPresets(['phone', 'api-auth', 'auth-root']).map((p) => p.id),
      ['phone', 'api-auth', 'auth-root'],
    );
    assert.deepEqual(
      selectPresets(['users', 'api-auth', 'auth-root']).map((p) => p.id),
      ['users', 'api-auth', 'auth-root'],
    );
  });

  it('refuses an unknown preset, listing the known ones', async () => {
    const unknown = (err: unknown) => {
      assert.ok(err instanceof ConfigError, `not a ConfigError: ${String(err)}`);
      assert.ok(err.message.includes('nosuch'), err.message);
      for (const name of ['simplejwt', 'api-auth', 'auth-root', 'users', 'phone']) {
        assert.ok(err.message.includes(name), `${name} missing from: ${err.message}`);
      }
      return true;
    };
    assert.throws(() => selectPresets(['simplejwt', 'nosuch']), unknown);
    await assert.rejects(createLatchkey(loadConfig(env('nosuch')), { logger: false }), unknown);
  });
});
