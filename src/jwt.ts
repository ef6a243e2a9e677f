// The only file that calls the JWT library. It signs with the current key,
// naming it in the `kid` header, and checks signatures with the key a token
// names, each key pinned to its own algorithm. Every library failure becomes
// one TokenBackendError. Claims (exp, nbf, iat, token_type...) are checked by
// tokens.ts, not here, so that the signature always comes before claims.
import { createSigner, createVerifier, TokenError } from 'fast-jwt';
import { boundedCache } from './bounded-cache.js';
import type { Algorithm } from './config.js';
import type { Key, KeySet } from './keys.js';
import { REFUSED_JWT_HEADERS } from '@latchkey/verify/wire';

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
  /** The key set decode() checks signatures with now (another one after a rotation or a reload). */
  readonly keys: KeySet;
}

/** Where the keys come from: a fixed set, or a KeyRing that reloads. */
export interface KeySource {
  readonly keys: KeySet;
}

type Verify = (token: string) => { header: Record<string, unknown>; payload: unknown };

/** The `kid` of a compact JWS, read from its header without verifying anything. */
function kidOf(token: string): string | undefined {
  const dot = token.indexOf('.');
  if (dot <= 0) return undefined;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, dot), 'base64url').toString('utf8')) as unknown;
    const kid = (header as { kid?: unknown } | null)?.kid;
    return typeof kid === 'string' ? kid : undefined;
  } catch {
    return undefined;
  }
}

export interface JwtBackendOptions {
  /**
   * Which verified payloads to remember (default: all). A token presented
   * again and again (an access token) is worth remembering; one used once (a
   * refresh token under rotation) would only push the others out, and fill the
   * heap with entries that live just long enough to be promoted.
   */
  remember?: (payload: Readonly<Record<string, unknown>>) => boolean;
}

export function createJwtBackend(source: KeySource, opts: JwtBackendOptions = {}): JwtBackend {
  const remember = opts.remember ?? (() => true);
  // Signers and verifiers are built once per key set, and again after a rotation.
  let built: KeySet | undefined;
  let signer: (payload: Record<string, unknown>) => string = () => '';
  let verifiers = new Map<string, Verify>();
  const verifierFor = (key: Key): Verify =>
    createVerifier({
      key: key.verifyingKey,
      algorithms: [key.algorithm], // pinned per key
      complete: true,
      // tokens.ts checks every time claim in one place.
      ignoreExpiration: true,
      ignoreNotBefore: true,
    }) as Verify;
  const build = () => {
    const set = source.keys;
    if (set === built) return set;
    built = set;
    // The payload carries its own iat and exp (tokens.ts); the signer keeps them.
    signer = createSigner({ key: set.current.signingKey, algorithm: set.current.algorithm, kid: set.current.kid });
    verifiers = new Map([...set.byKid].map(([kid, key]) => [kid, verifierFor(key)]));
    verified.clear();
    return set;
  };
  // Payloads of tokens whose signature already checked out, keyed by the exact
  // token string (so two tokens can never share an entry). Only the signature
  // is remembered: tokens.ts checks every claim, and the service the blacklist
  // and the user, on every call, so expiry and revocation always win. Inside a
  // request this measured about 20 µs cheaper than verifying again. fast-jwt's
  // own cache keys entries by a hash of the token, which cost more than it saved.
  const verified = boundedCache<string, Readonly<Record<string, unknown>>>(10_000);
  build();

  return {
    get algorithm() {
      return build().current.algorithm;
    },
    get keys() {
      return build();
    },
    sign: (payload) => {
      build();
      return signer(payload);
    },
    decode(token) {
      const set = build();
      const hit = verified.get(token);
      if (hit) return hit;
      // The token names its key; one without a kid (minted by SimpleJWT, or
      // before kids) can only be checked against the current key.
      const kid = kidOf(token);
      const verify = kid === undefined ? verifiers.get(set.current.kid) : verifiers.get(kid);
      if (!verify) throw new TokenBackendError();
      let decoded: { header: Record<string, unknown>; payload: unknown };
      try {
        decoded = verify(token);
      } catch (err) {
        if (err instanceof TokenError) throw new TokenBackendError(undefined, { cause: err });
        throw err;
      }
      // Key-bearing and extension headers (@latchkey/verify/wire): the same list the verifier refuses.
      for (const h of REFUSED_JWT_HEADERS) if (Object.hasOwn(decoded.header, h)) throw new TokenBackendError();
      const payload = decoded.payload;
      if (payload === null || typeof payload !== 'object' || Array.isArray(payload)) throw new TokenBackendError();
      const frozen = Object.freeze(payload as Record<string, unknown>);
      if (remember(frozen)) verified.set(token, frozen);
      return frozen;
    },
  };
}
