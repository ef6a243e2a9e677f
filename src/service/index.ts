// The service layer: every operation the presets mount, with no HTTP in it.
// Failures are ApiErrors carrying a code from the error table; the HTTP layer
// (or the CLI) decides how to show them. The operations are split by concern:
// core.ts (what they share), tokens.ts (logins and tokens), accounts.ts
// (registration and a user's own account), directory.ts (djoser's users),
// account-life.ts (activation and the resets, by mail).
export { AccountLifeService as AuthService } from './account-life.js';
export type { Target } from './directory.js';
export * from './types.js';
export * from './views.js';
