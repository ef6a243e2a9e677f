// User-field validation with DRF's and Django's own messages. Pure functions:
// each returns the field errors it found, and the service decides what to do.
import validator from 'validator';
import { FIELD_MESSAGES, type FieldErrors } from './errors.js';

/** Django's UnicodeUsernameValidator: letters, digits and @/./+/-/_ only. */
const USERNAME = /^[\p{L}\p{N}_.@+-]+$/u;
/** E.164: a plus, a non-zero country digit, at most 15 digits in all. */
const E164 = /^\+[1-9][0-9]{1,14}$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Django normalizes usernames to NFKC, so "ﬁ" and "fi" are one username. */
export const normalizeUsername = (u: string): string => u.normalize('NFKC');

export function usernameErrors(username: string): string[] {
  if (username.length > 150) return [FIELD_MESSAGES.maxLength(150)];
  return USERNAME.test(username) ? [] : [FIELD_MESSAGES.username];
}

export const isE164 = (phone: string): boolean => E164.test(phone);

/** A real calendar date in YYYY-MM-DD, not after `today` (also YYYY-MM-DD, UTC). */
export function birthdateErrors(value: string, today: string): string[] {
  const m = ISO_DATE.exec(value);
  if (!m) return [FIELD_MESSAGES.date];
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const date = new Date(Date.UTC(y, mo - 1, d));
  if (y < 1 || date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    return [FIELD_MESSAGES.date];
  }
  return value > today ? [FIELD_MESSAGES.futureDate] : [];
}

/** Django's EmailValidator has no length limit of its own: the field's maximum (254) is checked apart. */
export const emailErrors = (email: string): string[] =>
  email === '' || validator.isEmail(email, { allow_utf8_local_part: true, require_tld: true, ignore_max_length: true })
    ? []
    : [FIELD_MESSAGES.email];

/** Collects errors per field, dropping fields with none. */
export function collect(entries: Record<string, string[]>): FieldErrors | undefined {
  const out: FieldErrors = {};
  for (const [field, errs] of Object.entries(entries)) if (errs.length) out[field] = errs;
  return Object.keys(out).length ? out : undefined;
}

/** DRF's messages (Django's ProhibitNullCharactersValidator, DRF's ProhibitSurrogateCharactersValidator). */
export const TEXT_MESSAGES = {
  nullCharacters: 'Null characters are not allowed.',
  surrogate: (codePoint: number) => `Surrogate characters are not allowed: U+${codePoint.toString(16).toUpperCase()}.`,
} as const;

/** What DRF says of a text value that fails TEXT_PATTERN: each validator's message, in DRF's order. */
export function textErrors(value: string): string[] {
  const errors: string[] = [];
  if (value.includes('\u0000')) errors.push(TEXT_MESSAGES.nullCharacters);
  // DRF reports the first lone surrogate. Iterating by code point, a pair is one step.
  for (const ch of value) {
    const cp = ch.codePointAt(0)!;
    if (cp >= 0xd800 && cp <= 0xdfff) {
      errors.push(TEXT_MESSAGES.surrogate(cp));
      break;
    }
  }
  return errors;
}
