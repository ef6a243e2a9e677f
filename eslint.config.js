// ESLint 9, flat config: typescript-eslint's type-checked recommended rules
// over src/, test/ and bench/. Formatting is Prettier's job (npm run lint runs both).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'packages/*/dist/', 'node_modules/', 'coverage/', 'data/', '.bench/', '.scratch/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `_`-prefixed names are deliberately unused (tsc's noUnused* already checks the rest).
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // node:test's describe/it/before/after return promises the runner awaits itself.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: ['describe', 'it', 'test', 'suite', 'before', 'after', 'beforeEach', 'afterEach'],
            },
          ],
        },
      ],
      // Off until noUncheckedIndexedAccess is on: today it calls every `xs[i]!` unnecessary, and that flag makes them necessary.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
      // An async function without await is deliberate here: it turns a synchronous throw into a rejection
      // (route handlers, storage calls run through guard()), which is what its callers handle.
      '@typescript-eslint/require-await': 'off',
      // Type-only imports are spelled out (verbatimModuleSyntax relies on it).
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
    },
  },
  {
    // Migrations take Kysely<any>, as Kysely's documentation writes them: a migration must not
    // depend on today's table types, which describe the latest schema, not the one it starts from.
    files: ['src/storage/migrations.ts', 'src/mail/migration.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // This file itself is plain JavaScript outside the TypeScript project.
    files: ['**/*.js'],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
