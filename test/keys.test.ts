// Signing keys: asymmetric algorithms, a kid on every token, the JWKS other
// services verify with (checked here with jose, an independent library), key
// rotation, and HMAC secrets never published.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify } from 'jose';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { KEYRING_FILE, rotateRing } from '../src/keys.js';
import { claimsOf, headerOf, startServer, tempDir, type TestServer } from './helpers.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const PASSWORD = 'pw-keys-12345';

for (const alg of ['EdDSA', 'ES256', 'RS256'] as const) {
  describe(`LATCHKEY_ALGORITHM=${alg}`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({ env: { LATCHKEY_ALGORITHM: alg, LATCHKEY_SIGNING_KEY: '' } });
      await s.user({ username: 'kim', password: PASSWORD });
    });
    after(() => s.close());

    const login = async () => {
      const res = await s.post('/api/token/', { username: 'kim', password: PASSWORD });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as { access: string; refresh: string };
    };
    const jwksOf = async () => {
      const res = await s.get('/.well-known/jwks.json');
      assert.equal(res.statusCode, 200);
      return { res, body: res.json() as { keys: (JsonWebKey & { kid: string; alg: string })[] } };
    };

    it('signs with the algorithm and names the key in the kid header', async () => {
      const { access, refresh } = await login();
      for (const token of [access, refresh]) {
        const header = headerOf(token);
        assert.equal(header.alg, alg);
        assert.equal(typeof header.kid, 'string');
      }
      assert.equal((await s.get('/api/protected-endpoint/', access)).statusCode, 200);
    });

    it('publishes the public key, and only the public key, with Cache-Control', async () => {
      const { res, body } = await jwksOf();
      assert.match(String(res.headers['cache-control']), /max-age=\d+/);
      assert.equal(body.keys.length, 1);
      const [jwk] = body.keys;
      assert.equal(jwk!.alg, alg);
      assert.equal((jwk as { use?: string }).use, 'sig');
      for (const secret of ['d', 'p', 'q', 'dp', 'dq', 'qi', 'k']) assert.equal(secret in jwk!, false, `JWKS leaks "${secret}"`);
    });

    it('tokens verify with jose against the published JWKS alone', async () => {
      const { access } = await login();
      const { body } = await jwksOf();
      const { payload, protectedHeader } = await jwtVerify(access, createLocalJWKSet(body), { algorithms: [alg] });
      assert.equal(payload.token_type, 'access');
      assert.equal(protectedHeader.kid, headerOf(access).kid);
    });

    it('keeps its key pair in the data dir, readable by the owner only', () => {
      const file = path.join(s.dir, KEYRING_FILE);
      assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    });

    it('refuses a token naming a key it does not have', async () => {
      const { access } = await login();
      const [h, p, sig] = access.split('.');
      const header = { ...(JSON.parse(Buffer.from(h!, 'base64url').toString()) as Record<string, unknown>), kid: 'not-one-of-ours' };
      const forged = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${p}.${sig}`;
      const res = await s.post('/api/token/verify/', { token: forged });
      assert.equal(res.statusCode, 401);
    });

    it('rotation: new tokens use the new key; old tokens keep working; both are published', async () => {
      const before = await login();
      const oldKid = headerOf(before.access).kid;
      rotateRing({ dataDir: s.dir, algorithm: alg, retention: 86400, now: Math.floor(Date.now() / 1000) });
      s.keys.reloadIfChanged(); // a serving process notices within a second; tests need not wait
      const afterRotation = await login();
      const newKid = headerOf(afterRotation.access).kid;
      assert.notEqual(newKid, oldKid);
      const { body } = await jwksOf();
      assert.deepEqual(body.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
      // The old pair still works everywhere, and verifies with the JWKS.
      assert.equal((await s.get('/api/protected-endpoint/', before.access)).statusCode, 200);
      assert.equal((await s.post('/api/token/refresh/', { refresh: before.refresh })).statusCode, 200);
      for (const token of [before.access, afterRotation.access]) {
        await jwtVerify(token, createLocalJWKSet(body), { algorithms: [alg] });
      }
    });

    it('a key published ahead is in the JWKS at once, and signs from its activation time with no reload', async () => {
      const oldKid = headerOf((await login()).access).kid;
      const ahead = 2;
      const ring = rotateRing({
        dataDir: s.dir,
        algorithm: alg,
        retention: 86400,
        now: Math.floor(Date.now() / 1000),
        publishAhead: ahead,
      });
      const nextKid = ring.at(-1)!.kid;
      s.keys.reloadIfChanged();
      assert.ok(
        (await jwksOf()).body.keys.some((k) => k.kid === nextKid),
        'the next key is published before it signs',
      );
      assert.equal(headerOf((await login()).access).kid, oldKid, 'the old key signs until the activation time');
      const deadline = Date.now() + (ahead + 3) * 1000;
      let kid = oldKid;
      while (kid === oldKid && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 200));
        kid = headerOf((await login()).access).kid; // no reloadIfChanged: the file has not changed
      }
      assert.equal(kid, nextKid, 'the next key signs once its activation time has passed');
      const kids = (await jwksOf()).body.keys.map((k) => k.kid);
      assert.ok(kids.includes(oldKid as string) && kids.includes(nextKid), 'the replaced key stays published');
    });
  });
}

describe('HMAC keys', () => {
  let s: TestServer;
  before(async () => {
    s = await startServer();
  });
  after(() => s.close());

  it('are never published: the JWKS is empty', async () => {
    const res = await s.get('/.well-known/jwks.json');
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { keys: [] });
  });

  it('still name their key in a kid (a fingerprint, not the secret)', async () => {
    await s.user({ username: 'hal', password: PASSWORD });
    const { access } = (await s.post('/api/token/', { username: 'hal', password: PASSWORD })).json() as { access: string };
    const kid = String(headerOf(access).kid);
    assert.ok(kid.length >= 8);
    assert.equal(s.config.signingKey!.includes(kid), false);
    assert.equal(claimsOf(access).token_type, 'access');
  });

  it('LATCHKEY_SIGNING_KEY with an asymmetric algorithm is refused at startup', () => {
    assert.throws(
      () => loadConfig({ LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_SIGNING_KEY: 'x'.repeat(40) }),
      (err: unknown) => err instanceof ConfigError && /LATCHKEY_SIGNING_KEY/.test(err.message),
    );
  });

  it('`latchkey keys rotate` on an HMAC server exits non-zero with a one-line reason', () => {
    const dir = tempDir();
    const r = spawnSync(process.execPath, [CLI, 'keys', 'rotate'], {
      env: { ...process.env, LATCHKEY_DATA_DIR: dir, LATCHKEY_ALGORITHM: 'HS256' },
      encoding: 'utf8',
    });
    assert.notEqual(r.status, 0);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /LATCHKEY_SIGNING_KEY/);
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('`latchkey keys rotate` with EdDSA prints the new kid and keeps the old one', () => {
    const dir = tempDir();
    // No publish-ahead: the new key signs at once (key-rotation.test.ts covers the default).
    const env = {
      ...process.env,
      LATCHKEY_DATA_DIR: dir,
      LATCHKEY_ALGORITHM: 'EdDSA',
      LATCHKEY_SIGNING_KEY: '',
      LATCHKEY_KEY_PUBLISH_AHEAD: '0',
    };
    for (const older of [0, 1]) {
      const r = spawnSync(process.execPath, [CLI, 'keys', 'rotate'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`now signing with EdDSA key \\S+; ${older} older key`));
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('`latchkey keys rotate --now` signs at once and warns that verifiers may refuse new tokens until they refetch', () => {
    const dir = tempDir();
    const env = { ...process.env, LATCHKEY_DATA_DIR: dir, LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_SIGNING_KEY: '' };
    const list = () => {
      const r = spawnSync(process.execPath, [CLI, 'keys', 'list', '--json'], { env, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout) as { kid: string; state: string; activates_at: string; retired_at: string | null }[];
    };
    try {
      assert.equal(spawnSync(process.execPath, [CLI, 'keys', 'rotate'], { env, encoding: 'utf8' }).status, 0);
      // The default: the next key is published, and waits.
      const r1 = spawnSync(process.execPath, [CLI, 'keys', 'rotate'], { env, encoding: 'utf8' });
      assert.equal(r1.status, 0, r1.stderr);
      assert.match(r1.stdout, /published EdDSA key \S+; it signs from \S+Z \(in 600 s\)/);
      const waiting = list();
      assert.deepEqual(
        waiting.map((k) => k.state),
        ['active', 'next'],
      );
      assert.ok(Date.parse(waiting[1]!.activates_at) - Date.parse(waiting[0]!.activates_at) >= 599_000);
      // --now replaces the waiting key (it signed nothing) and signs at once.
      const r2 = spawnSync(process.execPath, [CLI, 'keys', 'rotate', '--now'], { env, encoding: 'utf8' });
      assert.equal(r2.status, 0, r2.stderr);
      assert.match(r2.stdout, new RegExp(`replaced key ${waiting[1]!.kid}, which was waiting`));
      assert.match(r2.stdout, /now signing with EdDSA key \S+; 1 older key/);
      assert.match(r2.stderr, /warning: .*verifier .*may refuse new tokens until it .*refetch/i);
      const after = list();
      assert.deepEqual(
        after.map((k) => k.state),
        ['retired', 'active'],
      );
      assert.equal(after[0]!.kid, waiting[0]!.kid);
      assert.equal(after[0]!.retired_at, after[1]!.activates_at);
      const table = spawnSync(process.execPath, [CLI, 'keys', 'list'], { env, encoding: 'utf8' });
      assert.match(table.stdout, /^kid\s+algorithm\s+state\s+activates_at/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
