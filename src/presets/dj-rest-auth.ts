// The dj-rest-auth preset: dj-rest-auth 7.1.1's `dj_rest_auth.urls` and
// `dj_rest_auth.registration.urls` under /dj-rest-auth/, in its JWT mode with
// the tokens in the body: REST_AUTH = {"USE_JWT": True, "JWT_AUTH_HTTPONLY":
// False} and SimpleJWT's token_blacklist app, with django-allauth
// (ACCOUNT_LOGIN_METHODS = {"username", "email"}, ACCOUNT_EMAIL_VERIFICATION =
// "none") and every other setting at its default. README's dj-rest-auth
// section says what differs. Only data; see types.ts for what the fields mean.
import type { Preset } from './types.js';

const USER = { pk: 1, username: 'jane', email: 'jane@example.com', first_name: 'Jane', last_name: '' };

export const djRestAuth: Preset = {
  id: 'dj-rest-auth',
  document: 'README.md#dj-rest-auth-latchkey_presetsdj-rest-auth',
  envelope: 'detail',
  rotate: false,
  allowOnEveryAnswer: true,
  routes: [
    {
      method: 'POST',
      url: '/dj-rest-auth/login/',
      op: 'login_form',
      withUser: true,
      optionalSlash: true,
      operationId: 'dj_rest_auth_login_create',
      examples: {
        request: { username: 'jane', password: 'correct-horse-42' },
        response: { access: 'eyJ...', refresh: 'eyJ...', user: USER },
      },
      summary: 'Log in with username or email, and password: the token pair and the user',
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/logout/',
      op: 'blacklist',
      tokenField: 'refresh',
      respond: 'logged_out',
      optionalSlash: true,
      operationId: 'dj_rest_auth_logout_create',
      examples: { request: { refresh: 'eyJ...' }, response: { detail: 'Successfully logged out.' } },
      summary: 'Log out: blacklist the refresh token given',
      errors: {
        required: { status: 401, message: 'Refresh token was not included in request data.' },
        token_not_valid: { code: false },
      },
    },
    {
      method: 'GET',
      url: '/dj-rest-auth/user/',
      op: 'user_details',
      optionalSlash: true,
      operationId: 'dj_rest_auth_user_retrieve',
      examples: { response: USER },
      summary: 'Your pk, username, email, first_name and last_name',
    },
    {
      method: 'PUT',
      url: '/dj-rest-auth/user/',
      op: 'user_details',
      optionalSlash: true,
      operationId: 'dj_rest_auth_user_update',
      examples: { request: { username: 'jane', first_name: 'Jane', last_name: '' }, response: USER },
      summary: 'Change your username (required), first_name and last_name; pk and email are read-only',
    },
    {
      method: 'PATCH',
      url: '/dj-rest-auth/user/',
      op: 'user_details',
      optionalSlash: true,
      operationId: 'dj_rest_auth_user_partial_update',
      examples: { request: { first_name: 'Jane' }, response: USER },
      summary: 'Change your username, first_name or last_name; pk and email are read-only',
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/password/change/',
      op: 'password_form',
      action: 'change',
      optionalSlash: true,
      operationId: 'dj_rest_auth_password_change_create',
      examples: {
        request: { new_password1: 'Lantern-Harbour-42', new_password2: 'Lantern-Harbour-42' },
        response: { detail: 'New password has been saved.' },
      },
      summary: 'Change your password (new_password1, new_password2)',
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/password/reset/',
      op: 'password_form',
      action: 'reset',
      optionalSlash: true,
      operationId: 'dj_rest_auth_password_reset_create',
      examples: { request: { email: 'jane@example.com' }, response: { detail: 'Password reset e-mail has been sent.' } },
      summary: 'Mail a password reset link to the accounts with this email (the same answer whether or not there is one)',
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/password/reset/confirm/',
      op: 'password_form',
      action: 'reset_confirm',
      optionalSlash: true,
      operationId: 'dj_rest_auth_password_reset_confirm_create',
      examples: {
        request: { uid: 'MQ', token: 'cz5x1b-4d1e...', new_password1: 'Lantern-Harbour-42', new_password2: 'Lantern-Harbour-42' },
        response: { detail: 'Password has been reset with the new password.' },
      },
      summary: 'Set a new password with the uid and token of a reset link',
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/token/verify/',
      op: 'verify',
      tokenField: 'token',
      checkUser: false,
      optionalSlash: true,
      operationId: 'dj_rest_auth_token_verify_create',
      examples: { request: { token: 'eyJ...' }, response: {} },
      summary: 'Verify a token',
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/token/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      checkUser: false,
      withExpiration: true,
      optionalSlash: true,
      operationId: 'dj_rest_auth_token_refresh_create',
      examples: {
        request: { refresh: 'eyJ...' },
        response: { access: 'eyJ...', access_expiration: '2026-12-03T06:05:00Z' },
      },
      summary: 'Refresh an access token; the answer gives its expiry',
      errors: { required: { status: 401, message: 'No valid refresh token found.', code: 'token_not_valid' } },
    },
    {
      method: 'POST',
      url: '/dj-rest-auth/registration/',
      op: 'register_form',
      operationId: 'dj_rest_auth_registration_create',
      examples: {
        request: { username: 'jane', email: 'jane@example.com', password1: 'correct-horse-42', password2: 'correct-horse-42' },
        response: { access: 'eyJ...', refresh: 'eyJ...', user: USER },
      },
      summary: 'Register (username, email, password1, password2): the token pair and the user',
    },
  ],
};
