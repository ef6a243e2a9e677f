// The service layer: every operation the presets mount, with no HTTP in it.
// Failures are ApiErrors carrying a code from the error table; the HTTP layer
// (or the CLI) decides how to show them. The operations are split by concern:
// core.ts (what they share), tokens.ts (logins and tokens), accounts.ts
// (registration and a user's own account).
export { AccountService as AuthService } from './accounts.js';
export * from './types.js';
export * from './views.js';
