// Key pairs from files the operator mounts (LATCHKEY_PRIVATE_KEYS_FILE, a ring
// in keys.json's format; LATCHKEY_PRIVATE_KEY_PEM_FILE, one PEM): tokens are
// signed with them and verify against the JWKS (checked with jose), nothing is
// written to the data dir, a change of the file is picked up, rotation refuses,
// and a mismatch or a missing file is a startup error that names the setting.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { calculateJwkThumbprint, createLocalJWKSet, jwtVerify, type JWK } from 'jose';
import { loadConfig } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { KEYRING_FILE, loadKeys, rotateRing } from '../src/keys.js';
import { headerOf, startServer, tempDir, type TestServer } from './helpers.js';

const CLI = new URL('../src/cli.js', import.meta.url).pathname;
const PASSWORD = 'pw-keyfile-12345';

/** A ring made by `latchkey keys rotate`'s own code in a scratch dir, as an operator would before putting it in a secret. */
function makeRing(alg: 'EdDSA' | 'ES256' | 'RS256', dir = tempDir()): string {
  rotateRing({ dataDir: dir, algorithm: alg, retention: 3600, now: Math.floor(Date.now() / 1000) });
  return path.join(dir, KEYRING_FILE);
}

async function tokenAndJwks(s: TestServer) {
  await s.user({ username: 'kay', password: PASSWORD });
  const login = await s.post('/api/token/', { username: 'kay', password: PASSWORD });
  assert.equal(login.statusCode, 200, login.body);
  const jwks = (await s.get('/.well-known/jwks.json')).json() as { keys: (JWK & { kid: string })[] };
  return { access: (login.json() as { access: string }).access, jwks };
}

describe('LATCHKEY_PRIVATE_KEYS_FILE', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  it('signs with the ring in the file, publishes it, and writes nothing to the data dir', async () => {
    const file = makeRing('EdDSA');
    const ring = JSON.parse(fs.readFileSync(file, 'utf8')) as { keys: { kid: string }[] };
    const s = await startServer({ env: { LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_SIGNING_KEY: '', LATCHKEY_PRIVATE_KEYS_FILE: file } });
    servers.push(s);
    const { access, jwks } = await tokenAndJwks(s);
    assert.equal(headerOf(access).kid, ring.keys[0]!.kid);
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      [ring.keys[0]!.kid],
    );
    await jwtVerify(access, createLocalJWKSet(jwks));
    assert.equal(fs.existsSync(path.join(s.dir, KEYRING_FILE)), false, 'no keys.json in the data dir');
  });

  it('picks up a new ring put in the file’s place (a secret updated)', async () => {
    const file = makeRing('ES256');
    const s = await startServer({ env: { LATCHKEY_ALGORITHM: 'ES256', LATCHKEY_SIGNING_KEY: '', LATCHKEY_PRIVATE_KEYS_FILE: file } });
    servers.push(s);
    s.keys.watch(() => {});
    const before = s.keys.keys.current.kid;
    // The operator rotates a copy elsewhere, with the new key signing at once, and replaces the file.
    const scratch = tempDir();
    fs.copyFileSync(file, path.join(scratch, KEYRING_FILE));
    rotateRing({ dataDir: scratch, algorithm: 'ES256', retention: 3600, now: Math.floor(Date.now() / 1000) });
    fs.copyFileSync(path.join(scratch, KEYRING_FILE), file);
    fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
    const changed = await new Promise<boolean>((resolve) => {
      const poll = setInterval(() => {
        if (s.keys.keys.current.kid !== before) {
          clearInterval(poll);
          clearTimeout(limit);
          resolve(true);
        }
      }, 50);
      const limit = setTimeout(() => {
        clearInterval(poll);
        resolve(false);
      }, 5000);
    });
    assert.ok(changed, 'the new key signs');
    const { jwks } = await tokenAndJwks(s);
    assert.equal(jwks.keys.length, 2, 'the old key stays published');
  });

  it('refuses a file whose newest key is of another algorithm, and a missing file, naming the setting', () => {
    const file = makeRing('RS256');
    const base = loadConfig({ LATCHKEY_DATA_DIR: tempDir(), LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_PRIVATE_KEYS_FILE: file });
    assert.throws(
      () => loadKeys(base),
      (e: Error) => e instanceof ConfigError && /LATCHKEY_PRIVATE_KEYS_FILE: .*RS256.*EdDSA/.test(e.message),
    );
    const missing = loadConfig({
      LATCHKEY_DATA_DIR: tempDir(),
      LATCHKEY_ALGORITHM: 'EdDSA',
      LATCHKEY_PRIVATE_KEYS_FILE: '/nonexistent/keys.json',
    });
    assert.throws(() => loadKeys(missing), /LATCHKEY_PRIVATE_KEYS_FILE: cannot read \/nonexistent\/keys\.json: no such file/);
    const broken = path.join(tempDir(), 'keys.json');
    fs.writeFileSync(broken, '{"keys": 3}');
    assert.throws(
      () => loadKeys(loadConfig({ LATCHKEY_DATA_DIR: tempDir(), LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_PRIVATE_KEYS_FILE: broken })),
      /LATCHKEY_PRIVATE_KEYS_FILE: .*not valid/,
    );
    const hmac = loadConfig({ LATCHKEY_DATA_DIR: tempDir(), LATCHKEY_PRIVATE_KEYS_FILE: file });
    assert.throws(() => loadKeys(hmac), /LATCHKEY_PRIVATE_KEYS_FILE: key files hold key pairs, but LATCHKEY_ALGORITHM is HS256/);
  });
});

describe('LATCHKEY_PRIVATE_KEY_PEM_FILE', () => {
  const servers: TestServer[] = [];
  after(async () => {
    for (const s of servers) await s.close();
  });

  for (const [alg, pair] of [
    ['EdDSA', () => crypto.generateKeyPairSync('ed25519')],
    ['ES256', () => crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })],
    ['RS256', () => crypto.generateKeyPairSync('rsa', { modulusLength: 2048 })],
  ] as const) {
    it(`${alg}: signs with the PEM; its kid is derived from the public key (RFC 7638), the same on every instance`, async () => {
      const { privateKey } = pair();
      const file = path.join(tempDir(), 'signing.pem');
      // SEC1 / PKCS#1 where the key type has them, as openssl writes them; PKCS#8 for Ed25519.
      const type = alg === 'ES256' ? 'sec1' : alg === 'RS256' ? 'pkcs1' : 'pkcs8';
      fs.writeFileSync(file, privateKey.export({ format: 'pem', type }));
      const env = { LATCHKEY_ALGORITHM: alg, LATCHKEY_SIGNING_KEY: '', LATCHKEY_PRIVATE_KEY_PEM_FILE: file };
      const a = await startServer({ env });
      servers.push(a);
      const b = await startServer({ env });
      servers.push(b);
      const { access, jwks } = await tokenAndJwks(a);
      const thumbprint = await calculateJwkThumbprint(crypto.createPublicKey(privateKey).export({ format: 'jwk' }) as JWK);
      assert.equal(headerOf(access).kid, thumbprint.slice(0, 16));
      assert.equal(headerOf(access).alg, alg);
      assert.equal(b.keys.keys.current.kid, headerOf(access).kid, 'another instance names the key alike');
      await jwtVerify(access, createLocalJWKSet((await b.get('/.well-known/jwks.json')).json() as { keys: JWK[] }));
      assert.equal(jwks.keys.length, 1);
      assert.equal(fs.existsSync(path.join(a.dir, KEYRING_FILE)), false);
    });
  }

  it('refuses a key of another type than LATCHKEY_ALGORITHM, a file with no key, and both files at once', () => {
    const dir = tempDir();
    const file = path.join(dir, 'rsa.pem');
    fs.writeFileSync(file, crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const cfg = (env: Record<string, string>) => loadConfig({ LATCHKEY_DATA_DIR: tempDir(), LATCHKEY_ALGORITHM: 'ES256', ...env });
    assert.throws(
      () => loadKeys(cfg({ LATCHKEY_PRIVATE_KEY_PEM_FILE: file })),
      /LATCHKEY_PRIVATE_KEY_PEM_FILE: .* an rsa key, but LATCHKEY_ALGORITHM=ES256/,
    );
    const junk = path.join(dir, 'junk.pem');
    fs.writeFileSync(junk, 'not a key\n');
    assert.throws(() => loadKeys(cfg({ LATCHKEY_PRIVATE_KEY_PEM_FILE: junk })), /LATCHKEY_PRIVATE_KEY_PEM_FILE: .* holds no private key/);
    assert.throws(
      () => loadKeys(cfg({ LATCHKEY_PRIVATE_KEY_PEM_FILE: file, LATCHKEY_PRIVATE_KEYS_FILE: makeRing('ES256') })),
      /set only one of the two/,
    );
  });
});

describe('keys commands with keys from a file', () => {
  const cli = (env: Record<string, string>, ...args: string[]) =>
    spawnSync(process.execPath, [CLI, ...args], {
      env: { PATH: process.env.PATH ?? '', LATCHKEY_LOG_LEVEL: 'silent', ...env },
      encoding: 'utf8',
    });

  it('keys rotate refuses with what to do instead, and leaves the file alone', () => {
    const file = makeRing('EdDSA');
    const before = fs.readFileSync(file, 'utf8');
    const dataDir = tempDir();
    const r = cli({ LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_PRIVATE_KEYS_FILE: file }, 'keys', 'rotate');
    assert.equal(r.status, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /LATCHKEY_PRIVATE_KEYS_FILE .*only reads.*To rotate/);
    assert.equal(fs.readFileSync(file, 'utf8'), before);
    assert.equal(fs.existsSync(path.join(dataDir, KEYRING_FILE)), false);

    const pem = path.join(tempDir(), 'k.pem');
    fs.writeFileSync(pem, crypto.generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }));
    const p = cli(
      { LATCHKEY_DATA_DIR: dataDir, LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_PRIVATE_KEY_PEM_FILE: pem },
      'keys',
      'rotate',
      '--now',
    );
    assert.equal(p.status, 1);
    assert.match(p.stderr, /LATCHKEY_PRIVATE_KEY_PEM_FILE .*only reads/);
  });

  it('keys list shows the file’s keys', () => {
    const file = makeRing('EdDSA');
    const { keys } = JSON.parse(fs.readFileSync(file, 'utf8')) as { keys: { kid: string }[] };
    const r = cli(
      { LATCHKEY_DATA_DIR: tempDir(), LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_PRIVATE_KEYS_FILE: file },
      'keys',
      'list',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(
      (JSON.parse(r.stdout) as { kid: string; state: string }[]).map((k) => [k.kid, k.state]),
      [[keys[0]!.kid, 'active']],
    );
  });
});
