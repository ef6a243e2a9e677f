// Verifies password hashes that Django wrote, so that users imported from a
// Django site (`latchkey import-django`) log in with their old passwords and
// are rehashed to argon2id on the way in. Only verification: latchkey never
// writes these encodings.
//
// Every check runs off the event loop: PBKDF2 on libuv's thread pool through
// node:crypto's callback API, argon2 and bcrypt in their native bindings'
// thread pools. Anything not understood (an unknown algorithm, a malformed
// encoding, Django's unusable-password marker) is simply "no match": nothing
// here throws.
import { createHash, pbkdf2, timingSafeEqual } from 'node:crypto';
import { createRequire } from 'node:module';
import { verify as argon2Verify } from '@node-rs/argon2';
import type * as Bcrypt from '@node-rs/bcrypt';

/** bcrypt's native binding, loaded at the first bcrypt hash: most processes never see one. */
const bcryptVerify = (password: string, hash: string) =>
  (createRequire(import.meta.url)('@node-rs/bcrypt') as typeof Bcrypt).verify(password, hash);

/**
 * Django's PBKDF2 hashers: `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>`.
 * Django writes the iteration count with `%d` and compares whole encodings, so
 * only its own canonical spelling can match.
 */
const PBKDF2 = /^(pbkdf2_sha256|pbkdf2_sha1)\$([1-9][0-9]{0,9})\$([^$]+)\$([A-Za-z0-9+/]+={0,2})$/;
const PBKDF2_DIGEST = { pbkdf2_sha256: ['sha256', 32], pbkdf2_sha1: ['sha1', 20] } as const;

/**
 * Django's Argon2PasswordHasher: `argon2` followed by argon2-cffi's PHC string,
 * `argon2$argon2id$v=19$m=102400,t=2,p=8$<salt>$<hash>`. Older Django wrote
 * argon2i, and the oldest argon2-cffi left out `v=` (meaning version 0x10, as
 * @node-rs/argon2 also reads it).
 */
const ARGON2 = /^argon2(\$argon2(?:id|i|d)\$[^$]+\$[^$]+\$[^$]+(?:\$[^$]+)?)$/;

/**
 * Django's BCryptSHA256PasswordHasher (`bcrypt_sha256$$2b$12$...`, bcrypt over
 * the hex SHA-256 of the password) and BCryptPasswordHasher (`bcrypt$$2b$...`,
 * bcrypt over the password itself, truncated at 72 bytes by bcrypt).
 */
const BCRYPT = /^(bcrypt_sha256|bcrypt)\$(\$2[aby]\$[0-9]{2}\$[./A-Za-z0-9]{53})$/;

/** In a `u` regex a proper surrogate pair is one code point, so only lone halves match. */
const LONE_SURROGATE = /\p{Cs}/u;

/** Django's own iteration counts never come near this; node:crypto refuses more than 2^31 - 1. */
const MAX_PBKDF2_ITERATIONS = 0x7fffffff;

/**
 * True for the Django encodings verifyDjangoPassword understands (by their
 * algorithm prefix). False for Django's unusable-password marker (`!...`), for
 * latchkey's own `$argon2id$...` strings and for anything else.
 */
export function isDjangoEncoding(encoded: string): boolean {
  return /^(pbkdf2_sha256|pbkdf2_sha1|argon2|bcrypt_sha256|bcrypt)\$/.test(encoded);
}

/** True if `password` matches the Django-encoded hash `encoded`; false for anything else, never a throw. */
export async function verifyDjangoPassword(encoded: string, password: string): Promise<boolean> {
  try {
    if (typeof encoded !== 'string' || typeof password !== 'string') return false;
    // Django's unusable password (set_unusable_password) never matches.
    if (encoded.startsWith('!')) return false;
    // Python cannot encode a lone surrogate to UTF-8, so Django matches no such
    // password; Node would silently turn it into U+FFFD.
    if (LONE_SURROGATE.test(password)) return false;
    let m: RegExpExecArray | null;
    if ((m = PBKDF2.exec(encoded))) return await verifyPbkdf2(m[1] as keyof typeof PBKDF2_DIGEST, m[2]!, m[3]!, m[4]!, password);
    if ((m = ARGON2.exec(encoded))) return await argon2Verify(m[1]!, password);
    if ((m = BCRYPT.exec(encoded))) {
      const secret =
        m[1] === 'bcrypt_sha256'
          ? createHash('sha256').update(password, 'utf8').digest('hex') // one SHA-256: microseconds
          : password;
      // Python's bcrypt refuses NUL bytes, so Django matches no such password.
      if (secret.includes('\0')) return false;
      return await bcryptVerify(secret, m[2]!);
    }
    return false;
  } catch {
    return false;
  }
}

function verifyPbkdf2(
  algorithm: keyof typeof PBKDF2_DIGEST,
  iterationsText: string,
  salt: string,
  expected: string,
  password: string,
): Promise<boolean> {
  const iterations = Number(iterationsText);
  if (iterations > MAX_PBKDF2_ITERATIONS) return Promise.resolve(false);
  const [digest, length] = PBKDF2_DIGEST[algorithm];
  return new Promise((resolve) => {
    pbkdf2(Buffer.from(password, 'utf8'), Buffer.from(salt, 'utf8'), iterations, length, digest, (err, key) => {
      if (err) return resolve(false);
      // Django compares the whole re-encoded string; comparing the base64 text
      // the same way accepts exactly what Django accepts.
      const actual = Buffer.from(key.toString('base64'), 'latin1');
      const stored = Buffer.from(expected, 'latin1');
      resolve(actual.length === stored.length && timingSafeEqual(actual, stored));
    });
  });
}
