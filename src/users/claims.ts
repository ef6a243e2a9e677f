// The user fields a token may carry as custom claims (LATCHKEY_TOKEN_CLAIMS, a
// preset's `claims`), as a SimpleJWT `get_token` override adds them: under the
// field's own name, after SimpleJWT's standard claims.
import { ConfigError } from '../errors.js';
import { SHOWN_FIELDS, type ShownField, type UserColumns } from './fields.js';

/** Every field a client may see; times are NumericDates (seconds since the epoch), as `exp` and `iat` are. */
export const CLAIM_FIELDS: readonly ShownField[] = SHOWN_FIELDS;
export type ClaimField = ShownField;

/** The claims of `fields` for a user, in the order given. */
export function claimValues(user: Pick<UserColumns, ClaimField>, fields: readonly ClaimField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) out[f] = user[f];
  return out;
}

/** The claims of `fields` that a token carries (a refresh for a user who is gone copies them from it). */
export function copiedClaims(claims: Readonly<Record<string, unknown>>, fields: readonly ClaimField[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) if (Object.hasOwn(claims, f)) out[f] = claims[f];
  return out;
}

/**
 * Refuses at startup a preset whose `claims` name a field that is not a claim
 * field, or that would overwrite a standard claim (the LATCHKEY_*_CLAIM names).
 */
export function checkPresetClaims(
  presets: readonly { id: string; claims?: readonly string[] | undefined }[],
  taken: readonly string[],
): void {
  for (const p of presets) {
    for (const c of p.claims ?? []) {
      if (!(CLAIM_FIELDS as readonly string[]).includes(c)) {
        throw new ConfigError(`preset "${p.id}": claims: \`${c}\` is not a user field; use ${CLAIM_FIELDS.join(', ')}`);
      }
      if (taken.includes(c)) {
        throw new ConfigError(`preset "${p.id}": claims: \`${c}\` is also the name of a standard claim (LATCHKEY_*_CLAIM); leave it out`);
      }
    }
  }
}
