// A made-up backend's preset file (issue 16), shared by the preset file suites.

/** Acme's mobile API: its own paths under /api/v1, login by email, `JWT` tokens, its own field names and error body. */
export const ACME = {
  id: 'acme',
  document: 'Acme mobile API v1',
  prefix: '/api/v1',
  envelope: 'error',
  rotate: true,
  authHeaderTypes: ['JWT'],
  routes: [
    {
      method: 'POST',
      url: '/auth/jwt/create/',
      op: 'login',
      loginField: 'email',
      lookup: 'email',
      summary: 'Sign in with email and password',
      errors: { no_active_account: { message: 'Wrong email or password.' } },
    },
    {
      method: 'POST',
      url: '/auth/jwt/refresh/',
      op: 'refresh',
      tokenField: 'refresh_token',
      summary: 'A new token pair for a refresh token',
      errors: { token_not_valid: { message: 'Session expired, sign in again.' } },
    },
    { method: 'POST', url: '/auth/jwt/verify/', op: 'verify', tokenField: 'jwt', summary: 'Whether a token is valid' },
    {
      method: 'POST',
      url: '/auth/logout/',
      op: 'blacklist',
      tokenField: 'refresh_token',
      respond: 'logged_out',
      summary: 'Sign out',
      errors: { required: { status: 400, message: 'refresh_token is required.' } },
    },
    { method: 'GET', url: '/auth/whoami/', op: 'me', respond: 'username', summary: 'Who is signed in' },
  ],
};
