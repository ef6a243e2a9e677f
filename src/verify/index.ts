// latchkey/verify: an alias of @latchkey/verify (packages/verify), the light
// verifier package, for services that already depend on the server package.
// Everything is re-exported as it is; see packages/verify/src/index.ts.
export * from '@latchkey/verify';
