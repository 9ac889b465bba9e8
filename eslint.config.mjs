// @ts-check
import eslint from '@eslint/js';
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];

/** What code bundled into Temporal's workflow sandbox must not import. */
const workflowUnsafePaths = [
  ...nodeBuiltins.map((name) => ({ name, message: 'Workflow-safe code must not use Node builtins.' })),
  {
    name: 'zod',
    message: 'Workflow-safe code must not use zod: validate at the edges (src/ingest, src/api).',
  },
];
const workflowUnsafePatterns = [
  {
    group: [
      '**/connectors/**',
      '**/api/**',
      '**/worker/**',
      '**/cli/**',
      '**/config',
      '**/config/**',
      '**/ingest/**',
    ],
    message: 'Workflow-safe code must not import I/O modules.',
  },
  {
    group: ['zod/**'],
    message: 'Workflow-safe code must not use zod: validate at the edges (src/ingest, src/api).',
  },
];

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'data/**',
      '.cache/**',
      'coverage/**',
      '**/*.cjs',
      '**/*.js',
      '**/*.mjs',
    ],
  },
  eslint.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': [
        'error',
        { prefer: 'type-imports', fixStyle: 'inline-type-imports' },
      ],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/restrict-template-expressions': [
        'error',
        { allowNumber: true, allowBoolean: true },
      ],
      '@typescript-eslint/only-throw-error': 'error',
    },
  },
  {
    // Workflow code is bundled into Temporal's deterministic sandbox: no Node builtins, no I/O, no zod (it ran
    // again for every new incident when it was bundled), and activities only as types (the worker runs them;
    // the workflow must never import their implementation).
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: workflowUnsafePaths,
          patterns: [
            {
              group: ['**/activities', '**/activities/**', '!**/activities/types'],
              allowTypeImports: true,
              message: 'Workflows may import activities as types only.',
            },
            ...workflowUnsafePatterns,
          ],
        },
      ],
    },
  },
  {
    // Everything the workflow bundle imports besides workflows/ is held to the same rules
    // (test/unit/workflow-bundle.test.ts checks the bundle holds nothing else).
    files: ['src/domain/**/*.ts', 'src/contracts.ts', 'src/playbooks/policy.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: workflowUnsafePaths, patterns: workflowUnsafePatterns }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
);
