// The presets: five, one per seed document in ../shared/seeds/, `account`,
// latchkey's own self-service routes in DRF's shape, and `djoser` (djoser.ts). Each is only data; see
// types.ts for what the fields mean.
import { ConfigError } from '../errors.js';
import { djoser } from './djoser.js';
import type { Preset } from './types.js';

export const simplejwt: Preset = {
  id: 'simplejwt',
  document: '003_6e9cd25cd55e3a06.txt',
  envelope: 'detail',
  rotate: false,
  routes: [
    { method: 'POST', url: '/api/token/', op: 'login', loginField: 'username', lookup: 'username', summary: 'Obtain a token pair' },
    { method: 'POST', url: '/api/token/refresh/', op: 'refresh', tokenField: 'refresh', summary: 'Refresh an access token' },
    { method: 'POST', url: '/api/token/verify/', op: 'verify', tokenField: 'token', summary: 'Verify a token' },
    {
      method: 'POST',
      url: '/api/token/blacklist/',
      op: 'blacklist',
      tokenField: 'refresh',
      respond: 'empty',
      summary: 'Blacklist a refresh token',
    },
    { method: 'GET', url: '/api/protected-endpoint/', op: 'me', respond: 'message', summary: 'A protected route' },
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
      summary: 'Register and obtain a token pair',
    },
    { method: 'POST', url: '/api/auth/login/', op: 'login', loginField: 'username', lookup: 'username', summary: 'Obtain a token pair' },
    {
      method: 'POST',
      url: '/api/auth/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
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
    { method: 'POST', url: '/auth/token', op: 'login', loginField: 'username', lookup: 'username', summary: 'Obtain a token pair' },
    { method: 'POST', url: '/auth/token/refresh', op: 'refresh', tokenField: 'refresh', summary: 'Rotate a refresh token' },
    // The document's "Verify" section repeats /auth/token/refresh; SPEC §1 reads it as this.
    { method: 'POST', url: '/auth/token/verify', op: 'verify', tokenField: 'token', summary: 'Verify a token' },
    {
      method: 'POST',
      url: '/auth/register',
      op: 'register',
      profile: [],
      status: 201,
      respond: 'pair',
      summary: 'Register and obtain a token pair',
      errors: { username_taken: { status: 409, message: 'User already exists' } },
    },
    { method: 'GET', url: '/auth/getuser', op: 'me', respond: 'username', summary: 'The current user' },
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
      summary: 'Obtain a token pair',
      errors: { no_active_account: { message: 'Invalid credentials' } },
    },
    {
      method: 'POST',
      url: '/api/token/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
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
      summary: 'Register a user with a profile',
    },
    {
      method: 'POST',
      url: '/api/users/login/',
      op: 'login',
      loginField: 'login',
      lookup: 'username_or_phone',
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
      summary: 'Obtain a token pair by phone number',
      errors: { no_active_account: { message: 'Invalid username or password' } },
    },
    {
      method: 'POST',
      url: '/api/token/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      summary: 'Refresh an access token',
      errors: { token_not_valid: { message: 'Invalid or expired refresh token' } },
    },
  ],
};

/** A signed-in user's own account: profile, password and sessions (issue 7). */
export const account: Preset = {
  id: 'account',
  document: 'README.md#account-latchkey_presetsaccount-on-by-default',
  envelope: 'detail',
  rotate: false,
  routes: [
    { method: 'GET', url: '/api/account/me/', op: 'profile', summary: 'Your profile' },
    {
      method: 'PATCH',
      url: '/api/account/me/',
      op: 'update_profile',
      editable: ['email', 'phone_number', 'first_name', 'last_name', 'address', 'postal_code', 'birthdate', 'profile_image'],
      summary: 'Change your profile (id, username, is_active, is_staff, is_superuser and the dates are read-only)',
    },
    {
      method: 'POST',
      url: '/api/account/password/',
      op: 'change_password',
      oldField: 'old_password',
      newField: 'new_password',
      summary: 'Change your password; every session is revoked and a fresh token pair returned',
    },
    { method: 'GET', url: '/api/account/sessions/', op: 'list_sessions', summary: 'Your signed-in sessions' },
    { method: 'DELETE', url: '/api/account/sessions/:id/', op: 'revoke_session', summary: 'Sign one session out' },
    { method: 'POST', url: '/api/account/logout-all/', op: 'logout_all', summary: 'Sign every session out' },
    // The account's life by mail (issue 13), the same service operations as djoser's, answering 204.
    {
      method: 'POST',
      url: '/api/account/password/reset/',
      op: 'user_action',
      action: 'reset_password',
      summary: 'Mail a password reset link to the accounts with this email (204 whether or not there is one)',
    },
    {
      method: 'POST',
      url: '/api/account/password/reset/confirm/',
      op: 'user_action',
      action: 'reset_password_confirm',
      summary: 'Set a new password with the uid and token of a reset link',
    },
    {
      method: 'POST',
      url: '/api/account/email/verify/',
      op: 'user_action',
      action: 'resend_activation',
      uniform: true,
      summary: 'Mail a verification link to the inactive accounts with this email (204 whether or not there is one)',
    },
    {
      method: 'POST',
      url: '/api/account/email/verify/confirm/',
      op: 'user_action',
      action: 'activation',
      summary: 'Verify an email address (and activate its account) with the uid and token of a verification link',
    },
  ],
};

export const PRESETS: Record<string, Preset> = Object.fromEntries(
  [simplejwt, apiAuth, authRoot, users, phone, account, djoser].map((p) => [p.id, p]),
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
