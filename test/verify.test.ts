// latchkey/verify against a running latchkey: a real EdDSA server listening on
// a port, its JWKS fetched over HTTP, its tokens minted by its own service, and
// its own protected route as the reference for every 401 body. Tokens with
// hand-made headers or claims are signed here with the server's own private
// key (node:crypto), so nothing trusts the library under test to build them.
import assert from 'node:assert/strict';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createInterface } from 'node:readline';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import Fastify from 'fastify';
import { rotateRing } from '../src/keys.js';
import { TOKEN_MESSAGES } from '../src/tokens.js';
import {
  authenticateRequest,
  bearerToken,
  createVerifier,
  expressAuth,
  fastifyAuth,
  VerifyError,
  type AuthenticatedFastifyRequest,
  type Claims,
  type Verifier,
} from '../src/verify/index.js';
import { claimsOf, FIXTURES, headerOf, startServer, TEST_KEY, type TestServer } from './helpers.js';

const LIB = new URL('../src/verify/index.js', import.meta.url).href;
const PASSWORD = 'pw-verify-12345';
const nowSec = () => Math.floor(Date.now() / 1000);
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

const NOT_PROVIDED = { detail: 'Authentication credentials were not provided.' };
const BAD_HEADER = { detail: 'Authorization header must contain two space-delimited values', code: 'bad_authorization_header' };
const notValid = (message: string) => ({
  detail: 'Given token not valid for any token type',
  code: 'token_not_valid',
  messages: [{ token_class: 'AccessToken', token_type: 'access', message }],
});
const UNAVAILABLE = { detail: 'Service temporarily unavailable, try again later.' };

/** Asserts that the promise rejects with a VerifyError of this status and body. */
async function refused(p: Promise<unknown>, status: number, body: unknown): Promise<VerifyError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof VerifyError, `expected a VerifyError, got ${String(err)}`);
    assert.equal(err.status, status);
    assert.deepEqual(err.body, body);
    if (status === 401) assert.deepEqual(err.headers, { 'www-authenticate': 'Bearer realm="api"' });
    return err;
  }
  assert.fail('accepted a token it should have refused');
}

/** A port nothing listens on (bound, then released). */
async function deadPort(): Promise<number> {
  const srv = http.createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

/** A JWKS endpoint that misbehaves in the given way. */
async function fakeJwks(handler: http.RequestListener): Promise<{ url: string; close(): Promise<void> }> {
  const srv = http.createServer(handler);
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/.well-known/jwks.json`,
    close: () => {
      srv.closeAllConnections();
      return new Promise((r) => srv.close(() => r()));
    },
  };
}

describe('latchkey/verify against a running EdDSA latchkey', () => {
  let s: TestServer;
  let base: string;
  let jwksUrl: string;
  let userId: number;
  let fetches = 0;
  /** Counts the JWKS fetches the main verifier makes. */
  const countingFetch = (url: string, init: RequestInit) => {
    fetches++;
    return fetch(url, init);
  };
  let verifier: Verifier;

  before(async () => {
    s = await startServer({ env: { LATCHKEY_ALGORITHM: 'EdDSA', LATCHKEY_SIGNING_KEY: '' } });
    await s.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = s.app.server.address() as AddressInfo;
    base = `http://127.0.0.1:${port}`;
    jwksUrl = `${base}/.well-known/jwks.json`;
    ({ id: userId } = await s.user({ username: 'vera', password: PASSWORD }));
    verifier = createVerifier({ jwksUrl, fetch: countingFetch }, { cooldownMs: 0 });
  });
  after(() => s.close());

  /** A fresh pair, minted by latchkey's own service (no password hash). */
  const pair = () => s.service.issuePair(userId);

  /** A compact JWS signed with the server's current private key. */
  function sign(claims: Record<string, unknown>, header: Record<string, unknown> = {}): string {
    const key = s.keys.keys.current;
    const input = `${b64({ alg: 'EdDSA', typ: 'JWT', kid: key.kid, ...header })}.${b64(claims)}`;
    const sig = crypto.sign(null, Buffer.from(input), key.signingKey);
    return `${input}.${sig.toString('base64url')}`;
  }
  const goodClaims = (over: Record<string, unknown> = {}) => ({
    token_type: 'access',
    exp: nowSec() + 300,
    iat: nowSec(),
    jti: crypto.randomUUID().replaceAll('-', ''),
    user_id: userId,
    ...over,
  });

  /** latchkey's own answer on its protected route, the reference for every 401. */
  async function latchkeyAnswer(authorization: string | undefined) {
    const res = await s.request({
      method: 'GET',
      url: '/api/protected-endpoint/',
      headers: authorization === undefined ? {} : { authorization },
    });
    return { status: res.statusCode, body: res.json() as unknown, wwwAuthenticate: res.headers['www-authenticate'] };
  }

  it('a fresh access token from a real login over HTTP verifies; user_id is a number', async () => {
    const res = await fetch(`${base}/api/token/`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username: 'vera', password: PASSWORD }),
    });
    assert.equal(res.status, 200);
    const { access } = (await res.json()) as { access: string };
    const claims = await verifier.verify(access);
    assert.equal(claims.token_type, 'access');
    assert.equal(claims.user_id, userId);
    assert.equal(typeof claims.user_id, 'number');
    assert.equal(claims.jti, claimsOf(access).jti);
    assert.equal(claims.exp, claimsOf(access).exp);
  });

  it('user_id as a string of digits (SimpleJWT 5.5.1+) comes back as a number', async () => {
    const claims = await verifier.verify(sign(goodClaims({ user_id: String(userId) })));
    assert.equal(claims.user_id, userId);
    await refused(verifier.verify(sign(goodClaims({ user_id: 'abc' }))), 401, notValid(TOKEN_MESSAGES.noUser));
  });

  it('a refresh token is refused: Token has wrong type, as latchkey answers', async () => {
    const { refresh } = await pair();
    await refused(verifier.verify(refresh), 401, notValid('Token has wrong type'));
    const ref = await latchkeyAnswer(`Bearer ${refresh}`);
    assert.equal(ref.status, 401);
    assert.deepEqual(ref.body, notValid('Token has wrong type'));
  });

  it('garbage, expired, tampered and forged tokens are refused with the DRF body latchkey gives', async () => {
    const { access } = await pair();
    const [h, p, sig] = access.split('.') as [string, string, string];
    const tamperedPayload = b64({ ...claimsOf(access), user_id: userId + 1 });
    const hsWithPublicKey = (() => {
      // Algorithm confusion: HS256 keyed with the published public key.
      const input = `${b64({ alg: 'HS256', typ: 'JWT', kid: headerOf(access).kid })}.${p}`;
      const pub = JSON.stringify(s.keys.keys.current.jwk);
      return `${input}.${crypto.createHmac('sha256', pub).update(input).digest('base64url')}`;
    })();
    const cases: Record<string, string> = {
      garbage: 'garbage',
      'two parts': `${h}.${p}`,
      'bad base64 header': `!!!.${p}.${sig}`,
      expired: sign(goodClaims({ exp: nowSec() - 10, iat: nowSec() - 310 })),
      'iat in the future': sign(goodClaims({ iat: nowSec() + 60 })),
      'nbf in the future': sign(goodClaims({ nbf: nowSec() + 60 })),
      'no exp': sign(goodClaims({ exp: undefined })),
      'tampered payload': `${h}.${tamperedPayload}.${sig}`,
      'tampered signature': `${h}.${p}.${sig.slice(0, -4)}${sig.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`,
      'alg none': `${b64({ alg: 'none', typ: 'JWT' })}.${p}.`,
      'HS256 keyed with the public key': hsWithPublicKey,
      'unknown kid': sign(goodClaims(), { kid: 'not-one-of-ours' }),
      'jku header': sign(goodClaims(), { jku: 'https://evil.example/jwks.json' }),
      'jwk header': sign(goodClaims(), { jwk: s.keys.keys.current.jwk }),
      'x5u header': sign(goodClaims(), { x5u: 'https://evil.example/cert.pem' }),
      'x5c header': sign(goodClaims(), { x5c: ['MIIB'] }),
      'crit b64:false': (() => {
        // RFC 7797: the payload travels as raw JSON. jose accepts this; latchkey never signs it.
        const key = s.keys.keys.current;
        const input = `${b64({ alg: 'EdDSA', kid: key.kid, crit: ['b64'], b64: false })}.${JSON.stringify(goodClaims())}`;
        return `${input}.${crypto.sign(null, Buffer.from(input), key.signingKey).toString('base64url')}`;
      })(),
    };
    for (const [name, token] of Object.entries(cases)) {
      const err = await refused(verifier.verify(token), 401, notValid(TOKEN_MESSAGES.invalid)).catch((e: unknown) => {
        throw new Error(`${name}: ${String(e)}`);
      });
      assert.equal(err.code, 'token_not_valid', name);
      // Byte for byte what latchkey answers on its own protected route.
      const ref = await latchkeyAnswer(`Bearer ${token}`);
      assert.equal(ref.status, 401, name);
      assert.deepEqual(ref.body, err.body, name);
      assert.equal(ref.wwwAuthenticate, err.headers['www-authenticate'], name);
    }
  });

  it('parses the Authorization header as SimpleJWT does, answering as latchkey does', async () => {
    const { access } = await pair();
    const app = Fastify();
    app.get('/me', { onRequest: fastifyAuth(verifier) }, async (req) => ({ user_id: (req as AuthenticatedFastifyRequest).user.user_id }));
    const cases: [string | undefined, number, unknown][] = [
      [undefined, 401, NOT_PROVIDED],
      ['', 401, NOT_PROVIDED],
      ['Bearer', 401, BAD_HEADER],
      ['Bearer ', 401, BAD_HEADER],
      [`Bearer ${access} extra`, 401, BAD_HEADER],
      [`bearer ${access}`, 401, NOT_PROVIDED], // the scheme is case-sensitive
      [`BEARER ${access}`, 401, NOT_PROVIDED],
      [`JWT ${access}`, 401, NOT_PROVIDED],
      ['Basic dmVyYTpwdw==', 401, NOT_PROVIDED],
      [`Token ${access}`, 401, NOT_PROVIDED],
      [`Bearer ${access}`, 200, { user_id: userId }],
      [`  Bearer \t ${access}  `, 200, { user_id: userId }],
      [`Bearer\t${access}`, 200, { user_id: userId }],
    ];
    for (const [authorization, status, body] of cases) {
      const label = JSON.stringify(authorization)?.slice(0, 30) ?? 'no header';
      const res = await app.inject({ method: 'GET', url: '/me', headers: authorization === undefined ? {} : { authorization } });
      assert.equal(res.statusCode, status, label);
      assert.deepEqual(res.json(), body, label);
      const ref = await latchkeyAnswer(authorization);
      assert.equal(ref.status, status, label);
      if (status === 401) {
        assert.deepEqual(ref.body, body, `${label}: latchkey answers the same`);
        assert.equal(res.headers['www-authenticate'], 'Bearer realm="api"', label);
        assert.equal(ref.wwwAuthenticate, 'Bearer realm="api"', label);
      }
    }
    await app.close();
    // authenticate(): no credentials of our scheme is "no answer", not an error.
    assert.equal(await verifier.authenticate(undefined), undefined);
    assert.equal(await verifier.authenticate('Basic abc'), undefined);
    assert.equal((await verifier.authenticate(`Bearer ${access}`))?.user_id, userId);
    // SimpleJWT splits the header as bytes: only ASCII whitespace separates.
    assert.equal(bearerToken(`Bearer\u00a0${access}`), undefined);
    assert.equal(bearerToken(`Bearer\f${access}`), access);
  });

  it('honours leeway, issuer and audience as latchkey does', async () => {
    const lenient = createVerifier({ jwksUrl }, { leeway: 30 });
    await lenient.verify(sign(goodClaims({ exp: nowSec() - 10 })));
    await refused(lenient.verify(sign(goodClaims({ exp: nowSec() - 60 }))), 401, notValid(TOKEN_MESSAGES.invalid));
    const scoped = createVerifier({ jwksUrl }, { issuer: 'https://auth.example', audience: 'orders' });
    await scoped.verify(sign(goodClaims({ iss: 'https://auth.example', aud: ['orders', 'billing'] })));
    await refused(scoped.verify(sign(goodClaims({ iss: 'https://auth.example', aud: 'billing' }))), 401, notValid(TOKEN_MESSAGES.invalid));
    await refused(scoped.verify(sign(goodClaims({ aud: 'orders' }))), 401, notValid(TOKEN_MESSAGES.invalid));
  });

  it('after a key rotation: a token with the new kid verifies (JWKS fetched again), and old-key tokens still do', async () => {
    // A second verifier with the default 30 s cooldown, warmed before the rotation.
    let coolFetches = 0;
    const cool = createVerifier({
      jwksUrl,
      fetch: (url, init) => {
        coolFetches++;
        return fetch(url, init);
      },
    });
    const old = await pair();
    const oldKid = headerOf(old.access).kid;
    await verifier.verify(old.access);
    await cool.verify(old.access);
    assert.equal(coolFetches, 1);
    const before = fetches;

    rotateRing({ dataDir: s.dir, algorithm: 'EdDSA', retention: 86400, now: nowSec() });
    assert.equal(s.keys.reloadIfChanged(), true);
    const fresh = await pair();
    const newKid = headerOf(fresh.access).kid;
    assert.notEqual(newKid, oldKid);

    const claims = await verifier.verify(fresh.access);
    assert.equal(claims.user_id, userId);
    assert.equal(fetches, before + 1, 'the unknown kid made it fetch the JWKS once');
    assert.equal((await verifier.verify(old.access)).user_id, userId);
    assert.equal((await verifier.verify(fresh.access)).user_id, userId);
    assert.equal(fetches, before + 1, 'known kids are served from the cache');

    // Within the cooldown, an unknown kid is refused without a fetch: forged
    // kids cannot make a service hammer latchkey.
    await refused(cool.verify(fresh.access), 401, notValid(TOKEN_MESSAGES.invalid));
    assert.equal(coolFetches, 1);
    await cool.verify(old.access);
  });

  describe('fails closed when the JWKS cannot be had', () => {
    it('JWKS server unreachable: 503, never acceptance', async () => {
      const { access } = await pair();
      const v = createVerifier({ jwksUrl: `http://127.0.0.1:${await deadPort()}/.well-known/jwks.json` });
      const err = await refused(v.verify(access), 503, UNAVAILABLE);
      assert.equal(err.code, 'service_unavailable');
      assert.equal(err.headers['retry-after'], '5');
      await refused(v.authenticate(`Bearer ${access}`), 503, UNAVAILABLE);
      // A token that is not a JWS at all needs no key: still a 401.
      await refused(v.verify('garbage'), 401, notValid(TOKEN_MESSAGES.invalid));
    });

    it('JWKS answering 500, non-JSON, a non-key-set, or a redirect: 503', async () => {
      const { access } = await pair();
      const handlers: Record<string, http.RequestListener> = {
        '500': (_q, r) => r.writeHead(500).end('{"detail":"A server error occurred."}'),
        'not JSON': (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('<html>'),
        'not a key set': (_q, r) => r.writeHead(200, { 'content-type': 'application/json' }).end('{"keys":"nope"}'),
        redirect: (_q, r) => r.writeHead(302, { location: jwksUrl }).end(),
      };
      for (const [name, handler] of Object.entries(handlers)) {
        const fake = await fakeJwks(handler);
        try {
          await refused(createVerifier({ jwksUrl: fake.url }).verify(access), 503, UNAVAILABLE).catch((e: unknown) => {
            throw new Error(`${name}: ${String(e)}`);
          });
        } finally {
          await fake.close();
        }
      }
    });

    it('JWKS too slow: 503 after the timeout', async () => {
      const { access } = await pair();
      const fake = await fakeJwks(() => {}); // never answers
      try {
        await refused(createVerifier({ jwksUrl: fake.url, timeoutMs: 200 }).verify(access), 503, UNAVAILABLE);
      } finally {
        await fake.close();
      }
    });

    it('JWKS cached, then latchkey unreachable: known kids still verify, an unknown kid is a 503', async () => {
      let down = false;
      const v = createVerifier(
        { jwksUrl, fetch: (url, init) => (down ? Promise.reject(new TypeError('fetch failed')) : fetch(url, init)) },
        { cooldownMs: 0 },
      );
      const { access } = await pair();
      await v.verify(access);
      down = true;
      assert.equal((await v.verify(access)).user_id, userId);
      await refused(v.verify(sign(goodClaims(), { kid: 'rotated-while-down' })), 503, UNAVAILABLE);
    });
  });

  it('the Fastify adapter sets request.user or answers the DRF 401', async () => {
    const app = Fastify();
    app.decorateRequest('user', null);
    app.addHook('onRequest', fastifyAuth(verifier));
    app.get('/whoami', async (req) => {
      const user = (req as AuthenticatedFastifyRequest).user;
      return { user_id: user.user_id, token_type: user.token_type };
    });
    try {
      const { access, refresh } = await pair();
      const ok = await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${access}` } });
      assert.equal(ok.statusCode, 200);
      assert.deepEqual(ok.json(), { user_id: userId, token_type: 'access' });
      const none = await app.inject({ method: 'GET', url: '/whoami' });
      assert.equal(none.statusCode, 401);
      assert.deepEqual(none.json(), NOT_PROVIDED);
      assert.equal(none.headers['www-authenticate'], 'Bearer realm="api"');
      const wrong = await app.inject({ method: 'GET', url: '/whoami', headers: { authorization: `Bearer ${refresh}` } });
      assert.equal(wrong.statusCode, 401);
      assert.deepEqual(wrong.json(), notValid('Token has wrong type'));
      assert.match(String(wrong.headers['content-type']), /^application\/json/);
    } finally {
      await app.close();
    }
  });

  it('the Express adapter sets req.user or answers the DRF 401 (or 503)', async () => {
    const dead = createVerifier({ jwksUrl: `http://127.0.0.1:${await deadPort()}/.well-known/jwks.json` });
    const app = express();
    app.get('/whoami', expressAuth(verifier), (req, res) => {
      res.json({ user_id: (req as unknown as { user: Claims }).user.user_id });
    });
    app.get('/down', expressAuth(dead), (_req, res) => {
      res.json({ accepted: true });
    });
    const srv = await new Promise<http.Server>((resolve) => {
      const server = app.listen(0, '127.0.0.1', () => resolve(server));
    });
    const url = `http://127.0.0.1:${(srv.address() as AddressInfo).port}`;
    try {
      const { access, refresh } = await pair();
      const call = async (path: string, authorization?: string) => {
        const res = await fetch(url + path, { headers: authorization ? { authorization } : {} });
        return { status: res.status, body: (await res.json()) as unknown, headers: res.headers };
      };
      const ok = await call('/whoami', `Bearer ${access}`);
      assert.equal(ok.status, 200);
      assert.deepEqual(ok.body, { user_id: userId });
      const none = await call('/whoami');
      assert.equal(none.status, 401);
      assert.deepEqual(none.body, NOT_PROVIDED);
      assert.equal(none.headers.get('www-authenticate'), 'Bearer realm="api"');
      const bad = await call('/whoami', 'Bearer');
      assert.deepEqual([bad.status, bad.body], [401, BAD_HEADER]);
      const wrong = await call('/whoami', `Bearer ${refresh}`);
      assert.deepEqual([wrong.status, wrong.body], [401, notValid('Token has wrong type')]);
      const down = await call('/down', `Bearer ${access}`);
      assert.deepEqual([down.status, down.body], [503, UNAVAILABLE]);
      assert.equal(down.headers.get('retry-after'), '5');
    } finally {
      srv.closeAllConnections();
      await new Promise((r) => srv.close(r));
    }
  });

  it('authenticateRequest answers a fetch Request with { claims } or a ready Response', async () => {
    const { access } = await pair();
    const ok = await authenticateRequest(
      verifier,
      new Request('http://svc.local/orders', { headers: { authorization: `Bearer ${access}` } }),
    );
    assert.ok('claims' in ok && ok.claims);
    assert.equal(ok.claims.user_id, userId);

    const none = await authenticateRequest(verifier, new Request('http://svc.local/orders'));
    assert.ok(none.response);
    assert.equal(none.response.status, 401);
    assert.equal(none.response.headers.get('www-authenticate'), 'Bearer realm="api"');
    assert.equal(none.response.headers.get('content-type'), 'application/json');
    assert.deepEqual(await none.response.json(), NOT_PROVIDED);

    const bad = await authenticateRequest(verifier, new Request('http://svc.local/', { headers: { authorization: 'Bearer x' } }));
    assert.ok(bad.response);
    assert.deepEqual(await bad.response.json(), notValid(TOKEN_MESSAGES.invalid));
  });

  it('a separate process, given only the JWKS URL, verifies tokens before and after a rotation', async () => {
    // The issue's acceptance check: another service, in its own process, that
    // knows nothing of latchkey but the JWKS URL, and keeps running across the
    // rotation. It reads one token per line and prints one JSON line per token.
    const script = `
      import { createInterface } from 'node:readline';
      const { createVerifier, VerifyError } = await import(process.argv[1]);
      const verifier = createVerifier({ jwksUrl: process.argv[2] }, { cooldownMs: 0 });
      for await (const token of createInterface({ input: process.stdin })) {
        try {
          const claims = await verifier.verify(token);
          console.log(JSON.stringify({ ok: true, claims }));
        } catch (err) {
          if (!(err instanceof VerifyError)) throw err;
          console.log(JSON.stringify({ ok: false, status: err.status, body: err.body }));
        }
      }`;
    const child: ChildProcessWithoutNullStreams = spawn(process.execPath, ['--input-type=module', '-e', script, LIB, jwksUrl], {
      stdio: 'pipe',
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const ask = async (token: string) => {
      child.stdin.write(token + '\n');
      const next = await lines.next();
      assert.equal(next.done, false, `the verifier process ended: ${stderr}`);
      return JSON.parse(next.value as string) as { ok: boolean; claims?: Claims; status?: number; body?: unknown };
    };
    try {
      const before = await pair();
      const r1 = await ask(before.access);
      assert.equal(r1.ok, true, JSON.stringify(r1));
      assert.equal(r1.claims!.user_id, userId);
      assert.equal(typeof r1.claims!.user_id, 'number');
      const r2 = await ask(before.refresh);
      assert.deepEqual(r2, { ok: false, status: 401, body: notValid('Token has wrong type') });

      rotateRing({ dataDir: s.dir, algorithm: 'EdDSA', retention: 86400, now: nowSec() });
      assert.equal(s.keys.reloadIfChanged(), true);
      const afterRotation = await pair();
      assert.notEqual(headerOf(afterRotation.access).kid, headerOf(before.access).kid);
      const r3 = await ask(afterRotation.access);
      assert.equal(r3.ok, true, JSON.stringify(r3));
      assert.equal(r3.claims!.jti, claimsOf(afterRotation.access).jti);
      const r4 = await ask(before.access);
      assert.equal(r4.ok, true, 'the retired key still verifies its tokens');
      const r5 = await ask('garbage');
      assert.deepEqual(r5, { ok: false, status: 401, body: notValid(TOKEN_MESSAGES.invalid) });
    } finally {
      child.stdin.end();
      await new Promise((r) => (child.exitCode !== null ? r(null) : child.once('exit', r)));
    }
    assert.equal(child.exitCode, 0, stderr);
  });
});

describe('latchkey/verify with a shared HMAC secret (default HS256 server)', () => {
  let s: TestServer;
  let userId: number;
  before(async () => {
    s = await startServer();
    ({ id: userId } = await s.user({ username: 'hank', password: PASSWORD }));
  });
  after(() => s.close());

  it("verifies latchkey's HS256 access tokens, refuses its refresh tokens", async () => {
    const v = createVerifier({ secret: TEST_KEY });
    const { access, refresh } = await s.service.issuePair(userId);
    const claims = await v.verify(access);
    assert.equal(claims.user_id, userId);
    assert.equal(claims.token_type, 'access');
    await refused(v.verify(refresh), 401, notValid('Token has wrong type'));
    assert.equal((await v.authenticate(`Bearer ${access}`))?.user_id, userId);
  });

  it('refuses a wrong secret, another HMAC algorithm, and asymmetric tokens', async () => {
    const { access } = await s.service.issuePair(userId);
    await refused(createVerifier({ secret: 'x'.repeat(40) }).verify(access), 401, notValid(TOKEN_MESSAGES.invalid));
    await refused(createVerifier({ secret: TEST_KEY, algorithm: 'HS512' }).verify(access), 401, notValid(TOKEN_MESSAGES.invalid));
    const { privateKey } = crypto.generateKeyPairSync('ed25519');
    const input = `${b64({ alg: 'EdDSA', typ: 'JWT' })}.${access.split('.')[1]}`;
    const eddsa = `${input}.${crypto.sign(null, Buffer.from(input), privateKey).toString('base64url')}`;
    await refused(createVerifier({ secret: TEST_KEY }).verify(eddsa), 401, notValid(TOKEN_MESSAGES.invalid));
  });

  it("verifies SimpleJWT's own tokens (no kid) minted with the same key", async () => {
    const [fixture] = FIXTURES.tokens;
    const iat = claimsOf(fixture!.access).iat as number;
    const v = createVerifier({ secret: TEST_KEY }, { now: () => iat + 1 });
    assert.equal((await v.verify(fixture!.access)).user_id, fixture!.user_id);
    await refused(v.verify(fixture!.refresh), 401, notValid('Token has wrong type'));
  });

  it('refuses a configuration that cannot be right', () => {
    assert.throws(() => createVerifier({ secret: 'too-short' }), TypeError);
    assert.throws(() => createVerifier({ secret: TEST_KEY }, { algorithms: ['EdDSA'] }), TypeError);
    assert.throws(() => createVerifier({ jwksUrl: 'http://127.0.0.1/jwks' }, { algorithms: ['HS256'] }), TypeError);
    assert.throws(() => createVerifier({ jwksUrl: 'file:///etc/passwd' }), TypeError);
    assert.throws(() => createVerifier({ jwksUrl: 'http://127.0.0.1/jwks' }, { leeway: -1 }), TypeError);
  });
});
