// One connection's last Authorization header, for TokenService.cachedCaller.
//
// A client on a kept-alive connection sends the same header with every
// request. Checking its token again found the signature in jwt.ts's cache of
// verified tokens, but that cache is keyed by the token string, and a header
// that arrives is a new string each time, whose hash (all of its 200 or so
// characters) had to be computed for the lookup; then checkClaims copied the
// payload into new claims. On the protected GET that was most of what the auth
// check cost. Here the header is compared with the last one taken on the
// connection instead (equal strings: the same token, so the same signature
// and the same payload), and only the checks that can change for a token that
// passed them all are made again:
//   - its time claims, exp, nbf and iat, against the clock now (TokenFactory.inTime);
//   - the key set: a token checked under other keys (a rotation, a reload) is checked again.
// The user is checked on every request by the caller, as before (revocation,
// deactivation, a changed password), and anything that fails goes through
// the whole check again, which decides.
import type { TokenClaims, TokenFactory } from '../tokens.js';

export class HeaderMemo {
  private header: string | undefined = undefined;
  private types: readonly string[] | undefined = undefined;
  private keys: object | undefined = undefined;
  private kept: TokenClaims | undefined = undefined;

  /**
   * The claims of the token in `header`: `check(header, types)`'s, or, for the
   * header it last gave claims for, those same claims while they are in time
   * and the keys are the ones they were checked under.
   */
  claims(
    header: string,
    types: readonly string[] | undefined,
    tokens: TokenFactory,
    now: number,
    check: (header: string, types: readonly string[] | undefined) => TokenClaims | undefined,
  ): TokenClaims | undefined {
    // The keys before the check: keys that change during it make the next request check again.
    const keys = tokens.keys;
    const kept = this.kept;
    if (kept !== undefined && header === this.header && types === this.types && keys === this.keys && tokens.inTime(kept, now)) {
      return kept;
    }
    const claims = check(header, types);
    if (claims !== undefined) {
      this.header = header;
      this.types = types;
      this.keys = keys;
      this.kept = claims;
    }
    return claims;
  }
}
