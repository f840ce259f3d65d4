// Lint rules: typescript-eslint's recommended set, unused args allowed when prefixed by "_", and the import
// boundaries of docs/architecture.md (apps -> workflows/activities -> shared; workflows stay deterministic).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * The shared/ modules a workflow may import: pure code, no I/O, no clocks, nothing Node-only. A module added here
 * must stay that way; the worker's bundler would also refuse Node built-ins, but only at worker start.
 */
export const workflowSafeShared = [
  'duration',
  'errors',
  'lead-fields',
  'macros',
  'money',
  'status-map',
  'statuses',
  'temporal',
];

/** The import boundaries, one entry per layer; `test/unit/import-boundaries.test.ts` proves each one bites. */
export const boundaries = [
  {
    files: ['workflows/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // Everything but the allowed list; a regex because ignore-style negations cannot re-include
              // a path under an excluded folder (`@temporalio/workflow` under `*`).
              regex: `^(?!(@temporalio/(workflow|common)|\\./[^/]+|\\.\\./shared/(${workflowSafeShared.join('|')}))$)`,
              allowTypeImports: true,
              message:
                'workflows import only @temporalio/workflow, @temporalio/common and the pure shared/ modules listed in eslint.config.mjs (type-only imports are fine)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['shared/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/apps/**', '**/activities', '**/activities/**', '**/workflows', '**/workflows/**'],
              message: 'shared/ is the bottom layer: it never imports apps/, activities/ or workflows/',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['activities/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/apps/**'],
              message: 'activities never import apps/: pass what they need through their deps',
            },
          ],
        },
      ],
    },
  },
];

export default tseslint.config(
  { ignores: ['node_modules/', 'dist/', '.data/', '.cache/', 'coverage/', 'bench/.scratch-*'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.js', '**/*.cjs'],
    languageOptions: {
      sourceType: 'commonjs',
      globals: {
        module: 'writable',
        require: 'readonly',
        process: 'readonly',
        __dirname: 'readonly',
        console: 'readonly',
      },
    },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  ...boundaries,
);
