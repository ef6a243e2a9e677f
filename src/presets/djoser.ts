// The djoser preset: djoser 2.1.0's `djoser.urls` and `djoser.urls.jwt` under
// /auth/, as djoser's documentation mounts them, with SimpleJWT configured as
// djoser's JWT docs do (`AUTH_HEADER_TYPES = ("JWT",)`). What the real peer
// answers is written up in docs/djoser-behaviour.md; this is only data.
import type { DjoserAction, Operation, Preset } from './types.js';

const PARSES = ['application/json', 'application/x-www-form-urlencoded', 'multipart/form-data'];

/** DRF's metadata answer to OPTIONS, for a view of this name and these writable fields. */
const metadata = (name: string, description: string, actions: Record<string, Record<string, unknown>>) => ({
  name,
  description,
  renders: ['application/json'],
  parses: PARSES,
  actions,
});

/** djoser's user serializer, as DRF's metadata describes it. */
const USER_FIELDS_META = {
  email: { type: 'email', required: false, read_only: false, label: 'Email address', max_length: 254 },
  id: { type: 'integer', required: false, read_only: true, label: 'ID' },
  username: {
    type: 'string',
    required: false,
    read_only: true,
    label: 'Username',
    help_text: 'Required. 150 characters or fewer. Letters, digits and @/./+/-/_ only.',
  },
};

const titled = (action: string) =>
  action
    .split('_')
    .map((w) => w[0]!.toUpperCase() + w.slice(1))
    .join(' ');

const ACTIONS: { action: DjoserAction; summary: string }[] = [
  { action: 'activation', summary: 'Activate an account with the uid and token of its activation link' },
  { action: 'resend_activation', summary: 'Mail a new activation link to an inactive account' },
  { action: 'set_password', summary: 'Change your password (current_password, new_password)' },
  { action: 'reset_password', summary: 'Mail a password reset link' },
  { action: 'reset_password_confirm', summary: 'Set a new password with the uid and token of a reset link' },
  { action: 'set_username', summary: 'Change your username (current_password, new_username)' },
  { action: 'reset_username', summary: 'Mail a username reset link' },
  { action: 'reset_username_confirm', summary: 'Set a new username with the uid and token of a reset link' },
];

const TOKEN_PAIR_DESCRIPTION =
  'Takes a set of user credentials and returns an access and refresh JSON web\ntoken pair to prove the authentication of those credentials.';

const VERBS = { GET: 'retrieve', PUT: 'update', PATCH: 'partial_update', DELETE: 'destroy' } as const;

const detail = (target: 'me' | 'id'): Operation[] =>
  (['GET', 'PUT', 'PATCH', 'DELETE'] as const).map((method) => ({
    method,
    url: target === 'me' ? '/auth/users/me/' : '/auth/users/:id/',
    op: 'user_detail' as const,
    target,
    // drf-spectacular's names for a viewset's actions, as djoser's own schema has them.
    operationId: `djoser_users_${target === 'me' ? 'me_' : ''}${VERBS[method]}`,
    summary: `${method === 'GET' ? 'Show' : method === 'DELETE' ? 'Delete (current_password)' : 'Change the email of'} ${
      target === 'me' ? 'your own account' : 'a user (yourself, or anyone for staff)'
    }`,
    metadata: metadata('User Instance', '', { PUT: USER_FIELDS_META }),
  }));

/** Django's own 404 page, which djoser's site answers for every path no view serves. */
const DJANGO_NOT_FOUND =
  '\n<!doctype html>\n<html lang="en">\n<head>\n  <title>Not Found</title>\n</head>\n<body>\n' +
  '  <h1>Not Found</h1><p>The requested resource was not found on this server.</p>\n</body>\n</html>\n';

export const djoser: Preset = {
  id: 'djoser',
  document: 'docs/djoser-behaviour.md',
  envelope: 'detail',
  rotate: false,
  authHeaderTypes: ['JWT'],
  allowOnEveryAnswer: true,
  notFound: { prefix: '/auth/', html: DJANGO_NOT_FOUND },
  guarded: ['/auth/users/'],
  sendActivationEmail: true,
  routes: [
    { method: 'GET', url: '/auth/', op: 'user_root', links: { users: '/auth/users/' }, summary: 'The API root' },
    {
      method: 'POST',
      url: '/auth/users/',
      op: 'user_create',
      summary: 'Register (email, username, password); the account is inactive until its activation link is used',
    },
    { method: 'GET', url: '/auth/users/', op: 'user_list', summary: 'The users you may see: yourself, or everyone for staff' },
    ...detail('me'),
    ...ACTIONS.map(({ action, summary }): Operation => ({
      method: 'POST',
      url: `/auth/users/${action}/`,
      op: 'user_action',
      action,
      operationId: `djoser_users_${action}_create`,
      summary,
      metadata: metadata(titled(action), '', { POST: USER_FIELDS_META }),
    })),
    ...detail('id'),
    {
      method: 'POST',
      url: '/auth/jwt/create/',
      op: 'login',
      loginField: 'username',
      lookup: 'username',
      updateLastLogin: false,
      prefix: true,
      summary: 'Obtain a token pair',
      metadata: metadata('Token Obtain Pair', TOKEN_PAIR_DESCRIPTION, {
        POST: {
          username: { type: 'string', required: true, read_only: false, label: 'Username' },
          password: { type: 'string', required: true, read_only: false, label: 'Password' },
        },
      }),
    },
    {
      method: 'POST',
      url: '/auth/jwt/refresh/',
      op: 'refresh',
      tokenField: 'refresh',
      checkUser: false,
      prefix: true,
      summary: 'Refresh an access token',
      metadata: metadata('Token Refresh', 'A new access token for a refresh token.', {
        POST: {
          refresh: { type: 'string', required: true, read_only: false, label: 'Refresh' },
          access: { type: 'string', required: false, read_only: true, label: 'Access' },
        },
      }),
    },
    {
      method: 'POST',
      url: '/auth/jwt/verify/',
      op: 'verify',
      tokenField: 'token',
      checkUser: false,
      prefix: true,
      summary: 'Verify a token',
      metadata: metadata('Token Verify', 'Whether a token is valid.', {
        POST: { token: { type: 'string', required: true, read_only: false, label: 'Token' } },
      }),
    },
  ],
};
