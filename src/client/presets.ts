// Where each preset's operations live, as data. These mirror the server's
// route tables in ../presets/builtin/ but are kept separate on purpose: this
// file ships to browsers and must not pull in server code.

export interface ClientPreset {
  readonly name: string;
  /** POST credentials; answers `{refresh, access}`. */
  readonly login: {
    readonly path: string;
    /** The identifier field the server reads (`username`, or `login` on `users`). */
    readonly field: string;
    /** Other credential keys the caller may use for the identifier. */
    readonly aliases?: readonly string[];
  };
  /** POST `{[field]: refresh}`; answers `{access}`, plus `refresh` when it rotates. */
  readonly refresh: {
    readonly path: string;
    readonly field: string;
    /** Informational: the client always keeps a `refresh` the server returns. */
    readonly rotates: boolean;
  };
  /** POST `{[field]: refresh}` to blacklist it. Absent: logout only clears local tokens. */
  readonly logout?: { readonly path: string; readonly field: string };
  /**
   * POST the registration fields. `pair`: answers `{refresh, access}`;
   * `content`: answers `{content: {...profile, tokens: {refresh, access}}}`;
   * `none`: answers a user without tokens, and the client then logs in.
   */
  readonly register?: { readonly path: string; readonly returns: 'pair' | 'content' | 'none' };
  /** A protected GET route, if the preset has one (for convenience and tests). */
  readonly me?: string;
}

export const CLIENT_PRESETS = {
  simplejwt: {
    name: 'simplejwt',
    login: { path: '/api/token/', field: 'username' },
    refresh: { path: '/api/token/refresh/', field: 'refresh', rotates: false },
    logout: { path: '/api/token/blacklist/', field: 'refresh' },
    me: '/api/protected-endpoint/',
  },
  'api-auth': {
    name: 'api-auth',
    login: { path: '/api/auth/login/', field: 'username' },
    refresh: { path: '/api/auth/refresh/', field: 'refresh', rotates: false },
    logout: { path: '/api/auth/logout/', field: 'refresh_token' },
    register: { path: '/api/auth/register/', returns: 'content' },
  },
  'auth-root': {
    name: 'auth-root',
    login: { path: '/auth/token', field: 'username' },
    refresh: { path: '/auth/token/refresh', field: 'refresh', rotates: true },
    register: { path: '/auth/register', returns: 'pair' },
    me: '/auth/getuser',
  },
  users: {
    name: 'users',
    login: { path: '/api/users/login/', field: 'login', aliases: ['username', 'phone_number'] },
    refresh: { path: '/api/token/refresh/', field: 'refresh', rotates: false },
    register: { path: '/api/users/register/', returns: 'none' },
  },
  phone: {
    name: 'phone',
    // "The user's username. (actually it is phone number)"
    login: { path: '/api/login/', field: 'username', aliases: ['phone_number'] },
    refresh: { path: '/api/token/refresh/', field: 'refresh', rotates: false },
  },
} as const satisfies Record<string, ClientPreset>;

export type PresetName = keyof typeof CLIENT_PRESETS;

// ---- Per-preset request and response types ----

export interface UsernamePassword {
  username: string;
  password: string;
}

export interface ApiAuthRegisterFields extends UsernamePassword {
  email?: string;
  first_name?: string;
  last_name?: string;
}

export interface ApiAuthProfile {
  pk: number;
  username: string;
  email: string;
  first_name: string;
  last_name: string;
  profile_image: string | null;
}

export interface UsersRegisterFields extends UsernamePassword {
  phone_number: string;
  email?: string;
  address?: string;
  postal_code?: string;
  /** YYYY-MM-DD */
  birthdate?: string;
}

/** What login, register and the register result look like for one preset. `never`: no such route. */
export interface PresetShape {
  credentials: { password: string };
  register: object;
  registered: object;
}

export interface PresetShapes {
  simplejwt: { credentials: UsernamePassword; register: never; registered: never };
  'api-auth': { credentials: UsernamePassword; register: ApiAuthRegisterFields; registered: ApiAuthProfile };
  'auth-root': { credentials: UsernamePassword; register: UsernamePassword; registered: Record<string, never> };
  users: {
    /** `login` is a username or a phone number; `username` is accepted as an alias. */
    credentials: { login: string; password: string } | UsernamePassword;
    register: UsersRegisterFields;
    registered: { id: number; username: string };
  };
  phone: {
    /** `username` is the phone number, as the document says; `phone_number` is accepted as an alias. */
    credentials: UsernamePassword | { phone_number: string; password: string };
    register: never;
    registered: never;
  };
}

/** The shape of a preset given as data rather than by name. */
export interface CustomPresetShape {
  credentials: { password: string } & Record<string, string>;
  register: Record<string, unknown>;
  registered: Record<string, unknown>;
}
