// Type-aware lint. The actors/ rule keeps machines pure: time, ids and effects come in through input and events.
import tseslint from 'typescript-eslint';

const pureHint = 'actors/ holds pure machines and logic: pass time, ids and effects in through input and events, and do the I/O in runtime/.';

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'bench/results/**', '.data/**', 'test-artifacts/**', 'bin/**', 'eslint.config.js'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/restrict-template-expressions': 'off',
      '@typescript-eslint/no-base-to-string': 'off',
      // XState's snapshot types resolve differently under the lint's program than under tsc: casts tsc needs look redundant here.
      '@typescript-eslint/no-unnecessary-type-assertion': 'off',
    },
  },
  {
    files: ['actors/**/*.ts', 'schemas/**/*.ts'],
    ignores: ['schemas/generate.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            { group: ['node:*', 'fs', 'path', 'crypto', 'child_process', 'net'], message: pureHint },
            { group: ['@nats-io/*', 'pino', 'prom-client', 'msgpackr'], message: pureHint },
            { group: ['../runtime/*', '../runtime/**'], message: pureHint },
          ],
        },
      ],
      'no-restricted-properties': [
        'error',
        { object: 'Date', property: 'now', message: pureHint },
        { object: 'Math', property: 'random', message: pureHint },
        { object: 'performance', property: 'now', message: pureHint },
      ],
      'no-restricted-syntax': ['error', { selector: "NewExpression[callee.name='Date'][arguments.length=0]", message: pureHint }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: { '@typescript-eslint/unbound-method': 'off' },
  },
);
