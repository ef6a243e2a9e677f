// The service layer: every operation the presets mount, with no HTTP in it.
// Failures are ApiErrors carrying a code from the error table; the HTTP layer
// (or the CLI) decides how to show them. The operations are split by concern:
// core.ts (what they share), tokens.ts (logins and tokens), accounts.ts
// (registration and a user's own account), directory.ts (djoser's users),
// account-life.ts (activation and the resets, by mail), forms-accounts.ts
// (the same flows as dj-rest-auth's serializers read them).
export { FormAccountService as AuthService } from './forms-accounts.js';
export type { SignedIn } from './forms-accounts.js';
export type { Target } from './directory.js';
export * from './types.js';
export * from './views.js';
