// Brute force: login failures limited per account and per client address;
// refresh, verify and register limited per address; DRF's 429 with
// Retry-After; limits configurable; LATCHKEY_LOGIN_THROTTLE=off turns them off.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { LightMyRequestResponse } from 'fastify';
import { loadConfig } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';
import { startServer, type TestServer } from '../helpers.js';
import { assertThrottled } from './support.js';

const LOGIN = '/api/token/';
const PASSWORD = 'correct-horse-battery-1';

/** A login from one client address (inject's simulated socket address). */
const login = (s: TestServer, username: string, password: string, address: string): Promise<LightMyRequestResponse> =>
  s.request({ method: 'POST', url: LOGIN, payload: { username, password }, remoteAddress: address });

const postFrom = (s: TestServer, url: string, payload: unknown, address: string) =>
  s.request({ method: 'POST', url, payload: payload as Record<string, unknown>, remoteAddress: address });

const on = (limits: Record<string, string>) => ({ LATCHKEY_LOGIN_THROTTLE: 'on', ...limits });

describe('brute force: per-account login limit', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: on({ LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '3/60', LATCHKEY_THROTTLE_LOGIN_ADDRESS: '1000/60' }),
    });
    await s.user({ username: 'alice', password: PASSWORD });
    await s.user({ username: 'bob', password: PASSWORD });
    await s.user({ username: 'carol', password: PASSWORD });
  });
  after(() => s.close());

  it('password guessing against one account from many addresses is cut off with 429, even for the right password', async () => {
    for (let i = 1; i <= 3; i++) {
      const r = await login(s, 'alice', `wrong-guess-${i}`, `198.51.100.${i}`);
      assert.equal(r.statusCode, 401, `guess ${i}: ${r.body}`);
    }
    const blocked = await login(s, 'alice', PASSWORD, '198.51.100.99');
    const wait = assertThrottled(blocked, 'fourth attempt on alice');
    assert.ok(wait <= 60, `Retry-After ${wait} exceeds the 60 s window`);
    // Another account is untouched by alice's lockout.
    const bob = await login(s, 'bob', PASSWORD, '198.51.100.99');
    assert.equal(bob.statusCode, 200, bob.body);
  });

  it('spelling variants of a username (case, NFKC width) share one failure count', async () => {
    for (const variant of ['carol', 'CAROL', 'ｃａｒｏｌ']) {
      const r = await login(s, variant, 'not-the-password', '192.0.2.10');
      assert.equal(r.statusCode, 401, `${variant}: ${r.body}`);
    }
    assertThrottled(await login(s, 'Carol', PASSWORD, '192.0.2.11'), 'carol after three variant failures');
    assertThrottled(await login(s, 'carol', PASSWORD, '192.0.2.12'), 'carol after three variant failures');
  });
});

describe('brute force: per-address login limit', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: on({ LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '100/60', LATCHKEY_THROTTLE_LOGIN_ADDRESS: '3/60' }),
    });
    await s.user({ username: 'alice', password: PASSWORD });
    await s.user({ username: 'mallory', password: PASSWORD });
  });
  after(() => s.close());

  it('credential stuffing across many accounts from one address is cut off with 429', async () => {
    for (const u of ['stuffed1', 'stuffed2', 'stuffed3']) {
      const r = await login(s, u, 'password-from-a-dump', '203.0.113.5');
      assert.equal(r.statusCode, 401, r.body);
    }
    const wait = assertThrottled(await login(s, 'alice', PASSWORD, '203.0.113.5'), 'fourth login from the address');
    assert.ok(wait <= 60, `Retry-After ${wait} exceeds the 60 s window`);
    // A different address is not affected.
    const other = await login(s, 'alice', PASSWORD, '203.0.113.6');
    assert.equal(other.statusCode, 200, other.body);
  });

  it('interleaving successful logins to an own account does not reset the address count', async () => {
    const addr = '203.0.113.20';
    for (const victim of ['victim1', 'victim2', 'victim3']) {
      assert.equal((await login(s, victim, 'guess', addr)).statusCode, 401);
      const own = await login(s, 'mallory', PASSWORD, addr);
      if (victim !== 'victim3') assert.equal(own.statusCode, 200, own.body);
      else assertThrottled(own, 'own login after the third failure');
    }
    assertThrottled(await login(s, 'victim4', 'guess', addr), 'fourth victim');
  });
});

describe('brute force: a blocked login costs no password hash', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: on({ LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '2/60', LATCHKEY_THROTTLE_LOGIN_ADDRESS: '1000/60' }),
    });
    await s.user({ username: 'alice', password: PASSWORD });
  });
  after(() => s.close());

  it('requests refused by the limiter never reach argon2 (no CPU amplification)', async () => {
    for (let i = 0; i < 2; i++) assert.equal((await login(s, 'alice', `guess-${i}`, '198.51.100.1')).statusCode, 401);
    const h = s.service.hasher;
    let hashes = 0;
    const [verify, verifyDummy, hash] = [h.verify.bind(h), h.verifyDummy.bind(h), h.hash.bind(h)];
    h.verify = (...a) => (hashes++, verify(...a));
    h.verifyDummy = (...a) => (hashes++, verifyDummy(...a));
    h.hash = (...a) => (hashes++, hash(...a));
    try {
      for (let i = 0; i < 20; i++) {
        assertThrottled(await login(s, 'alice', i % 2 ? PASSWORD : `guess-${i}`, `198.51.100.${10 + i}`), `blocked attempt ${i}`);
      }
    } finally {
      h.verify = verify;
      h.verifyDummy = verifyDummy;
      h.hash = hash;
    }
    assert.equal(hashes, 0, `the limiter let ${hashes} blocked attempts reach the hasher`);
  });
});

describe('brute force: refresh, verify and register are limited per address', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: on({
        LATCHKEY_PRESETS: 'simplejwt,auth-root',
        LATCHKEY_THROTTLE_REFRESH: '3/60',
        LATCHKEY_THROTTLE_VERIFY: '3/60',
        LATCHKEY_THROTTLE_REGISTER: '3/3600',
      }),
    });
    await s.user({ username: 'alice', password: PASSWORD, id: 1 });
  });
  after(() => s.close());

  it('refresh flooding from one address is cut off with 429', async () => {
    const { refresh } = await s.service.issuePair(1);
    for (let i = 0; i < 3; i++) {
      const r = await postFrom(s, '/api/token/refresh/', { refresh }, '198.51.100.40');
      assert.equal(r.statusCode, 200, r.body);
    }
    const wait = assertThrottled(await postFrom(s, '/api/token/refresh/', { refresh }, '198.51.100.40'), 'fourth refresh');
    assert.ok(wait <= 60);
    // Garbage tokens count too: the limiter runs before any token check.
    assertThrottled(await postFrom(s, '/api/token/refresh/', { refresh: 'garbage' }, '198.51.100.40'), 'garbage refresh');
    const other = await postFrom(s, '/api/token/refresh/', { refresh }, '198.51.100.41');
    assert.equal(other.statusCode, 200, other.body);
  });

  it('verify flooding (token probing) from one address is cut off with 429', async () => {
    const { access } = await s.service.issuePair(1);
    for (let i = 0; i < 3; i++) {
      const r = await postFrom(s, '/api/token/verify/', { token: i === 1 ? 'probe.probe.probe' : access }, '198.51.100.50');
      assert.ok([200, 401].includes(r.statusCode), r.body);
    }
    const wait = assertThrottled(await postFrom(s, '/api/token/verify/', { token: access }, '198.51.100.50'), 'fourth verify');
    assert.ok(wait <= 60);
    const other = await postFrom(s, '/api/token/verify/', { token: access }, '198.51.100.51');
    assert.equal(other.statusCode, 200, other.body);
  });

  it('mass registration (and username probing) from one address is cut off with 429', async () => {
    const attempts = [
      { username: 'bot1', password: 'a-fine-passphrase-1' },
      { username: 'alice', password: 'a-fine-passphrase-2' }, // taken: probing for accounts counts too
      { username: 'bot3', password: 'short' }, // invalid: still counts
    ];
    for (const a of attempts) {
      const r = await postFrom(s, '/auth/register', a, '198.51.100.60');
      assert.notEqual(r.statusCode, 429, `attempt ${a.username} throttled too early: ${r.body}`);
    }
    const wait = assertThrottled(
      await postFrom(s, '/auth/register', { username: 'bot4', password: 'a-fine-passphrase-4' }, '198.51.100.60'),
      'fourth registration',
    );
    assert.ok(wait <= 3600);
    const other = await postFrom(s, '/auth/register', { username: 'human', password: 'a-fine-passphrase-5' }, '198.51.100.61');
    assert.equal(other.statusCode, 201, other.body);
  });
});

describe('brute force: limits are configurable', () => {
  it('the default account limit (10 failures) applies when none is configured', async () => {
    const s = await startServer({ env: on({}) });
    try {
      await s.user({ username: 'alice', password: PASSWORD });
      for (let i = 0; i < 10; i++) {
        const r = await login(s, 'alice', `guess-${i}`, `10.20.0.${i + 1}`);
        assert.equal(r.statusCode, 401, `failure ${i + 1}: ${r.body}`);
      }
      const wait = assertThrottled(await login(s, 'alice', PASSWORD, '10.20.0.99'), 'eleventh attempt');
      assert.ok(wait <= 300, `Retry-After ${wait} exceeds the default 300 s window`);
    } finally {
      await s.close();
    }
  });

  it('a malformed limit is refused at startup rather than silently ignored', () => {
    for (const bad of ['ten', '10', '10/0', '0/60', '-1/60', '10/300/5']) {
      assert.throws(
        () => loadConfig({ LATCHKEY_THROTTLE_LOGIN_ACCOUNT: bad, LATCHKEY_SIGNING_KEY: 'x'.repeat(32) }),
        (err: unknown) => err instanceof ConfigError && /LATCHKEY_THROTTLE_LOGIN_ACCOUNT/.test(err.message),
        `limit ${JSON.stringify(bad)} was accepted`,
      );
    }
  });
});

describe('brute force: LATCHKEY_LOGIN_THROTTLE=off', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({
      env: {
        LATCHKEY_LOGIN_THROTTLE: 'off',
        LATCHKEY_PRESETS: 'simplejwt,auth-root',
        LATCHKEY_THROTTLE_LOGIN_ACCOUNT: '1/60',
        LATCHKEY_THROTTLE_LOGIN_ADDRESS: '1/60',
        LATCHKEY_THROTTLE_REFRESH: '1/60',
        LATCHKEY_THROTTLE_VERIFY: '1/60',
        LATCHKEY_THROTTLE_REGISTER: '1/3600',
      },
    });
    await s.user({ username: 'alice', password: PASSWORD, id: 1 });
  });
  after(() => s.close());

  it('turns every limit off, however small the configured limits', async () => {
    const addr = '198.51.100.77';
    for (let i = 0; i < 6; i++) assert.equal((await login(s, 'alice', `guess-${i}`, addr)).statusCode, 401);
    assert.equal((await login(s, 'alice', PASSWORD, addr)).statusCode, 200);
    const { refresh, access } = await s.service.issuePair(1);
    for (let i = 0; i < 4; i++) {
      assert.equal((await postFrom(s, '/api/token/refresh/', { refresh }, addr)).statusCode, 200);
      assert.equal((await postFrom(s, '/api/token/verify/', { token: access }, addr)).statusCode, 200);
    }
    for (let i = 0; i < 3; i++) {
      const r = await postFrom(s, '/auth/register', { username: `newbie${i}`, password: 'a-fine-passphrase-0' }, addr);
      assert.equal(r.statusCode, 201, r.body);
    }
  });
});
