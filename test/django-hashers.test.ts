// Django's password encodings, verified off the event loop: every hash the
// real Django wrote into the fixtures matches its password and nothing else,
// and malformed or unknown encodings are "no match", never a throw.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDjangoEncoding, verifyDjangoPassword } from '../src/django-hashers.js';
import { FIXTURES } from './helpers.js';

const HASHES = FIXTURES.django_password_hashes;
const byHasher = (h: string) => HASHES.find((x) => x.hasher === h)!;

describe('django hashers: the fixtures Django wrote', () => {
  it('cover pbkdf2_sha256, pbkdf2_sha1, argon2 and bcrypt_sha256', () => {
    assert.deepEqual([...new Set(HASHES.map((h) => h.hasher))].sort(), ['argon2', 'bcrypt_sha256', 'pbkdf2_sha1', 'pbkdf2_sha256']);
  });

  for (const [i, h] of HASHES.entries()) {
    it(`#${i} ${h.hasher}: matches its password and no other`, async () => {
      assert.equal(isDjangoEncoding(h.encoded), true);
      assert.equal(await verifyDjangoPassword(h.encoded, h.password), true);
      assert.equal(await verifyDjangoPassword(h.encoded, `${h.password}x`), false);
      assert.equal(await verifyDjangoPassword(h.encoded, h.password.slice(0, -1)), false);
      assert.equal(await verifyDjangoPassword(h.encoded, h.password.toUpperCase()), false);
      assert.equal(await verifyDjangoPassword(h.encoded, ''), false);
    });
  }

  it('passwords are compared as UTF-8, as Django encodes them', async () => {
    const h = HASHES.find((x) => /\P{ASCII}/u.test(x.password))!;
    assert.ok(h, 'a fixture with a non-ASCII password');
    assert.equal(await verifyDjangoPassword(h.encoded, h.password), true);
    assert.equal(await verifyDjangoPassword(h.encoded, h.password.normalize('NFD')), false); // different bytes
    assert.equal(await verifyDjangoPassword(h.encoded, Buffer.from(h.password, 'utf8').toString('latin1')), false);
  });

  it('a different salt, iteration count or hash does not match', async () => {
    const { encoded, password } = byHasher('pbkdf2_sha256');
    const [alg, iter, salt, hash] = encoded.split('$') as [string, string, string, string];
    assert.equal(await verifyDjangoPassword([alg, iter, `${salt}x`, hash].join('$'), password), false);
    assert.equal(await verifyDjangoPassword([alg, String(Number(iter) - 1), salt, hash].join('$'), password), false);
    assert.equal(await verifyDjangoPassword([alg, iter, salt, `A${hash.slice(1)}`].join('$'), password), false);
    // The same hash under the other digest's name.
    assert.equal(await verifyDjangoPassword(['pbkdf2_sha1', iter, salt, hash].join('$'), password), false);
    // Django compares whole encodings: a leading zero in the count is not Django's spelling.
    assert.equal(await verifyDjangoPassword([alg, `0${iter}`, salt, hash].join('$'), password), false);
  });

  it('argon2: the PHC string after "argon2" is what is verified; a bare PHC string is not a Django encoding', async () => {
    const { encoded, password } = byHasher('argon2');
    const phc = encoded.slice('argon2'.length);
    assert.equal(isDjangoEncoding(phc), false);
    assert.equal(await verifyDjangoPassword(phc, password), false);
    assert.equal(await verifyDjangoPassword(encoded.replace('m=102400', 'm=102401'), password), false);
  });

  it('bcrypt_sha256 is bcrypt over the hex SHA-256, not over the password itself', async () => {
    const { encoded, password } = byHasher('bcrypt_sha256');
    assert.equal(await verifyDjangoPassword(encoded.replace(/^bcrypt_sha256\$/, 'bcrypt$'), password), false);
  });
});

// Made with the Debian python3-argon2 (argon2-cffi) and python3-bcrypt that
// Django's hashers call, at low cost; `argon2$...` and `bcrypt$...` as Django
// writes them around those libraries' output.
const PW = 'correct horse battery staple';
const SALT = 'c2FsdHNhbHRzYWx0MTIzNA';
const MORE: [string, string, string][] = [
  // [what, encoded, password]
  ['argon2i v=19 (older Django default)', `argon2$argon2i$v=19$m=64,t=1,p=1$${SALT}$VrzpYULyV1ScXou+iMa3Tw`, PW],
  ['argon2id v=16', `argon2$argon2id$v=16$m=64,t=1,p=1$${SALT}$QO0maKAhaWGbOaLJV7rxQg`, PW],
  ['argon2i without v= (oldest argon2-cffi: version 0x10)', `argon2$argon2i$m=64,t=1,p=1$${SALT}$IU8sG53BrebDzpqmesEKGg`, PW],
  ['argon2d v=19', `argon2$argon2d$v=19$m=64,t=1,p=1$${SALT}$YBOP8XdnvS5chrWy2AxglA`, PW],
  // bcrypt (BCryptPasswordHasher): the password itself, which bcrypt cuts at 72 bytes.
  ['bcrypt, 80 bytes cut to 72', 'bcrypt$$2b$04$2VTJPtiTtJ74doSTJ/0sM.QGsnSfS3JJBPymfDdcSfTeyMHt2.uxC', 'x'.repeat(80)],
];

describe('django hashers: older and rarer encodings', () => {
  for (const [what, encoded, password] of MORE) {
    it(`${what}: matches its password and no other`, async () => {
      assert.equal(isDjangoEncoding(encoded), true);
      assert.equal(await verifyDjangoPassword(encoded, password), true);
      assert.equal(await verifyDjangoPassword(encoded, `${password.slice(0, 10)}-wrong`), false);
    });
  }

  it('argon2 without v= means version 0x10: a version-0x13 hash with its v= removed does not match', async () => {
    assert.equal(await verifyDjangoPassword(`argon2$argon2i$m=64,t=1,p=1$${SALT}$VrzpYULyV1ScXou+iMa3Tw`, PW), false);
  });
});

describe('django hashers: what never matches', () => {
  const { encoded: pbkdf2, password } = byHasher('pbkdf2_sha256');
  const cases: [string, string][] = [
    ['empty', ''],
    ['unusable password marker', '!Xk2eYJ1w6hYkJ6Kp0a3nWc9bTq1zLr8vUe5sDf7g'],
    ['unusable marker in front of a real hash', `!${pbkdf2}`],
    ['unknown algorithm', 'scrypt$16384$salt$8$1$aGFzaA=='],
    ['Django legacy sha1', 'sha1$salt$2a7a0b5b6d2c9d1a1b0c2f1f4d2e9b1c6f0a8d3e'],
    ['Django legacy md5', 'md5$salt$5f4dcc3b5aa765d61d8327deb882cf99'],
    ['unsalted md5', '5f4dcc3b5aa765d61d8327deb882cf99'],
    ['latchkey argon2id PHC string', '$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaA'],
    ['pbkdf2 with no hash', 'pbkdf2_sha256$260000$salt$'],
    ['pbkdf2 with too few parts', 'pbkdf2_sha256$260000$salt'],
    ['pbkdf2 with too many parts', `${pbkdf2}$extra`],
    ['pbkdf2 with zero iterations', 'pbkdf2_sha256$0$salt$V1bqw3pVgiquRtBSYM/u9pQn/T3UipO/xZHPjbOAJ5I='],
    ['pbkdf2 with a non-numeric count', 'pbkdf2_sha256$abc$salt$V1bqw3pVgiquRtBSYM/u9pQn/T3UipO/xZHPjbOAJ5I='],
    ['pbkdf2 with a count beyond 2^31', 'pbkdf2_sha256$9999999999$salt$V1bqw3pVgiquRtBSYM/u9pQn/T3UipO/xZHPjbOAJ5I='],
    ['pbkdf2 with a negative count', 'pbkdf2_sha256$-5$salt$V1bqw3pVgiquRtBSYM/u9pQn/T3UipO/xZHPjbOAJ5I='],
    ['pbkdf2 with an empty salt', 'pbkdf2_sha256$260000$$V1bqw3pVgiquRtBSYM/u9pQn/T3UipO/xZHPjbOAJ5I='],
    ['pbkdf2 with non-base64 hash', 'pbkdf2_sha256$260000$salt$not*base64!'],
    ['pbkdf2 with a short hash', 'pbkdf2_sha256$1$salt$AAAA'],
    ['argon2 with nothing after it', 'argon2$'],
    ['argon2 with an unknown variant', 'argon2$argon2x$v=19$m=64,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g'],
    ['argon2 with garbage parameters', 'argon2$argon2id$v=19$m=abc,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g'],
    ['argon2 with absurd memory', 'argon2$argon2id$v=19$m=99999999999,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g'],
    ['argon2 with a bad base64 salt', 'argon2$argon2id$v=19$m=64,t=1,p=1$!!!$aGFzaGhhc2g'],
    ['bcrypt_sha256 with no bcrypt hash', 'bcrypt_sha256$'],
    ['bcrypt_sha256 with a truncated hash', 'bcrypt_sha256$$2b$12$LlDdaNmDyj6qLp/jIMGgHu'],
    ['bcrypt_sha256 with a bad cost', 'bcrypt_sha256$$2b$99$LlDdaNmDyj6qLp/jIMGgHubyx2tehzl/CO1yrP.zIv6fWl0nN7K3K'],
    ['bcrypt_sha256 with an unknown prefix', 'bcrypt_sha256$$2q$12$LlDdaNmDyj6qLp/jIMGgHubyx2tehzl/CO1yrP.zIv6fWl0nN7K3K'],
    ['bcrypt_sha256 without its empty field', 'bcrypt_sha256$2b$12$LlDdaNmDyj6qLp/jIMGgHubyx2tehzl/CO1yrP.zIv6fWl0nN7K3K'],
    ['whitespace around a valid hash', ` ${pbkdf2} `],
  ];
  for (const [what, encoded] of cases) {
    it(`${what} → false`, async () => {
      assert.equal(await verifyDjangoPassword(encoded, password), false);
      assert.equal(await verifyDjangoPassword(encoded, ''), false);
    });
  }

  it('unusable passwords and unknown encodings are not Django encodings (so they cost the dummy hash)', () => {
    assert.equal(isDjangoEncoding('!Xk2eYJ1w6hYkJ6Kp0a3nWc9bTq1zLr8vUe5sDf7g'), false);
    assert.equal(isDjangoEncoding('sha1$salt$abc'), false);
    assert.equal(isDjangoEncoding('$argon2id$v=19$m=19456,t=2,p=1$x$y'), false);
    assert.equal(isDjangoEncoding(''), false);
  });

  it('a password with a lone surrogate (not encodable as UTF-8, which Django refuses) never matches', async () => {
    const withFffd = byHasher('pbkdf2_sha256');
    assert.equal(await verifyDjangoPassword(withFffd.encoded, `${withFffd.password}\ud800`), false);
  });

  it('non-string inputs are "no match", not a throw', async () => {
    assert.equal(await verifyDjangoPassword(undefined as unknown as string, 'x'), false);
    assert.equal(await verifyDjangoPassword(pbkdf2, null as unknown as string), false);
  });

  it('verification runs off the event loop: a timer still fires while PBKDF2 (260,000 rounds) runs', async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 1);
    try {
      assert.equal(await verifyDjangoPassword(pbkdf2, password), true);
    } finally {
      clearInterval(timer);
    }
    assert.ok(ticks > 0, 'the event loop was blocked for the whole verification');
  });
});
