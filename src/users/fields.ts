// The user's fields, declared once. The storage types (UserRecord...), the
// profile's JSON schema and view, the register and PATCH bodies and the
// defaults of a new user are all derived from this table. The migrations stay
// hand-written; test/user-fields.test.ts checks the users table against it.

/** `time`: seconds since the epoch when stored, ISO 8601 when shown. */
export type FieldType = 'string' | 'boolean' | 'integer' | 'time';

/**
 * Who may set a field: `register`, the registration body (a preset lists
 * which of these fields its body accepts); `patch`, the user's own profile
 * PATCH (a preset lists which it accepts); `admin`, only an operator (the CLI,
 * import-django). A field nobody may set is read-only: the server sets it.
 */
export type Setter = 'register' | 'patch' | 'admin';

/** How the service checks a value (service.ts), beyond the length and nullability here. */
export type Validation = 'username' | 'email' | 'e164' | 'past_date' | 'url';

export interface FieldSpec {
  type: FieldType;
  /** Null is a value (and clears the field in a PATCH). */
  nullable?: boolean;
  /** Longest value in characters: the column's varchar length and the bodies' maxLength. */
  max?: number;
  validate?: Validation;
  /** A column with a unique index. */
  unique?: boolean;
  set: readonly Setter[];
  /** What a new user has when nobody gives a value; a field without one must be given. */
  default?: string | boolean | null;
  /** Never shown: the server's own bookkeeping. */
  internal?: boolean;
}

/** The users table, in column order (the profile shows the fields that are not internal, in this order). */
export const USER_FIELDS = {
  /** Assigned by the database (import-django keeps Django's). */
  id: { type: 'integer', set: [] },
  username: { type: 'string', max: 150, unique: true, validate: 'username', set: ['register', 'admin'] },
  /** An encoded hash (argon2id PHC string, or a Django encoding awaiting rehash). */
  password: { type: 'string', max: 255, internal: true, set: ['admin'] },
  email: { type: 'string', max: 254, validate: 'email', default: '', set: ['register', 'patch', 'admin'] },
  phone_number: {
    type: 'string',
    nullable: true,
    max: 16,
    unique: true,
    validate: 'e164',
    default: null,
    set: ['register', 'patch'],
  },
  first_name: { type: 'string', max: 150, default: '', set: ['register', 'patch', 'admin'] },
  last_name: { type: 'string', max: 150, default: '', set: ['register', 'patch', 'admin'] },
  address: { type: 'string', max: 255, default: '', set: ['register', 'patch'] },
  postal_code: { type: 'string', max: 20, default: '', set: ['register', 'patch'] },
  /** YYYY-MM-DD. */
  birthdate: { type: 'string', nullable: true, max: 10, validate: 'past_date', default: null, set: ['register', 'patch'] },
  profile_image: { type: 'string', nullable: true, max: 255, validate: 'url', default: null, set: ['patch'] },
  is_active: { type: 'boolean', default: true, set: ['admin'] },
  is_staff: { type: 'boolean', default: false, set: ['admin'] },
  is_superuser: { type: 'boolean', default: false, set: ['admin'] },
  date_joined: { type: 'time', set: [] },
  last_login: { type: 'time', nullable: true, set: [] },
  /** Refresh tokens issued before this time are refused. */
  tokens_valid_after: { type: 'time', nullable: true, internal: true, set: [] },
  /**
   * Tokens minted up to this instant (milliseconds since the epoch, read from
   * the jti of a token latchkey minted) are refused.
   */
  tokens_revoked_ms: { type: 'integer', nullable: true, internal: true, set: [] },
} as const satisfies Record<string, FieldSpec>;

type Spec = typeof USER_FIELDS;
export type UserField = keyof Spec;

type Stored<S> = S extends { type: 'string' } ? string : S extends { type: 'boolean' } ? boolean : number;
type Shown<S> = S extends { type: 'time' } ? string : Stored<S>;
type OrNull<S, T> = S extends { nullable: true } ? T | null : T;
type Where<Cond> = { [K in UserField]: Spec[K] extends Cond ? K : never }[UserField];

/** A user as stored: every column. */
export type UserColumns = { -readonly [K in UserField]: OrNull<Spec[K], Stored<Spec[K]>> };
/** The fields shown to clients. */
export type ShownField = Exclude<UserField, Where<{ internal: true }>>;
/** A user as the API shows it: no internal field, times in ISO 8601. */
export type UserView = { -readonly [K in ShownField]: OrNull<Spec[K], Shown<Spec[K]>> };
/** The fields one kind of caller may set. */
export type SettableBy<W extends Setter> = { [K in UserField]: W extends Spec[K]['set'][number] ? K : never }[UserField];
/** The optional fields a registration body may carry (the username is always required). */
export type RegisterField = Exclude<SettableBy<'register'>, 'username'>;
/** The fields a user may change in their own profile. */
export type PatchField = SettableBy<'patch'>;
/** The fields with a default value. */
export type DefaultedField = Where<{ default: unknown }>;

const entries = Object.entries(USER_FIELDS) as [UserField, FieldSpec][];
const names = (keep: (s: FieldSpec) => boolean) => entries.filter(([, s]) => keep(s)).map(([n]) => n);

export const fieldSpec = (name: UserField): FieldSpec => USER_FIELDS[name];
export const SHOWN_FIELDS = names((s) => !s.internal) as ShownField[];
export const REGISTER_FIELDS = names((s) => s.set.includes('register')).filter((n) => n !== 'username') as RegisterField[];
export const PATCH_FIELDS = names((s) => s.set.includes('patch')) as PatchField[];

/** What a new user has in each field nobody gave a value. */
export const USER_DEFAULTS: Readonly<Pick<UserColumns, DefaultedField>> = Object.freeze(
  Object.fromEntries(entries.filter(([, s]) => 'default' in s).map(([n, s]) => [n, s.default])),
) as Pick<UserColumns, DefaultedField>;

const TIME = new Set(names((s) => s.type === 'time'));

/** A user as the API shows it; `time` writes a stored time (seconds) as text. */
export function userView(u: UserColumns, time: (seconds: number) => string): UserView {
  const view: Record<string, unknown> = {};
  for (const f of SHOWN_FIELDS) {
    const v = u[f];
    view[f] = TIME.has(f) && v !== null ? time(v as number) : v;
  }
  return view as UserView;
}

/**
 * The optional fields of a registration as they are stored: text trimmed,
 * a missing or blank nullable field null, a missing text field its default.
 */
export function registrationValues(input: Partial<Record<RegisterField, string>>): Pick<UserColumns, RegisterField> {
  const out: Record<string, string | null> = {};
  for (const f of REGISTER_FIELDS) {
    const v = input[f];
    const spec = USER_FIELDS[f] as FieldSpec;
    out[f] = spec.nullable ? v || null : (v ?? (spec.default as string)).trim();
  }
  return out as Pick<UserColumns, RegisterField>;
}
