// Request bodies as DRF serializers read them, for the account-life flows:
// each field is checked on its own (required, null, type, blank, then every
// validator of the field, all messages kept), in the serializer's declaration
// order, and the cross-field checks run only when every field passed. The
// messages are DRF's and Django's. Pure functions, no HTTP: the body is
// whatever the request's parser made of it.
import { FIELD_MESSAGES, type FieldErrors } from '../errors.js';
import { emailErrors, normalizeUsername, textErrors, usernameErrors } from '../validation.js';

export const FORM_MESSAGES = {
  notADictionary: (got: string) => `Invalid data. Expected a dictionary, but got ${got}.`,
  invalidPassword: 'Invalid password.',
  invalidUid: "Invalid user id or user doesn't exist.",
  invalidToken: 'Invalid token for given user.',
  staleToken: 'Stale token for given user.',
} as const;

/** How one field is read. */
export interface FieldRule {
  /** `email`: DRF's EmailField (a non-string is an invalid address). */
  kind?: 'char' | 'email';
  /** Missing is an error; default true. */
  required?: boolean;
  /** "" (or whitespace) is a value; default false. */
  allowBlank?: boolean;
  max?: number;
  /** More validators, run in order after the field is a string; their messages come before the NUL check's. */
  validators?: Validator[];
}

export type Form = Record<string, FieldRule>;

/** A field validator: its messages for a value (a uniqueness check reads the storage). */
export type Validator = (value: string) => string[] | Promise<string[]>;

/** The values of the fields that passed, as strings; `errors` when any field failed. */
export interface FormResult {
  values: Record<string, string | undefined>;
  errors?: FieldErrors;
}

/** Python's name for a JSON value's type, as DRF's "Expected a dictionary" message gives it. */
function pythonType(body: unknown): string {
  if (Array.isArray(body)) return 'list';
  if (body === null) return 'NoneType';
  if (typeof body === 'string') return 'str';
  if (typeof body === 'boolean') return 'bool';
  if (typeof body === 'number') return Number.isInteger(body) ? 'int' : 'float';
  return typeof body;
}

/** The body as a field dictionary (no body is an empty one), or DRF's error for a body that is not one. */
export function asDictionary(body: unknown): Record<string, unknown> | FieldErrors {
  if (body === undefined || body === null || body === '') return {};
  if (typeof body !== 'object' || Array.isArray(body)) {
    return { non_field_errors: [FORM_MESSAGES.notADictionary(pythonType(body))] };
  }
  return body as Record<string, unknown>;
}

/** One field, as DRF's CharField or EmailField validates it: its messages, and its value when none. */
async function readField(raw: unknown, rule: FieldRule): Promise<{ value?: string; errors: string[] }> {
  let v = raw;
  if (v === undefined) return { errors: rule.required === false ? [] : [FIELD_MESSAGES.required] };
  if (v === null) return { errors: [FIELD_MESSAGES.null] };
  if (typeof v === 'number' && Number.isFinite(v)) v = String(v);
  if (typeof v !== 'string') return { errors: [rule.kind === 'email' ? FIELD_MESSAGES.email : FIELD_MESSAGES.notString] };
  const value = v.trim();
  if (value === '') return rule.allowBlank ? { value, errors: [] } : { errors: [FIELD_MESSAGES.blank] };
  const errors: string[] = [];
  if (rule.kind === 'email') errors.push(...emailErrors(value));
  for (const check of rule.validators ?? []) errors.push(...(await check(value)));
  if (rule.max !== undefined && [...value].length > rule.max) errors.push(FIELD_MESSAGES.maxLength(rule.max));
  errors.push(...textErrors(value));
  return errors.length ? { errors } : { value, errors };
}

/** Reads a body by a form: every field, in the form's order. */
export async function readForm(body: unknown, form: Form): Promise<FormResult> {
  const dict = asDictionary(body);
  if ('non_field_errors' in dict && Array.isArray(dict.non_field_errors)) return { values: {}, errors: dict as FieldErrors };
  const data = dict as Record<string, unknown>;
  const values: Record<string, string | undefined> = {};
  const errors: FieldErrors = {};
  for (const [name, rule] of Object.entries(form)) {
    const r = await readField(data[name], rule);
    if (r.errors.length) errors[name] = r.errors;
    else values[name] = r.value;
  }
  return Object.keys(errors).length ? { values, errors } : { values };
}

/** The raw value of a field a serializer reads without declaring it (djoser's username reset reads uid and token so). */
export function rawField(body: unknown, name: string): unknown {
  return (asDictionary(body) as Record<string, unknown>)[name];
}

/** Django's username field: its characters (after NFKC, as Django normalizes it), then at most 150 characters. */
export const usernameRule = (extra: Validator[] = []): FieldRule => ({
  max: 150,
  validators: [(v) => usernameErrors(normalizeUsername(v)).filter((m) => m === FIELD_MESSAGES.username), ...extra],
});

export const EMAIL_RULE: FieldRule = { kind: 'email', required: false, allowBlank: true, max: 254 };
export const REQUIRED_EMAIL_RULE: FieldRule = { kind: 'email', max: 254 };
export const CHAR_RULE: FieldRule = {};
