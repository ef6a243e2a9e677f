// @latchkey/verify (also importable as latchkey/verify from the server
// package): checks latchkey's access tokens inside other services, without
// calling latchkey. Its one run-time dependency is jose.
//
//   import { createVerifier, fastifyAuth } from '@latchkey/verify';
//   const verifier = createVerifier({ jwksUrl: 'https://auth.example.com/.well-known/jwks.json' });
//   const claims = await verifier.verify(token);          // or
//   app.addHook('onRequest', fastifyAuth(verifier));       // request.user = claims
//
// Keys. With `jwksUrl` (LATCHKEY_ALGORITHM EdDSA, ES256 or RS256) the public
// keys are fetched from latchkey's JWKS and cached; a token naming a `kid`
// not in the cache makes it fetch the set again (at most once per cooldown),
// so a `latchkey keys rotate` is picked up with no restart, and tokens signed
// by the retired key keep verifying while latchkey still publishes it. With
// `secret` (HS256/384/512) it uses the shared key, which latchkey never
// publishes. The algorithms are pinned either way, and tokens that carry
// their own key (jku, jwk, x5u, x5c) or a `crit` header are refused.
//
// Claims. After the signature, the claims go through latchkey's own
// checkClaims (claims.ts, which the server runs too): exp required, nbf
// honoured, no iat in the future, token_type must be `access`, user_id an
// integer or a string of digits (returned as a number), iss and aud when
// configured. A latchkey (or SimpleJWT) with other claim settings is
// verified with the same options: `userIdClaim`, `tokenTypeClaim`,
// `jtiClaim`, `userId: 'string'` (USER_ID_FIELD other than id) and
// `tokenTypes: ['access', 'sliding']` (AUTH_TOKEN_CLASSES).
//
// Stateless. The verifier sees the signature and the claims, nothing else:
// not the blacklist, not logouts, not password changes, not deactivated or
// deleted users. Those take effect at the token's next refresh, that is,
// within the access-token lifetime (LATCHKEY_ACCESS_TOKEN_LIFETIME, 5 minutes
// by default). A service that must see them at once should ask latchkey
// (POST /api/token/verify/ or a protected route) instead.
//
// Answers. Failures are VerifyErrors carrying the status, body and headers
// latchkey and DRF + SimpleJWT give on a protected route (401 with
// WWW-Authenticate: Bearer realm="api"). When the JWKS cannot be fetched the
// verifier fails closed with a 503, never by accepting.

export { createVerifier, bearerToken } from './verifier.js';
export type {
  AsymmetricAlgorithm,
  AuthTokenType,
  CommonOptions,
  HmacAlgorithm,
  JwksOptions,
  SecretOptions,
  Verifier,
  VerifyAlgorithm,
} from './verifier.js';
export { VerifyError, isVerifyError, WWW_AUTHENTICATE } from './errors.js';
export type { VerifyErrorBody, VerifyErrorCode, VerifyTokenMessage } from './errors.js';
export { authenticateRequest, errorResponse, expressAuth, fastifyAuth } from './adapters.js';
export type { AuthenticatedFastifyRequest, ExpressLikeRequest, ExpressLikeResponse } from './adapters.js';
export type { ClaimNames, Claims } from './claims.js';
