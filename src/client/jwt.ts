// Reading a JWT's payload without verifying it, with browser APIs only
// (atob, TextDecoder): the client only needs `exp` and `iat` to decide when to
// refresh. The server verifies every token; nothing here is trusted.

export interface JwtTimes {
  /** Expiry, in seconds since the epoch. */
  exp?: number;
  /** Issue time, in seconds since the epoch. */
  iat?: number;
}

function base64UrlDecode(part: string): Uint8Array {
  const b64 = part.replace(/-/g, '+').replace(/_/g, '/');
  const padded = b64 + '='.repeat((4 - (b64.length % 4)) % 4);
  const bin = atob(padded);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  return bytes;
}

/** The payload of a compact JWS, or null if it is not one. Never throws. */
export function decodeJwtPayload(token: string): Record<string, unknown> | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts[1]) return null;
  try {
    const json: unknown = JSON.parse(new TextDecoder().decode(base64UrlDecode(parts[1])));
    return json !== null && typeof json === 'object' && !Array.isArray(json) ? (json as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** `exp` and `iat` of a token, when present and numeric. */
export function jwtTimes(token: string): JwtTimes {
  const p = decodeJwtPayload(token);
  const out: JwtTimes = {};
  if (p && typeof p.exp === 'number' && Number.isFinite(p.exp)) out.exp = p.exp;
  if (p && typeof p.iat === 'number' && Number.isFinite(p.iat)) out.iat = p.iat;
  return out;
}
