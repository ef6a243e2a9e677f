// The token settings: rows of the settings table (src/config.ts) for the
// lifetimes, rotation and checks of tokens, what a token carries (custom claims, SimpleJWT's claim names and
// USER_ID_FIELD) and the sliding tokens, SimpleJWT's third type.
import { z } from 'zod';
import { bool, int, seconds, setting, type Done } from './config-kit.js';
import { ConfigError } from './errors.js';
import { CLAIM_FIELDS, type ClaimField } from './users/claims.js';

/** A comma-separated list, blanks dropped. */
const list = z.string().transform((v) =>
  v
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean),
);

/** A JSON object key a token may carry a claim under. */
const claimName = (fallback: string) =>
  z
    .string()
    .trim()
    .regex(/^[A-Za-z_][A-Za-z0-9_.:-]{0,63}$/, 'must be a claim name: a letter or _, then letters, digits, _ . : - (at most 64)')
    .default(fallback);

/** Claims every token (or a sliding one) has whatever the settings, which no setting may rename to. */
const FIXED_CLAIMS = ['exp', 'iat', 'nbf', 'iss', 'aud', 'refresh_exp'];

export const TOKEN_SETTINGS = [
  setting({ env: 'LATCHKEY_ACCESS_TOKEN_LIFETIME', key: 'accessTokenLifetime', schema: seconds.default(300), meaning: 'seconds' }),
  setting({ env: 'LATCHKEY_REFRESH_TOKEN_LIFETIME', key: 'refreshTokenLifetime', schema: seconds.default(86400), meaning: 'seconds' }),
  setting({
    env: 'LATCHKEY_REFRESH_FAMILY_LIFETIME',
    key: 'refreshFamilyLifetime',
    schema: seconds.default(30 * 86400),
    meaning: "seconds a login's rotation family may live, however often it rotates",
  }),
  setting({
    env: 'LATCHKEY_ROTATE_REFRESH_TOKENS',
    key: 'rotateRefreshTokens',
    // Undefined means: each preset decides.
    schema: bool.optional(),
    shown: 'per preset (`auth-root` on, others off)',
    meaning: '`on`/`off`: rotate refresh tokens on every refresh',
  }),
  setting({
    env: 'LATCHKEY_ROTATION_REUSE_INTERVAL',
    key: 'rotationReuseInterval',
    schema: int(0, 3600, 'must be a whole number of seconds from 0 to 3600').default(10),
    meaning:
      'seconds after a rotation in which the rotated refresh token, presented again, gets the same new pair back instead of revoking its family (a retry after a lost response); 0 turns it off',
  }),
  setting({ env: 'LATCHKEY_ISSUER', key: 'issuer', schema: z.string().min(1).optional(), meaning: 'add and require `iss`' }),
  setting({ env: 'LATCHKEY_AUDIENCE', key: 'audience', schema: z.string().min(1).optional(), meaning: 'add and require `aud`' }),
  setting({
    env: 'LATCHKEY_LEEWAY',
    key: 'leeway',
    schema: int(0, 3600).default(0),
    meaning: 'seconds of clock skew allowed on `exp`, `nbf`, `iat`',
  }),
  setting({
    env: 'LATCHKEY_USER_ID_FIELD',
    key: 'userIdField',
    schema: z.enum(['id', 'username'], { message: 'must be id or username' }).default('id'),
    meaning:
      "the user field a token names its user by (SimpleJWT's `USER_ID_FIELD`): `id`, or `username` (the claim then carries the username, and users are looked up by it)",
  }),
  setting({
    env: 'LATCHKEY_USER_ID_CLAIM',
    key: 'userIdClaim',
    schema: claimName('user_id'),
    meaning: "the claim that carries the user (SimpleJWT's `USER_ID_CLAIM`)",
  }),
  setting({
    env: 'LATCHKEY_TOKEN_TYPE_CLAIM',
    key: 'tokenTypeClaim',
    schema: claimName('token_type'),
    meaning: "the claim that carries the token type (SimpleJWT's `TOKEN_TYPE_CLAIM`)",
  }),
  setting({
    env: 'LATCHKEY_JTI_CLAIM',
    key: 'jtiClaim',
    schema: claimName('jti'),
    resolve: (v: string, done: Done): string => {
      const names = [done.userIdClaim as string, done.tokenTypeClaim as string, v];
      const clash = names.find((n, i) => names.indexOf(n) !== i || FIXED_CLAIMS.includes(n));
      if (clash !== undefined) {
        throw new ConfigError(
          `LATCHKEY_USER_ID_CLAIM, LATCHKEY_TOKEN_TYPE_CLAIM, LATCHKEY_JTI_CLAIM: \`${clash}\` is named twice or is one of ${FIXED_CLAIMS.join(', ')}; give each claim its own name`,
        );
      }
      return v;
    },
    meaning: "the claim that carries the token's id (SimpleJWT's `JTI_CLAIM`)",
  }),
  setting({
    env: 'LATCHKEY_TOKEN_CLAIMS',
    key: 'tokenClaims',
    schema: list
      .refine((names) => names.every((n) => (CLAIM_FIELDS as readonly string[]).includes(n)), {
        message: `must be user fields, comma-separated: ${CLAIM_FIELDS.join(', ')}`,
      })
      .optional(),
    resolve: (v: string[] | undefined, done: Done): readonly ClaimField[] => {
      const claims = [...new Set(v ?? [])] as ClaimField[];
      const taken = [done.userIdClaim, done.tokenTypeClaim, done.jtiClaim];
      const clash = claims.find((c) => taken.includes(c));
      if (clash !== undefined) {
        throw new ConfigError(`LATCHKEY_TOKEN_CLAIMS: \`${clash}\` is also the name of a standard claim (LATCHKEY_*_CLAIM); leave it out`);
      }
      return claims;
    },
    shown: 'no custom claims',
    meaning:
      "user fields added to every token as claims of the same name (as a SimpleJWT `get_token` override does), e.g. `username,email,is_staff`; a preset's `claims` replace them on its routes; refreshed from the user's current values on every refresh",
  }),
  setting({
    env: 'LATCHKEY_AUTH_TOKEN_CLASSES',
    key: 'authTokenClasses',
    schema: list
      .refine((types) => types.length > 0 && types.every((t) => t === 'access' || t === 'sliding'), {
        message: 'must be access, sliding, or both, comma-separated',
      })
      .optional(),
    resolve: (v: string[] | undefined): readonly ('access' | 'sliding')[] => [...new Set(v ?? ['access'])] as ('access' | 'sliding')[],
    shown: '`access`',
    meaning: "the token types a protected route accepts as a Bearer token (SimpleJWT's `AUTH_TOKEN_CLASSES`): `access`, `sliding`, or both",
  }),
  setting({
    env: 'LATCHKEY_SLIDING_TOKEN_LIFETIME',
    key: 'slidingTokenLifetime',
    schema: seconds.default(300),
    meaning: "seconds a sliding token is valid from its last refresh, its `exp` (SimpleJWT's `SLIDING_TOKEN_LIFETIME`)",
  }),
  setting({
    env: 'LATCHKEY_SLIDING_TOKEN_REFRESH_LIFETIME',
    key: 'slidingTokenRefreshLifetime',
    schema: seconds.default(86400),
    meaning:
      "seconds from login in which a sliding token may be refreshed, its `refresh_exp` (SimpleJWT's `SLIDING_TOKEN_REFRESH_LIFETIME`)",
  }),
] as const;
