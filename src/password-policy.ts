// Django's four default password validators, with Django's messages (OWASP
// ASVS 6.2: a minimum length, a generous maximum, no composition rules, common
// passwords refused). The common list is Django's own (BSD-licensed, shipped
// in src/data/common-passwords.txt.gz), so exactly the passwords Django
// refuses are refused here.
import fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { codePoints, MAX_PASSWORD_LENGTH } from './passwords.js';

export const MIN_PASSWORD_LENGTH = 8;

/** The verbose names of auth.User's fields that differ from the field name. */
const VERBOSE_NAMES: Record<string, string> = { email: 'email address' };

export const PASSWORD_MESSAGES = {
  tooShort: `This password is too short. It must contain at least ${MIN_PASSWORD_LENGTH} characters.`,
  tooLong: `Ensure this field has no more than ${MAX_PASSWORD_LENGTH} characters.`,
  common: 'This password is too common.',
  numeric: 'This password is entirely numeric.',
  /** Django names the attribute by its model field's verbose name (`email` is "email address"). */
  similar: (field: string) => `The password is too similar to the ${VERBOSE_NAMES[field] ?? field.replace('_', ' ')}.`,
} as const;

/** Django's common-passwords list, beside the sources (dist/src/ reads ../../src/data/, which `npm pack` ships). */
const COMMON_PASSWORDS_FILE = new URL('../../src/data/common-passwords.txt.gz', import.meta.url);

let common: Set<string> | undefined;
/** Loaded once, on first use: one password a line, lower-case. */
const commonPasswords = (): Set<string> =>
  (common ??= new Set(
    gunzipSync(fs.readFileSync(COMMON_PASSWORDS_FILE))
      .toString('utf8')
      .split('\n')
      .map((p) => p.trim().toLowerCase())
      .filter(Boolean),
  ));

/**
 * Python's SequenceMatcher.quick_ratio, which Django's similarity validator
 * uses: twice the size of the multiset intersection over the total length.
 */
function quickRatio(a: string, b: string): number {
  if (a.length + b.length === 0) return 1;
  const counts = new Map<string, number>();
  for (const ch of b) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let matches = 0;
  for (const ch of a) {
    const n = counts.get(ch) ?? 0;
    if (n > 0) {
      matches++;
      counts.set(ch, n - 1);
    }
  }
  return (2 * matches) / (a.length + b.length);
}

const MAX_SIMILARITY = 0.7;

/** Django's UserAttributeSimilarityValidator, over the attributes the user gave. */
function similarTo(password: string, attributes: Record<string, string | undefined>): string | undefined {
  const pw = password.toLowerCase();
  for (const [field, value] of Object.entries(attributes)) {
    if (!value) continue;
    const parts = [value, ...value.split(/\W+/u)].map((p) => p.toLowerCase()).filter(Boolean);
    for (const part of parts) {
      // Too long a password, next to this part, can never reach the ratio.
      if (pw.length >= 10 * part.length) continue;
      if (quickRatio(pw, part) >= MAX_SIMILARITY) return field;
    }
  }
  return undefined;
}

/** Every reason this password is refused, in Django's words; empty when it is fine. */
export function passwordErrors(password: string, attributes: Record<string, string | undefined> = {}): string[] {
  // Lengths count characters (code points), as Django does, not UTF-16 units.
  const length = codePoints(password);
  if (length > MAX_PASSWORD_LENGTH) return [PASSWORD_MESSAGES.tooLong];
  const errors: string[] = [];
  const similar = similarTo(password, attributes);
  if (similar) errors.push(PASSWORD_MESSAGES.similar(similar));
  if (length < MIN_PASSWORD_LENGTH) errors.push(PASSWORD_MESSAGES.tooShort);
  if (commonPasswords().has(password.trim().toLowerCase())) errors.push(PASSWORD_MESSAGES.common);
  if (/^\d+$/.test(password)) errors.push(PASSWORD_MESSAGES.numeric);
  return errors;
}
