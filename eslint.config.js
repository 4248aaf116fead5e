import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      // One program for sources and tests, so test files are linted type-aware too.
      parserOptions: { project: ['./tsconfig.test.json'], tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The protocol core runs on any runtime with WebCrypto: Node built-ins only under src/node/.
    files: ['packages/protocol/src/**/*.ts'],
    ignores: ['packages/protocol/src/node/**'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [{ group: ['node:*'], message: 'The protocol core is runtime-neutral; put Node-only code under src/node/.' }] }],
    },
  },
  {
    // Store.transaction waits for the SQLite group commit before a transaction counts as done; Kysely's own
    // transaction API, called anywhere else, would answer before the commit (store/sqlite-group-commit.ts).
    files: ['packages/server/src/**/*.ts'],
    ignores: ['packages/server/src/store/store.ts'],
    rules: {
      'no-restricted-syntax': [
        'error',
        {
          selector: "CallExpression[callee.property.name=/^(transaction|startTransaction)$/][arguments.length=0]",
          message: 'Run transactions through Store.transaction, which waits for the commit (store/sqlite-group-commit.ts).',
        },
      ],
    },
  },
  {
    files: ['**/*.js', '**/*.mjs'],
    ...tseslint.configs.disableTypeChecked,
    languageOptions: {
      ...tseslint.configs.disableTypeChecked.languageOptions,
      globals: { process: 'readonly', console: 'readonly', URL: 'readonly', TextEncoder: 'readonly', performance: 'readonly', Buffer: 'readonly', fetch: 'readonly', setTimeout: 'readonly' },
    },
  },
  {
    // The CLI's launcher is CommonJS (packages/cli/bin/package.json): it must run before anything uses the thread pool.
    files: ['packages/cli/bin/*.js'],
    languageOptions: { sourceType: 'commonjs', globals: { require: 'readonly', module: 'writable' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    files: ['**/test/**/*.ts', 'test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
);
