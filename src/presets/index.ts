// The presets: five, one per seed document in ../shared/seeds/, `account`,
// latchkey's own self-service routes in DRF's shape, `djoser` (djoser.ts) and
// `dj-rest-auth` (dj-rest-auth.ts). Each is only data; see
// types.ts for what the fields mean.
import { ConfigError } from '../errors.js';
import { account } from './account.js';
export { account };
import { djRestAuth } from './dj-rest-auth.js';
import { djoser } from './djoser.js';
import type { Preset } from './types.js';

export const simplejwt: Preset = {
  id: 'simplejwt',
  document: '003_6e9cd25cd55e3a06.txt',
  envelope: 'detail',
  rotate: false,
  routes: [
    {
      method: 'POST',
      url: '/api/token/',
      op: 'login',
      loginField: 'username',
      lookup: 'username',
      examples: {
        request: { username: 'your_username', password: 'your_password' },
        response: { access: 'eyJ0eXAiOiJKV1QiLCJhbGciOi...', refresh: 'eyJ0eXAiOiJKV1QiLCJhbGciOi...' },
      },
      summary: 'Obtain a token pair',
    },
    {
      method: 'POST',
      url: '/api/token/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      examples: { request: { refresh: 'your_refresh_token' }, response: { access: 'new_access_token' } },
      summary: 'Refresh an access token',
    },
    {
      method: 'POST',
      url: '/api/token/verify/',
      op: 'verify',
      tokenField: 'token',
      examples: { request: { token: 'your_access_or_refresh_token' }, response: {} },
      summary: 'Verify a token',
    },
    {
      method: 'POST',
      url: '/api/token/blacklist/',
      op: 'blacklist',
      tokenField: 'refresh',
      respond: 'empty',
      examples: { request: { refresh: 'your_refresh_token' }, response: {} },
      summary: 'Blacklist a refresh token',
    },
    {
      method: 'GET',
      url: '/api/protected-endpoint/',
      op: 'me',
      respond: 'message',
      examples: { response: { message: 'You have accessed a protected route!' } },
      summary: 'A protected route',
    },
  ],
};

export const apiAuth: Preset = {
  id: 'api-auth',
  document: '004_9be27de05dca909b.txt',
  envelope: 'error',
  rotate: false,
  routes: [
    {
      method: 'POST',
      url: '/api/auth/register/',
      op: 'register',
      profile: ['email', 'first_name', 'last_name'],
      status: 201,
      respond: 'content',
      examples: {
        request: {
          username: 'your_username',
          password: 'your_password',
          email: 'your_email@example.com',
          first_name: 'YourFirstName',
          last_name: 'YourLastName',
        },
        response: {
          content: {
            pk: 1,
            username: 'your_username',
            email: 'your_email@example.com',
            first_name: 'YourFirstName',
            last_name: 'YourLastName',
            profile_image: null,
            tokens: { refresh: '<refresh_token>', access: '<access_token>' },
          },
        },
      },
      summary: 'Register and obtain a token pair',
    },
    {
      method: 'POST',
      url: '/api/auth/login/',
      op: 'login',
      loginField: 'username',
      lookup: 'username',
      examples: {
        request: { username: 'your_username', password: 'your_password' },
        response: { refresh: '<refresh_token>', access: '<access_token>' },
      },
      summary: 'Obtain a token pair',
    },
    {
      method: 'POST',
      url: '/api/auth/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      examples: { request: { refresh: '<refresh_token>' }, response: { access: '<new_access_token>' } },
      summary: 'Refresh an access token',
      // The document has one refresh error, whatever the reason.
      errors: { token_not_valid: { message: 'Token is invalid or expired' } },
    },
    {
      method: 'POST',
      url: '/api/auth/logout/',
      op: 'blacklist',
      tokenField: 'refresh_token',
      respond: 'logged_out',
      examples: { request: { refresh_token: '<refresh_token>' }, response: { detail: 'Successfully logged out.' } },
      summary: 'Log out by blacklisting a refresh token',
      errors: {
        required: { status: 400, message: 'Refresh token required.' },
        token_not_valid: { status: 400, message: 'Invalid or expired refresh token.' },
      },
    },
  ],
};

export const authRoot: Preset = {
  id: 'auth-root',
  document: '001_12765903a6ac36fd.txt',
  envelope: 'detail',
  rotate: true,
  routes: [
    {
      method: 'POST',
      url: '/auth/token',
      op: 'login',
      loginField: 'username',
      lookup: 'username',
      examples: {
        request: { username: 'sam', password: 'correct-horse-42' },
        response: { refresh: '<refresh-token>', access: '<access-token>' },
      },
      summary: 'Obtain a token pair',
    },
    {
      method: 'POST',
      url: '/auth/token/refresh',
      op: 'refresh',
      tokenField: 'refresh',
      examples: { request: { refresh: '<refresh-token>' }, response: { refresh: '<refresh-token>', access: '<access-token>' } },
      summary: 'Rotate a refresh token',
    },
    // The document's "Verify" section repeats /auth/token/refresh; SPEC §1 reads it as this.
    {
      method: 'POST',
      url: '/auth/token/verify',
      op: 'verify',
      tokenField: 'token',
      examples: { request: { token: '<access-token>' }, response: {} },
      summary: 'Verify a token',
    },
    {
      method: 'POST',
      url: '/auth/register',
      op: 'register',
      profile: [],
      status: 201,
      respond: 'pair',
      examples: {
        request: { username: 'sam', password: 'correct-horse-42' },
        response: { refresh: '<refresh-token>', access: '<access-token>' },
      },
      summary: 'Register and obtain a token pair',
      errors: { username_taken: { status: 409, message: 'User already exists' } },
    },
    {
      method: 'GET',
      url: '/auth/getuser',
      op: 'me',
      respond: 'username',
      examples: { response: { username: 'sam' } },
      summary: 'The current user',
    },
  ],
};

export const users: Preset = {
  id: 'users',
  document: '002_df321a8805be8698.txt',
  envelope: 'error',
  rotate: false,
  routes: [
    {
      method: 'POST',
      url: '/api/token/',
      op: 'login',
      loginField: 'username',
      lookup: 'username',
      examples: { request: { username: 'user', password: 'pass' }, response: { refresh: 'refresh_token', access: 'access_token' } },
      summary: 'Obtain a token pair',
      errors: { no_active_account: { message: 'Invalid credentials' } },
    },
    {
      method: 'POST',
      url: '/api/token/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      examples: { request: { refresh: 'refresh_token' }, response: { access: 'new_access_token' } },
      summary: 'Refresh an access token',
      errors: { token_not_valid: { message: 'Token is invalid or expired' } },
    },
    {
      method: 'POST',
      url: '/api/users/register/',
      op: 'register',
      profile: ['email', 'phone_number', 'address', 'postal_code', 'birthdate'],
      requirePhone: true,
      phoneLogin: true,
      status: 201,
      respond: 'id',
      examples: {
        request: {
          username: 'ravi',
          password: 'correct-horse-42',
          email: 'ravi@example.com',
          phone_number: '+919876543210',
          address: '12 MG Road, Bengaluru',
          postal_code: '560001',
          birthdate: '1990-04-01',
        },
        response: { id: 1, username: 'ravi' },
      },
      summary: 'Register a user with a profile',
    },
    {
      method: 'POST',
      url: '/api/users/login/',
      op: 'login',
      loginField: 'login',
      lookup: 'username_or_phone',
      operationId: 'users_login_by_username_or_phone',
      examples: {
        request: { login: '+919876543210', password: 'correct-horse-42' },
        response: { refresh: '[refresh token]', access: '[access token]' },
      },
      summary: 'Obtain a token pair by username or phone number',
      errors: { no_active_account: { message: 'Invalid credentials' } },
    },
  ],
};

export const phone: Preset = {
  id: 'phone',
  document: '000_b1f93712b22b0122.txt',
  envelope: 'error',
  rotate: false,
  routes: [
    {
      method: 'POST',
      url: '/api/login/',
      op: 'login',
      loginField: 'username', // "The user's username. (actually it is phone number)"
      lookup: 'phone',
      examples: {
        request: { username: '+919876543210', password: 'example_password' },
        response: { refresh: '<refresh_token>', access: '<access_token>' },
      },
      summary: 'Obtain a token pair by phone number',
      errors: { no_active_account: { message: 'Invalid username or password' } },
    },
    {
      method: 'POST',
      url: '/api/token/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      examples: { request: { refresh: '<refresh_token>' }, response: { access: '<new_access_token>' } },
      summary: 'Refresh an access token',
      errors: { token_not_valid: { message: 'Invalid or expired refresh token' } },
    },
  ],
};

export const PRESETS: Record<string, Preset> = Object.fromEntries(
  [simplejwt, apiAuth, authRoot, users, phone, account, djoser, djRestAuth].map((p) => [p.id, p]),
);

/** The presets named by LATCHKEY_PRESETS; fails on an unknown name or two presets claiming one route. */
export function selectPresets(names: readonly string[]): Preset[] {
  const chosen: Preset[] = [];
  for (const name of new Set(names)) {
    const preset = PRESETS[name];
    if (!preset) {
      throw new ConfigError(`LATCHKEY_PRESETS: unknown preset "${name}"; known presets are ${Object.keys(PRESETS).join(', ')}`);
    }
    chosen.push(preset);
  }
  const owner = new Map<string, string>();
  for (const preset of chosen) {
    for (const route of preset.routes) {
      const key = `${route.method} ${route.url}`;
      const other = owner.get(key);
      if (other) {
        throw new ConfigError(`LATCHKEY_PRESETS: presets "${other}" and "${preset.id}" both serve ${key}; mount only one of them`);
      }
      owner.set(key, preset.id);
    }
  }
  return chosen;
}

/** Whether a route gives a client a token pair without one: a login, or a registration that answers a pair. */
const issuesTokens = (r: Preset['routes'][number]) =>
  r.op === 'login' || r.op === 'login_form' || r.op === 'register_form' || (r.op === 'register' && r.respond !== 'id');

/**
 * `serve` refuses presets that offer no way to obtain a token (say
 * LATCHKEY_PRESETS=account alone): every protected route would answer 401 forever.
 */
export function requireTokenRoute(presets: readonly Preset[]): void {
  if (presets.some((p) => p.routes.some(issuesTokens))) return;
  const ids = presets.map((p) => p.id).join(',');
  const login = Object.values(PRESETS)
    .filter((p) => p.routes.some(issuesTokens))
    .map((p) => p.id);
  throw new ConfigError(
    `LATCHKEY_PRESETS=${ids} mounts no route that issues tokens (no login, and no registration answering a token pair), ` +
      `so no client could ever sign in. Add a preset that does (${login.join(', ')}), e.g. LATCHKEY_PRESETS=simplejwt,${ids}`,
  );
}
