// The token model: checkClaims, a pure function tested with a frozen clock,
// and TokenFactory over the real JWT backend, fed tokens forged by hand with
// node:crypto so that nothing here trusts the library under test to build them.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import { loadConfig, MIN_HMAC_KEY_BYTES } from '../src/config.js';
import { ConfigError } from '../src/errors.js';
import { createJwtBackend } from '../src/jwt.js';
import { hmacKeys } from '../src/keys.js';
import { checkClaims, TOKEN_MESSAGES, TokenError, TokenFactory, type ClaimOptions, type TokenType } from '../src/tokens.js';
import { claimsOf, headerOf, tempDir } from './helpers.js';

/** A frozen clock, in seconds since the epoch. */
const NOW = 1_800_000_000;
const KEY = 'tokens-test-signing-key-0123456789abcdef';
const OTHER_KEY = 'another-signing-key-with-enough-bytes-0123';
const JTI = '0123456789abcdef0123456789abcdef';

const opts = (o: Partial<ClaimOptions> = {}): ClaimOptions => ({ now: NOW, leeway: 0, ...o });

/** Valid access-token claims at NOW, with overrides; `undefined` deletes a claim. */
function payload(over: Record<string, unknown> = {}): Record<string, unknown> {
  const p: Record<string, unknown> = { token_type: 'access', exp: NOW + 300, iat: NOW, jti: JTI, user_id: 1 };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) delete p[k];
    else p[k] = v;
  }
  return p;
}

/** Asserts that fn throws a TokenError with exactly this message. */
function refused(fn: () => unknown, message: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof TokenError, `expected a TokenError, got ${String(err)}`);
    assert.equal(err.message, message);
    return true;
  });
}

const INVALID = TOKEN_MESSAGES.invalid;

describe('checkClaims', () => {
  it('accepts valid claims and returns them', () => {
    const c = checkClaims(payload({ user_id: 7 }), 'access', opts());
    assert.equal(c.token_type, 'access');
    assert.equal(c.exp, NOW + 300);
    assert.equal(c.iat, NOW);
    assert.equal(c.jti, JTI);
    assert.equal(c.user_id, 7);
  });

  describe('exp', () => {
    it('is required', () => {
      refused(() => checkClaims(payload({ exp: undefined }), 'access', opts()), INVALID);
    });
    it('must be a number', () => {
      refused(() => checkClaims(payload({ exp: String(NOW + 300) }), 'access', opts()), INVALID);
      refused(() => checkClaims(payload({ exp: null }), 'access', opts()), INVALID);
    });
    it('in the past is refused', () => {
      refused(() => checkClaims(payload({ exp: NOW - 1 }), 'access', opts()), INVALID);
    });
    it('exactly now is refused', () => {
      refused(() => checkClaims(payload({ exp: NOW }), 'access', opts()), INVALID);
    });
    it('one second ahead is accepted', () => {
      assert.equal(checkClaims(payload({ exp: NOW + 1 }), 'access', opts()).exp, NOW + 1);
    });
    it('honours the leeway', () => {
      assert.equal(checkClaims(payload({ exp: NOW - 5 }), 'access', opts({ leeway: 10 })).exp, NOW - 5);
      assert.equal(checkClaims(payload({ exp: NOW - 9 }), 'access', opts({ leeway: 10 })).exp, NOW - 9);
      refused(() => checkClaims(payload({ exp: NOW - 10 }), 'access', opts({ leeway: 10 })), INVALID);
      refused(() => checkClaims(payload({ exp: NOW - 11 }), 'access', opts({ leeway: 10 })), INVALID);
    });
  });

  describe('nbf', () => {
    it('in the future is refused', () => {
      refused(() => checkClaims(payload({ nbf: NOW + 1 }), 'access', opts()), INVALID);
    });
    it('now or in the past is accepted', () => {
      assert.equal(checkClaims(payload({ nbf: NOW }), 'access', opts()).user_id, 1);
      assert.equal(checkClaims(payload({ nbf: NOW - 60 }), 'access', opts()).user_id, 1);
    });
    it('honours the leeway', () => {
      assert.equal(checkClaims(payload({ nbf: NOW + 10 }), 'access', opts({ leeway: 10 })).user_id, 1);
      refused(() => checkClaims(payload({ nbf: NOW + 11 }), 'access', opts({ leeway: 10 })), INVALID);
    });
    it('that is not a number is refused', () => {
      refused(() => checkClaims(payload({ nbf: 'soon' }), 'access', opts()), INVALID);
    });
  });

  describe('iat', () => {
    it('in the future is refused', () => {
      refused(() => checkClaims(payload({ iat: NOW + 1 }), 'access', opts()), INVALID);
    });
    it('honours the leeway', () => {
      assert.equal(checkClaims(payload({ iat: NOW + 10 }), 'access', opts({ leeway: 10 })).iat, NOW + 10);
      refused(() => checkClaims(payload({ iat: NOW + 11 }), 'access', opts({ leeway: 10 })), INVALID);
    });
    it('that is not a number is refused', () => {
      refused(() => checkClaims(payload({ iat: 'yesterday' }), 'access', opts()), INVALID);
    });
  });

  describe('token_type', () => {
    it('missing: "Token has no type"', () => {
      refused(() => checkClaims(payload({ token_type: undefined }), 'access', opts()), 'Token has no type');
      refused(() => checkClaims(payload({ token_type: undefined }), undefined, opts()), 'Token has no type');
    });
    it('unknown: "Token has wrong type"', () => {
      refused(() => checkClaims(payload({ token_type: 'bearer' }), undefined, opts()), 'Token has wrong type');
      refused(() => checkClaims(payload({ token_type: 'ACCESS' }), 'access', opts()), 'Token has wrong type');
    });
    it('not the one expected: "Token has wrong type"', () => {
      refused(() => checkClaims(payload({ token_type: 'refresh' }), 'access', opts()), 'Token has wrong type');
      refused(() => checkClaims(payload({ token_type: 'access' }), 'refresh', opts()), 'Token has wrong type');
    });
    it('either type is accepted when none is expected (verify)', () => {
      for (const t of ['access', 'refresh'] as TokenType[]) {
        assert.equal(checkClaims(payload({ token_type: t }), undefined, opts()).token_type, t);
      }
    });
  });

  describe('jti', () => {
    it('missing: "Token has no id"', () => {
      refused(() => checkClaims(payload({ jti: undefined }), 'access', opts()), 'Token has no id');
    });
    it('not a string, or empty: "Token has no id"', () => {
      refused(() => checkClaims(payload({ jti: 12345 }), 'access', opts()), 'Token has no id');
      refused(() => checkClaims(payload({ jti: '' }), 'access', opts()), 'Token has no id');
    });
  });

  describe('user_id', () => {
    it('as an integer is accepted', () => {
      const c = checkClaims(payload({ user_id: 42 }), 'access', opts());
      assert.equal(c.user_id, 42);
      assert.equal(typeof c.user_id, 'number');
    });
    it('as a string of digits (SimpleJWT 5.5.1 on) is accepted and returned as a number', () => {
      const c = checkClaims(payload({ user_id: '42' }), 'access', opts());
      assert.equal(c.user_id, 42);
      assert.equal(typeof c.user_id, 'number');
    });
    for (const bad of ['1 OR 1=1', -1, 1.5, null, {}, [1], '', ' 1', '1e3', '-1', '0x10', true, Number.NaN]) {
      it(`${JSON.stringify(bad)} is refused`, () => {
        refused(() => checkClaims(payload({ user_id: bad }), 'access', opts()), 'Token contained no recognizable user identification');
      });
    }
    it('missing is refused', () => {
      refused(() => checkClaims(payload({ user_id: undefined }), 'access', opts()), 'Token contained no recognizable user identification');
    });
  });

  describe('iss and aud', () => {
    it('are ignored when not configured', () => {
      assert.equal(checkClaims(payload({ iss: 'anyone', aud: 'anything' }), 'access', opts()).user_id, 1);
    });
    it('iss must match when configured', () => {
      const o = opts({ issuer: 'https://auth.example' });
      assert.equal(checkClaims(payload({ iss: 'https://auth.example' }), 'access', o).user_id, 1);
      refused(() => checkClaims(payload(), 'access', o), INVALID);
      refused(() => checkClaims(payload({ iss: 'https://evil.example' }), 'access', o), INVALID);
      refused(() => checkClaims(payload({ iss: ['https://auth.example'] }), 'access', o), INVALID);
    });
    it('aud must name the audience when configured, as a string or in a list', () => {
      const o = opts({ audience: 'api' });
      assert.equal(checkClaims(payload({ aud: 'api' }), 'access', o).user_id, 1);
      assert.equal(checkClaims(payload({ aud: ['other', 'api'] }), 'access', o).user_id, 1);
      refused(() => checkClaims(payload(), 'access', o), INVALID);
      refused(() => checkClaims(payload({ aud: 'other' }), 'access', o), INVALID);
      refused(() => checkClaims(payload({ aud: ['other'] }), 'access', o), INVALID);
      refused(() => checkClaims(payload({ aud: 'apix' }), 'access', o), INVALID);
    });
  });
});

// ---- forging -------------------------------------------------------------

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');

/** A compact JWS signed by hand with HMAC. `payloadJson` is sent as is. */
function forge(header: Record<string, unknown>, payloadJson: string, key: string, hash: 'sha256' | 'sha384' | 'sha512' = 'sha256'): string {
  const input = `${b64(header)}.${b64(payloadJson)}`;
  return `${input}.${createHmac(hash, key).update(input).digest('base64url')}`;
}

const HS256 = { alg: 'HS256', typ: 'JWT' };

describe('TokenFactory with the HS256 backend', () => {
  const factory = new TokenFactory(createJwtBackend({ keys: hmacKeys('HS256', KEY) }), {
    accessLifetime: 300,
    refreshLifetime: 86400,
    leeway: 0,
  });
  const check = (token: string, expected: TokenType | undefined = 'access', now = NOW) => factory.check(token, expected, now);

  it('mints access tokens with exactly SimpleJWT claims, in its order', () => {
    const { token } = factory.access(7, NOW);
    const c = claimsOf(token);
    assert.deepEqual(Object.keys(c), ['token_type', 'exp', 'iat', 'jti', 'user_id']);
    assert.equal(c.token_type, 'access');
    assert.equal(c.exp, NOW + 300);
    assert.equal(c.iat, NOW);
    assert.match(String(c.jti), /^[0-9a-f]{32}$/);
    assert.equal(c.user_id, 7);
    // SimpleJWT's header, plus the kid naming latchkey's key (issue 6: every token carries one).
    const { kid, ...header } = headerOf(token);
    assert.deepEqual(header, { alg: 'HS256', typ: 'JWT' });
    assert.equal(typeof kid, 'string');
    assert.ok((kid as string).length >= 8);
  });

  it('mints refresh tokens with exactly SimpleJWT claims, in its order', () => {
    const { token } = factory.refresh(7, NOW);
    const c = claimsOf(token);
    assert.deepEqual(Object.keys(c), ['token_type', 'exp', 'iat', 'jti', 'user_id']);
    assert.equal(c.token_type, 'refresh');
    assert.equal(c.exp, NOW + 86400);
    assert.equal(c.iat, NOW);
    assert.match(String(c.jti), /^[0-9a-f]{32}$/);
    assert.equal(c.user_id, 7);
  });

  it('gives every token its own jti', () => {
    const jtis = new Set(Array.from({ length: 50 }, () => claimsOf(factory.access(1, NOW).token).jti));
    assert.equal(jtis.size, 50);
  });

  it('mints jtis in time order, so new tokens append to the jti index (UUIDv7 in 32 hex characters)', () => {
    const jtis = Array.from({ length: 200 }, () => String(claimsOf(factory.refresh(1, NOW).token).jti));
    assert.deepEqual([...jtis].sort(), jtis, 'each jti sorts after the one before');
    for (const jti of jtis) assert.match(jti, /^[0-9a-f]{12}7[0-9a-f]{3}[89ab][0-9a-f]{15}$/);
    // The leading 48 bits are the minting time in milliseconds.
    const ms = parseInt(jtis[0]!.slice(0, 12), 16);
    assert.ok(Math.abs(ms - Date.now()) < 60_000, `jti time ${new Date(ms).toISOString()}`);
  });

  it('signs with HMAC-SHA256 under the configured key (a hand-made signature matches)', () => {
    const { token } = factory.access(7, NOW);
    const [h, p, sig] = token.split('.');
    assert.equal(sig, createHmac('sha256', KEY).update(`${h}.${p}`).digest('base64url'));
  });

  it('accepts its own tokens, and a hand-forged one under the right key', () => {
    assert.equal(check(factory.access(7, NOW).token).user_id, 7);
    assert.equal(check(factory.refresh(8, NOW).token, 'refresh').user_id, 8);
    assert.equal(check(forge(HS256, JSON.stringify(payload({ user_id: 9 })), KEY)).user_id, 9);
  });

  it('refuses a token signed with another key', () => {
    refused(() => check(forge(HS256, JSON.stringify(payload()), OTHER_KEY)), INVALID);
  });

  it('refuses a token whose payload was altered after signing', () => {
    const [h, , sig] = factory.access(7, NOW).token.split('.');
    refused(() => check(`${h}.${b64(payload({ user_id: 1 }))}.${sig}`), INVALID);
  });

  for (const alg of ['none', 'None', 'NONE', 'nOnE']) {
    it(`refuses alg "${alg}" with an empty signature`, () => {
      const token = `${b64({ alg, typ: 'JWT' })}.${b64(payload())}.`;
      refused(() => check(token), INVALID);
    });
  }

  it('refuses alg "none" even with a valid HS256 signature attached', () => {
    refused(() => check(forge({ alg: 'none', typ: 'JWT' }, JSON.stringify(payload()), KEY)), INVALID);
  });

  it('refuses an HS512 (and HS384) token signed with the same key when the server is HS256', () => {
    refused(() => check(forge({ alg: 'HS512', typ: 'JWT' }, JSON.stringify(payload()), KEY, 'sha512')), INVALID);
    refused(() => check(forge({ alg: 'HS384', typ: 'JWT' }, JSON.stringify(payload()), KEY, 'sha384')), INVALID);
  });

  it('refuses a header claiming HS256 over an HS512 signature', () => {
    refused(() => check(forge(HS256, JSON.stringify(payload()), KEY, 'sha512')), INVALID);
  });

  describe('checks the signature before any claim', () => {
    it('a forged token that is also expired gives the generic message', () => {
      refused(() => check(forge(HS256, JSON.stringify(payload({ exp: NOW - 10 })), OTHER_KEY)), INVALID);
    });
    // These claims alone would give a specific message; a bad signature must win.
    const cases: [string, Record<string, unknown>, string][] = [
      ['no type', { token_type: undefined }, TOKEN_MESSAGES.noType],
      ['wrong type', { token_type: 'refresh' }, TOKEN_MESSAGES.wrongType],
      ['no id', { jti: undefined }, TOKEN_MESSAGES.noId],
      ['bad user id', { user_id: '1 OR 1=1' }, TOKEN_MESSAGES.noUser],
    ];
    for (const [name, over, specific] of cases) {
      it(`a forged token with ${name} gives the generic message, not "${specific}"`, () => {
        // Control: correctly signed, the claim gives its specific message.
        refused(() => check(forge(HS256, JSON.stringify(payload(over)), KEY)), specific);
        refused(() => check(forge(HS256, JSON.stringify(payload(over)), OTHER_KEY)), INVALID);
      });
    }
  });

  const keyHeaders: Record<string, unknown> = {
    jku: 'https://attacker.example/jwks.json',
    jwk: { kty: 'oct', k: Buffer.from(KEY).toString('base64url') },
    x5u: 'https://attacker.example/cert.pem',
    x5c: ['MIIBszCCAVmgAwIBAgIUQ1Yd'],
  };
  for (const [name, value] of Object.entries(keyHeaders)) {
    it(`refuses a correctly signed token with a "${name}" header`, () => {
      refused(() => check(forge({ ...HS256, [name]: value }, JSON.stringify(payload()), KEY)), INVALID);
    });
  }

  it('accepts a correctly signed token with an unrelated extra header (control for the cases above and below)', () => {
    const header = { ...HS256, 'urn:example:must-understand': true };
    assert.equal(check(forge(header, JSON.stringify(payload()), KEY)).user_id, 1);
  });

  it('refuses a correctly signed token whose "crit" header names an unknown extension', () => {
    const header = { ...HS256, crit: ['urn:example:must-understand'], 'urn:example:must-understand': true };
    refused(() => check(forge(header, JSON.stringify(payload()), KEY)), INVALID);
  });

  for (const [name, json] of [
    ['a JSON array', JSON.stringify([payload()])],
    ['a JSON number', '1800000300'],
    ['a JSON string', JSON.stringify('access')],
    ['JSON null', 'null'],
    ['not JSON', 'token_type=access'],
  ] as const) {
    it(`refuses a correctly signed token whose payload is ${name}`, () => {
      refused(() => check(forge(HS256, json, KEY)), INVALID);
    });
  }

  for (const [name, token] of [
    ['an empty string', ''],
    ['one segment', 'abc'],
    ['two segments', `${b64(HS256)}.${b64(payload())}`],
    ['four segments', `${forge(HS256, JSON.stringify(payload()), KEY)}.x`],
    ['a header that is not JSON', `${b64('{alg')}.${b64(payload())}.sig`],
  ] as const) {
    it(`refuses a malformed token (${name}) with a TokenError`, () => {
      refused(() => check(token), INVALID);
    });
  }

  it('applies the claim checks to correctly signed tokens (expired, wrong type)', () => {
    const { token } = factory.access(7, NOW);
    assert.equal(check(token, 'access', NOW + 299).user_id, 7);
    refused(() => check(token, 'access', NOW + 300), INVALID);
    refused(() => check(token, 'refresh'), TOKEN_MESSAGES.wrongType);
  });

  it('with iss and aud configured, mints them and requires them', () => {
    const scoped = new TokenFactory(createJwtBackend({ keys: hmacKeys('HS256', KEY) }), {
      accessLifetime: 300,
      refreshLifetime: 86400,
      leeway: 0,
      issuer: 'https://auth.example',
      audience: 'api',
    });
    const { token } = scoped.access(7, NOW);
    const c = claimsOf(token);
    assert.equal(c.iss, 'https://auth.example');
    assert.equal(c.aud, 'api');
    assert.equal(scoped.check(token, 'access', NOW).user_id, 7);
    // A token from an unscoped factory on the same key is not for this audience.
    refused(() => scoped.check(factory.access(7, NOW).token, 'access', NOW), INVALID);
  });
});

describe('signing key length (loadConfig)', () => {
  const env = (key: string) => ({ LATCHKEY_DATA_DIR: tempDir(), LATCHKEY_SIGNING_KEY: key });

  it(`refuses an HMAC key shorter than ${MIN_HMAC_KEY_BYTES} bytes with a ConfigError`, () => {
    for (const key of ['secret', 'x'.repeat(MIN_HMAC_KEY_BYTES - 1)]) {
      assert.throws(
        () => loadConfig(env(key)),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
          assert.match(err.message, /LATCHKEY_SIGNING_KEY/);
          return true;
        },
      );
    }
  });

  it('counts bytes, not characters', () => {
    // 16 characters, 32 bytes in UTF-8.
    assert.equal(loadConfig(env('é'.repeat(16))).signingKey, 'é'.repeat(16));
    // 31 bytes.
    assert.throws(() => loadConfig(env(`${'é'.repeat(15)}x`)), ConfigError);
  });

  it(`accepts a key of exactly ${MIN_HMAC_KEY_BYTES} bytes`, () => {
    assert.equal(loadConfig(env('x'.repeat(MIN_HMAC_KEY_BYTES))).signingKey, 'x'.repeat(MIN_HMAC_KEY_BYTES));
  });
});
