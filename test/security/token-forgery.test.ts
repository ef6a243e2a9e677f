// Token forgery (RFC 8725, JWT best current practice): every token here is
// built by hand with node:crypto and thrown at the three places a token is
// accepted: the protected route (access), verify (either type) and refresh.
// Each must answer 401 with SimpleJWT's body, never 200 and never 500.
import assert from 'node:assert/strict';
import { generateKeyPairSync, createSign } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { DIALECTS, startServer, TEST_KEY, type TestServer } from '../helpers.js';
import { claims, forge, nowSeconds } from './support.js';

const ATTACKER_KEY = 'attacker-controlled-key-0123456789abcdef';
const INVALID = { detail: 'Token is invalid or expired', code: 'token_not_valid' };
const USER_ID = 7;

for (const dialect of DIALECTS)
  describe(`token forgery (${dialect})`, () => {
    let s: TestServer;
    before(async () => {
      s = await startServer({ dialect });
      await s.user({ username: 'victim', password: 'a-fine-passphrase-1', id: USER_ID });
    });
    after(() => s.close());

    type Probe = { where: string; status: number; body: Record<string, unknown> };

    /** Presents a token everywhere a token of its claimed type is accepted. */
    async function present(token: string): Promise<Probe[]> {
      const out: Probe[] = [];
      const prot = await s.get('/api/protected-endpoint/', token);
      out.push({ where: 'protected', status: prot.statusCode, body: prot.json() });
      const ver = await s.post('/api/token/verify/', { token });
      out.push({ where: 'verify', status: ver.statusCode, body: ver.json() });
      const ref = await s.post('/api/token/refresh/', { refresh: token });
      out.push({ where: 'refresh', status: ref.statusCode, body: ref.json() });
      return out;
    }

    /** The token is refused everywhere with 401 and a token_not_valid (or user) body. */
    async function refused(token: string, label: string): Promise<Probe[]> {
      const probes = await present(token);
      for (const p of probes) {
        assert.equal(p.status, 401, `${label} @ ${p.where}: ${p.status} ${JSON.stringify(p.body)}`);
        assert.equal(typeof p.body.detail, 'string', `${label} @ ${p.where}: ${JSON.stringify(p.body)}`);
        assert.ok(['token_not_valid', 'user_not_found'].includes(String(p.body.code)), `${label} @ ${p.where}: ${JSON.stringify(p.body)}`);
      }
      return probes;
    }

    it('sanity: tokens signed with the server key are accepted (so each refusal below is the attack being caught)', async () => {
      const access = forge({ payload: claims(USER_ID, 'access') });
      const refresh = forge({ payload: claims(USER_ID, 'refresh') });
      assert.equal((await s.get('/api/protected-endpoint/', access)).statusCode, 200);
      assert.equal((await s.post('/api/token/verify/', { token: access })).statusCode, 200);
      assert.equal((await s.post('/api/token/refresh/', { refresh })).statusCode, 200);
    });

    it('algorithms pinned: a token claiming RS256/ES256/PS256/EdDSA with an HMAC over the server key is refused (key confusion)', async () => {
      for (const alg of ['RS256', 'ES256', 'PS256', 'EdDSA', 'hs256', 'HS256 ']) {
        for (const type of ['access', 'refresh'] as const) {
          await refused(forge({ header: { alg, typ: 'JWT' }, payload: claims(USER_ID, type), hmac: 'HS256' }), `alg ${alg}`);
        }
      }
      // No alg at all.
      await refused(forge({ header: { typ: 'JWT' }, payload: claims(USER_ID, 'access'), hmac: 'HS256' }), 'no alg');
    });

    it('alg "none" in every casing is refused', async () => {
      for (const alg of ['none', 'None', 'NONE', 'nOnE', 'NoNe', 'nonE']) {
        for (const type of ['access', 'refresh'] as const) {
          const payload = claims(USER_ID, type);
          await refused(forge({ header: { alg, typ: 'JWT' }, payload, signature: '' }), `alg ${alg}, empty signature`);
          const withSig = forge({ header: { alg, typ: 'JWT' }, payload, hmac: 'HS256' });
          await refused(withSig, `alg ${alg}, HMAC signature`);
          await refused(withSig.slice(0, withSig.lastIndexOf('.')), `alg ${alg}, two segments`);
        }
      }
    });

    it('a token whose signature is stripped is refused', async () => {
      const t = forge({ payload: claims(USER_ID, 'access') });
      await refused(t.slice(0, t.lastIndexOf('.') + 1), 'empty signature');
    });

    it('HS384 and HS512 tokens signed with the HS256 key are refused', async () => {
      for (const alg of ['HS384', 'HS512'] as const) {
        for (const type of ['access', 'refresh'] as const) {
          await refused(forge({ header: { alg, typ: 'JWT' }, payload: claims(USER_ID, type), key: TEST_KEY }), alg);
        }
      }
    });

    it('kid never selects a key: path traversal, empty-key and injection kids with attacker signatures are refused', async () => {
      const kids: [string, string][] = [
        ['../../../../../../dev/null', ''],
        ['/dev/null', ''],
        ['0', ''],
        ["x' UNION SELECT 'attacker-key", 'attacker-key'],
        ['attacker', ATTACKER_KEY],
      ];
      for (const [kid, key] of kids) {
        for (const type of ['access', 'refresh'] as const) {
          await refused(forge({ header: { alg: 'HS256', typ: 'JWT', kid }, payload: claims(USER_ID, type), key }), `kid ${kid}`);
        }
      }
    });

    describe('remote key URLs are never fetched', () => {
      let hits = 0;
      let keyServer: http.Server;
      let base = '';
      const jwks = { keys: [{ kty: 'oct', kid: 'k1', alg: 'HS256', k: Buffer.from(ATTACKER_KEY).toString('base64url') }] };
      before(async () => {
        keyServer = http.createServer((_req, res) => {
          hits++;
          res.setHeader('content-type', 'application/json');
          res.end(JSON.stringify(jwks));
        });
        await new Promise<void>((r) => keyServer.listen(0, '127.0.0.1', r));
        base = `http://127.0.0.1:${(keyServer.address() as AddressInfo).port}`;
      });
      after(() => new Promise<void>((r) => keyServer.close(() => r())));

      it('jku: a token pointing at an attacker JWKS is refused and the URL is never fetched', async () => {
        for (const type of ['access', 'refresh'] as const) {
          const t = forge({
            header: { alg: 'HS256', typ: 'JWT', jku: `${base}/jwks.json`, kid: 'k1' },
            payload: claims(USER_ID, type),
            key: ATTACKER_KEY,
          });
          await refused(t, 'jku');
        }
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(hits, 0, 'the server fetched the jku URL');
      });

      it('x5u: a token pointing at an attacker certificate URL is refused and the URL is never fetched', async () => {
        const before = hits;
        for (const type of ['access', 'refresh'] as const) {
          const t = forge({
            header: { alg: 'HS256', typ: 'JWT', x5u: `${base}/cert.pem` },
            payload: claims(USER_ID, type),
            key: ATTACKER_KEY,
          });
          await refused(t, 'x5u');
        }
        await new Promise((r) => setTimeout(r, 100));
        assert.equal(hits, before, 'the server fetched the x5u URL');
      });
    });

    it('jwk: a key embedded in the header is never trusted (HMAC oct key or RSA public key)', async () => {
      for (const type of ['access', 'refresh'] as const) {
        const oct = { kty: 'oct', k: Buffer.from(ATTACKER_KEY).toString('base64url') };
        await refused(
          forge({ header: { alg: 'HS256', typ: 'JWT', jwk: oct }, payload: claims(USER_ID, type), key: ATTACKER_KEY }),
          'jwk oct',
        );
      }
      // CVE-2018-0114 style: RS256 signed by the attacker's RSA key, public half embedded.
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      const header = { alg: 'RS256', typ: 'JWT', jwk: publicKey.export({ format: 'jwk' }) };
      const input = `${Buffer.from(JSON.stringify(header)).toString('base64url')}.${Buffer.from(JSON.stringify(claims(USER_ID, 'access'))).toString('base64url')}`;
      const sig = createSign('RSA-SHA256').update(input).sign(privateKey).toString('base64url');
      await refused(`${input}.${sig}`, 'jwk rsa');
    });

    it('x5c: a certificate chain embedded in the header is never trusted', async () => {
      const fakeCert = Buffer.from('not really a certificate, but an attacker would send one').toString('base64');
      for (const type of ['access', 'refresh'] as const) {
        await refused(
          forge({ header: { alg: 'HS256', typ: 'JWT', x5c: [fakeCert] }, payload: claims(USER_ID, type), key: ATTACKER_KEY }),
          'x5c',
        );
      }
    });

    it('an unknown critical header parameter (crit) is refused, even when correctly signed', async () => {
      const ext = 'urn:example:must-understand';
      // Baseline: the same header without crit is fine (unknown non-critical parameters are ignored).
      assert.equal(
        (await s.get('/api/protected-endpoint/', forge({ header: { alg: 'HS256', typ: 'JWT', [ext]: true }, payload: claims(USER_ID) })))
          .statusCode,
        200,
      );
      const crits: unknown[] = [[ext], [ext, 'b64'], 'urn:example:must-understand', [], [1], ['exp']];
      for (const crit of crits) {
        for (const type of ['access', 'refresh'] as const) {
          const header = { alg: 'HS256', typ: 'JWT', crit, [ext]: true, exp: 1 };
          await refused(forge({ header, payload: claims(USER_ID, type), key: TEST_KEY }), `crit ${JSON.stringify(crit)}`);
        }
      }
    });

    it('signature before claims: a forged token that is also expired / mistyped / user-less gets only the generic invalid message', async () => {
      const now = nowSeconds();
      const forgeries: [string, Record<string, unknown>][] = [
        ['expired', claims(USER_ID, 'refresh', { exp: now - 3600, iat: now - 7200 })],
        ['wrong type', claims(USER_ID, 'refresh', { token_type: 'admin' })],
        ['no type', claims(USER_ID, 'refresh', { token_type: undefined })],
        ['no jti', claims(USER_ID, 'refresh', { jti: undefined })],
        ['no user', claims(USER_ID, 'refresh', { user_id: undefined })],
        ['unknown user', claims(999_999, 'refresh')],
        ['future nbf', claims(USER_ID, 'refresh', { nbf: now + 3600 })],
      ];
      for (const [label, payload] of forgeries) {
        const token = forge({ payload, key: ATTACKER_KEY });
        const verify = await s.post('/api/token/verify/', { token });
        assert.equal(verify.statusCode, 401, `${label}: ${verify.body}`);
        assert.deepEqual(verify.json(), INVALID, `forged + ${label} leaked a claim check at verify`);
        const refresh = await s.post('/api/token/refresh/', { refresh: token });
        assert.equal(refresh.statusCode, 401, `${label}: ${refresh.body}`);
        assert.deepEqual(refresh.json(), INVALID, `forged + ${label} leaked a claim check at refresh`);
        const prot = await s.get(
          '/api/protected-endpoint/',
          forge({
            payload: { ...payload, token_type: payload.token_type === 'refresh' ? 'access' : payload.token_type },
            key: ATTACKER_KEY,
          }),
        );
        assert.equal(prot.statusCode, 401, `${label}: ${prot.body}`);
        const messages = (prot.json() as { messages?: { message: string }[] }).messages;
        assert.equal(
          messages?.[0]?.message,
          'Token is invalid or expired',
          `forged + ${label} leaked a claim check at the protected route: ${prot.body}`,
        );
      }
    });

    it('exp is required: a correctly signed token without exp (or with a non-numeric exp) is refused', async () => {
      for (const exp of [undefined, null, String(nowSeconds() + 300), 'Infinity', [nowSeconds() + 300], { n: 1 }, true]) {
        for (const type of ['access', 'refresh'] as const) {
          const payload = claims(USER_ID, type);
          if (exp === undefined) delete payload.exp;
          else payload.exp = exp;
          await refused(forge({ payload }), `exp ${JSON.stringify(exp)}`);
        }
      }
    });

    it('nbf is honoured: a correctly signed token not valid until the future is refused', async () => {
      for (const type of ['access', 'refresh'] as const) {
        await refused(forge({ payload: claims(USER_ID, type, { nbf: nowSeconds() + 3600 }) }), 'future nbf');
        await refused(forge({ payload: claims(USER_ID, type, { nbf: 'yesterday' }) }), 'non-numeric nbf');
      }
    });

    it('iat in the future is honoured: a correctly signed token issued tomorrow is refused', async () => {
      for (const type of ['access', 'refresh'] as const) {
        await refused(forge({ payload: claims(USER_ID, type, { iat: nowSeconds() + 86_400 }) }), 'future iat');
        await refused(forge({ payload: claims(USER_ID, type, { iat: 'now' }) }), 'non-numeric iat');
      }
    });

    it('a non-object payload (array, string, number, null, boolean, non-JSON) is refused with 401, not 500', async () => {
      const payloads: [unknown, boolean][] = [
        [[claims(USER_ID, 'access')], false],
        [[], false],
        ['access', false],
        [12345, false],
        [null, false],
        [true, false],
        ['not json at all', true],
        ['{"token_type":"access",', true],
        ['', true],
      ];
      for (const [payload, raw] of payloads) {
        await refused(forge({ payload, rawPayload: raw }), `payload ${JSON.stringify(payload)}`);
      }
    });

    it('wrong token type: a refresh token is refused as access, an access token is refused as refresh, other types everywhere', async () => {
      const refresh = forge({ payload: claims(USER_ID, 'refresh') });
      const prot = await s.get('/api/protected-endpoint/', refresh);
      assert.equal(prot.statusCode, 401, prot.body);
      assert.equal((prot.json() as { messages: { message: string }[] }).messages[0]!.message, 'Token has wrong type');
      const access = forge({ payload: claims(USER_ID, 'access') });
      const ref = await s.post('/api/token/refresh/', { refresh: access });
      assert.equal(ref.statusCode, 401, ref.body);
      assert.deepEqual(ref.json(), { detail: 'Token has wrong type', code: 'token_not_valid' });
      // Issued by the server itself, then presented in the wrong place.
      const pair = await s.service.issuePair(USER_ID);
      assert.equal((await s.get('/api/protected-endpoint/', pair.refresh)).statusCode, 401);
      assert.equal((await s.post('/api/token/refresh/', { refresh: pair.access })).statusCode, 401);
      for (const token_type of ['admin', 'ACCESS', 'Refresh', '', null, 1, ['access']]) {
        await refused(forge({ payload: claims(USER_ID, 'access', { token_type }) }), `token_type ${JSON.stringify(token_type)}`);
      }
    });

    it('user_id of the wrong type is refused with 401, not 500', async () => {
      const ids: unknown[] = [
        '7 OR 1=1',
        "7'; DROP TABLE users; --",
        { $gt: 0 },
        [7],
        7.5,
        -7,
        true,
        null,
        '',
        ' 7',
        '7\u0000',
        '\uFF17', // fullwidth 7
        1e308,
        Number.MAX_SAFE_INTEGER + 2,
        '99999999999999999999',
        '0x7',
      ];
      for (const id of ids) {
        for (const type of ['access', 'refresh'] as const) {
          await refused(forge({ payload: claims(id, type) }), `user_id ${JSON.stringify(id)}`);
        }
      }
    });

    it('an unknown user_id is refused with 401 user_not_found, not 500', async () => {
      const failures: string[] = [];
      for (const id of [999_999, '999999', 0, 2_147_483_647, 2_147_483_648, '999999999999999', Number.MAX_SAFE_INTEGER]) {
        for (const type of ['access', 'refresh'] as const) {
          try {
            const probes = await refused(forge({ payload: claims(id, type) }), `user_id ${JSON.stringify(id)} (${type})`);
            const accepted = probes.find((p) => p.where === (type === 'access' ? 'protected' : 'refresh'))!;
            assert.deepEqual(
              type === 'access' ? { detail: accepted.body.detail, code: accepted.body.code } : accepted.body,
              { detail: 'User not found', code: 'user_not_found' },
              `user_id ${JSON.stringify(id)} (${type})`,
            );
          } catch (err) {
            failures.push((err as Error).message.split('\n')[0]!);
          }
        }
      }
      assert.deepEqual(failures, []);
    });
  });
