// Weak and hostile passwords at registration (OWASP ASVS 6.2, Django's
// validators): minimum 8, long passphrases welcome, an upper bound near 1024
// refused before any hashing, no truncation, no composition rules, common,
// user-similar and all-digit passwords refused, in DRF's field-error shape.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ApiError } from '../../src/errors.js';
import { startServer, type TestServer } from '../helpers.js';

// auth-root's register answers DRF's own envelope: {"password": ["..."]}.
const REGISTER = '/auth/register';
const LOGIN = '/api/token/';
const TOO_SHORT = 'This password is too short. It must contain at least 8 characters.';
const TOO_LONG = 'Ensure this field has no more than 1024 characters.';
const COMMON = 'This password is too common.';
const NUMERIC = 'This password is entirely numeric.';

let n = 0;
const fresh = () => `member${++n}`;

/** A passphrase with no dictionary words and no digits-only run, `len` characters long. */
const passphrase = (len: number, seed = 'q') => {
  const alphabet = 'zqxjvkwyfpgbmhdclutsrnoiea';
  let out = '';
  for (let i = 0; out.length < len; i++) out += alphabet[(i * 7 + seed.charCodeAt(0)) % alphabet.length];
  return out.slice(0, len);
};

describe('password policy', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer({ env: { LATCHKEY_PRESETS: 'simplejwt,auth-root' } });
  });
  after(() => s.close());

  const register = (username: string, password: string) => s.post(REGISTER, { username, password });

  /** Counts hashes while fn runs. */
  async function hashesDuring(fn: () => Promise<void>): Promise<number> {
    const h = s.service.hasher;
    let count = 0;
    const [hash, verify, verifyDummy] = [h.hash.bind(h), h.verify.bind(h), h.verifyDummy.bind(h)];
    h.hash = (...a) => (count++, hash(...a));
    h.verify = (...a) => (count++, verify(...a));
    h.verifyDummy = (...a) => (count++, verifyDummy(...a));
    try {
      await fn();
    } finally {
      h.hash = hash;
      h.verify = verify;
      h.verifyDummy = verifyDummy;
    }
    return count;
  }

  it('a 7-character password is refused with a DRF field error', async () => {
    const r = await register(fresh(), 'Zq7#kLm');
    assert.equal(r.statusCode, 400, r.body);
    assert.deepEqual(r.json(), { password: [TOO_SHORT] });
  });

  it('an 8-character password is accepted', async () => {
    const r = await register(fresh(), 'Zq7#kLm!');
    assert.equal(r.statusCode, 201, r.body);
  });

  it('a 4-character astral-plane password (8 UTF-16 units) cannot pass the 8-character minimum', async () => {
    // Django counts characters (code points); four emoji are four characters.
    const r = await register(fresh(), '\u{1F511}\u{1F512}\u{1F5DD}\u{1F6AA}');
    assert.equal(r.statusCode, 400, r.body);
    assert.deepEqual(r.json(), { password: [TOO_SHORT] });
  });

  it('long passphrases (64, 200 and 1024 characters) are accepted and log in', async () => {
    for (const len of [64, 200, 1024]) {
      const username = fresh();
      const password = passphrase(len, String.fromCharCode(97 + (len % 26)));
      const r = await register(username, password);
      assert.equal(r.statusCode, 201, `${len} chars: ${r.body}`);
      const l = await s.post(LOGIN, { username, password });
      assert.equal(l.statusCode, 200, `${len} chars login: ${l.body}`);
    }
  });

  it('an over-long password (1025 characters, 60 000 characters) is refused quickly, before any hashing', async () => {
    for (const len of [1025, 60_000]) {
      let res: Awaited<ReturnType<typeof register>> | undefined;
      const hashes = await hashesDuring(async () => {
        res = await register(fresh(), passphrase(len));
      });
      assert.equal(res!.statusCode, 400, `${len} chars: ${res!.body}`);
      assert.deepEqual(res!.json(), { password: [TOO_LONG] });
      assert.equal(hashes, 0, `${len}-character registration reached the hasher`);
    }
  });

  it('an over-long password at login is refused before any hashing (no hash-cost amplification)', async () => {
    await s.user({ username: 'hashvictim', password: 'a-fine-passphrase-1' });
    for (const username of ['hashvictim', 'nobody-at-all']) {
      let res: Awaited<ReturnType<typeof register>> | undefined;
      const hashes = await hashesDuring(async () => {
        res = await s.post(LOGIN, { username, password: passphrase(60_000) });
      });
      assert.ok([400, 401].includes(res!.statusCode), `${username}: ${res!.statusCode} ${res!.body}`);
      assert.equal(hashes, 0, `a 60 000-character login for ${username} reached the hasher`);
    }
  });

  it('passwords are never truncated: a prefix or an extension of a long password does not log in', async () => {
    const username = fresh();
    const password = passphrase(100, 'm');
    assert.equal((await register(username, password)).statusCode, 201);
    for (const guess of [password.slice(0, 72), password.slice(0, 64), password.slice(0, 99), password + 'x', password + ' ']) {
      const r = await s.post(LOGIN, { username, password: guess });
      assert.equal(r.statusCode, 401, `a ${guess.length}-character variant logged in`);
    }
    assert.equal((await s.post(LOGIN, { username, password })).statusCode, 200);
  });

  it('no composition rules: lowercase-only, spaced and non-ASCII passphrases are accepted', async () => {
    for (const password of ['lantern mosaic river', 'qwzxplmkoijn', 'ёжик в тумане навсегда', 'パスワードではない文章です']) {
      const r = await register(fresh(), password);
      assert.equal(r.statusCode, 201, `${password}: ${r.body}`);
    }
  });

  it('common passwords are refused', async () => {
    for (const password of ['password1', 'iloveyou', 'qwertyuiop', 'Password123', 'trustno1', 'sunshine']) {
      const r = await register(fresh(), password);
      assert.equal(r.statusCode, 400, `${password}: ${r.body}`);
      const body = r.json() as { password: string[] };
      assert.ok(body.password.includes(COMMON), `${password}: ${r.body}`);
    }
  });

  it('a password similar to the username is refused', async () => {
    const r = await register('margaret.thatcher', 'thatcher.margaret');
    assert.equal(r.statusCode, 400, r.body);
    assert.deepEqual(r.json(), { password: ['The password is too similar to the username.'] });
  });

  it('an all-digit password is refused', async () => {
    const r = await register(fresh(), '83920174650');
    assert.equal(r.statusCode, 400, r.body);
    const body = r.json() as { password: string[] };
    assert.ok(body.password.includes(NUMERIC), r.body);
  });

  it('refusals use DRF field-error shape: an object of lists of strings, nothing else', async () => {
    const r = await register(fresh(), '1234');
    assert.equal(r.statusCode, 400, r.body);
    const body = r.json() as Record<string, unknown>;
    assert.deepEqual(Object.keys(body), ['password']);
    assert.ok(Array.isArray(body.password) && body.password.length >= 2);
    assert.ok((body.password as unknown[]).every((m) => typeof m === 'string'));
    assert.ok((body.password as string[]).includes(TOO_SHORT));
  });

  it('service.setPassword applies the same policy (a password change cannot pick a weak password)', async () => {
    await s.user({ username: 'changer', password: 'a-fine-passphrase-1' });
    const user = (await s.storage.getUserByUsername('changer'))!;
    for (const [password, message] of [
      ['short', TOO_SHORT],
      ['password1', COMMON],
      ['83920174650', NUMERIC],
      ['x'.repeat(1025), TOO_LONG],
    ] as const) {
      await assert.rejects(s.service.setPassword(user, password), (err: unknown) => {
        assert.ok(err instanceof ApiError && err.fields?.password?.includes(message), `${password}: ${String(err)}`);
        return true;
      });
    }
  });
});
