// Lint as Temporal's samples do: floating promises are errors, and workflow code (which runs in the
// deterministic sandbox) may not import Node built-ins or modules that do.
const tseslint = require('typescript-eslint');
const { builtinModules } = require('node:module');

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

module.exports = tseslint.config(
  { ignores: ['node_modules/**', '.data/**', '.venv/**', 'dist/**', 'eslint.config.js', 'jest.config.js', 'bin/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: __dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  // Plain CommonJS that runs before anything is compiled (scripts/build-cli.js).
  { files: ['scripts/*.js'], rules: { '@typescript-eslint/no-require-imports': 'off' } },
  {
    files: ['workflows/**/*.ts', 'shared/**/*.ts', 'config/schema.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: nodeBuiltins.map((name) => ({
            name,
            message: 'Workflow code runs in a deterministic sandbox: no Node built-ins.',
          })),
          patterns: [
            {
              group: [
                '../activities/*',
                '../workers/*',
                '../client/*',
                '../temporal/*',
                '**/config/load',
                '**/config/temporal',
              ],
              message:
                'Workflow code may import only workflows/, shared/ and config/schema (activities as types only).',
              allowTypeImports: true,
            },
          ],
        },
      ],
    },
  },
);
