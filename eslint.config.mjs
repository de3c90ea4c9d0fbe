// Module boundaries are errors, not advice: `npm test` runs this with --max-warnings 0.
import nx from '@nx/eslint-plugin';
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

/** Imports libs/core may never use: it is pure logic, tested without any I/O. */
const impureModules = [
  'fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'tls', 'node:tls',
  'http', 'node:http', 'http2', 'node:http2', 'child_process', 'node:child_process',
  'dgram', 'node:dgram', 'worker_threads', 'node:worker_threads',
  'better-sqlite3', '@grpc/grpc-js', 'chokidar',
];

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', '**/src/gen/**', '**/src/test-gen/**', '.nx/**', 'coverage/**', '.haven-demo/**', 'bench-results/**'],
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { ecmaVersion: 2022, sourceType: 'module' },
    },
    plugins: { '@nx': nx, 'import-x': importX, '@typescript-eslint': tseslint.plugin },
    settings: {
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts', '.mts'] },
      'import-x/extensions': ['.ts', '.mts', '.js'],
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: ['libs/*/tsconfig.json', 'apps/*/tsconfig.json', 'tools/tsconfig.json'],
          conditionNames: ['haven-source', 'types', 'import', 'node', 'default'],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      '@nx/enforce-module-boundaries': [
        'error',
        {
          allow: [],
          banTransitiveDependencies: false,
          checkDynamicDependenciesExceptions: [],
          depConstraints: [
            { sourceTag: 'type:core', onlyDependOnLibsWithTags: ['type:core'], bannedExternalImports: impureModules },
            { sourceTag: 'type:proto', onlyDependOnLibsWithTags: [] },
            { sourceTag: 'type:lib', onlyDependOnLibsWithTags: ['type:core', 'type:proto', 'type:lib'] },
            { sourceTag: 'type:testing', onlyDependOnLibsWithTags: ['type:core', 'type:proto', 'type:lib'] },
            { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:core', 'type:proto', 'type:lib', 'type:testing'] },
            { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:core', 'type:proto', 'type:lib', 'type:testing', 'type:app'] },
          ],
        },
      ],
      // No deep imports into another project: only its package entry point is public.
      'no-restricted-imports': [
        'error',
        { patterns: [{ group: ['@haven/*/*'], message: 'Import the package entry point (@haven/x), not its internals.' }] },
      ],
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      'import-x/no-self-import': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-floating-promises': 'off',
    },
  },
  {
    files: ['libs/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: impureModules.map((name) => ({ name, message: 'libs/core is pure: no I/O modules.' })),
          patterns: [{ group: ['@haven/*/*'], message: 'Import the package entry point (@haven/x), not its internals.' }],
        },
      ],
    },
  },
);
