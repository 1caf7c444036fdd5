import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import jest from 'eslint-plugin-jest';
import importPlugin from 'eslint-plugin-import';

export default tseslint.config(
  { ignores: ['node_modules/**', 'build/**', 'dist/**', 'coverage/**', 'bench/results/**', '**/.scratch/**', '**/*.js', '**/*.mjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { import: importPlugin },
    rules: {
      quotes: ['error', 'single', { avoidEscape: true }],
      semi: ['error', 'always'],
      'max-len': ['error', { code: 150, ignoreUrls: true, ignoreStrings: true, ignoreTemplateLiterals: true, ignoreRegExpLiterals: true }],
      'import/order': ['error', { groups: ['builtin', 'external', 'internal', 'parent', 'sibling', 'index'], 'newlines-between': 'never', alphabetize: { order: 'asc', caseInsensitive: true } }],
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/return-await': ['error', 'in-try-catch'],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-require-imports': 'off',
    },
  },
  {
    // The layers (docs/architecture.md): lib/core (+ contract) -> constructs (lib/**) | agent (agent/**) -> CLI, Pulumi program.
    files: ['lib/**/*.ts', 'agent/**/*.ts'],
    settings: { 'import/resolver': { node: { extensions: ['.ts', '.js', '.json'] } } },
    rules: {
      'import/no-restricted-paths': ['error', {
        zones: [
          ...['lib', 'agent', 'bin', 'stacks', 'examples', 'test', 'bench', 'scripts'].map((from) => ({
            target: './lib/core', from: `./${from}`, ...(from === 'lib' ? { except: ['./core'] } : {}),
            message: 'lib/core imports nothing of the project outside itself (it is the contract both constructs and agent build on).',
          })),
          ...['agent', 'bin', 'stacks'].map((from) => ({
            target: './lib', from: `./${from}`, message: 'the construct library never imports the agent, the CLI or the Pulumi program; share through lib/core.',
          })),
          ...['bin', 'stacks', 'examples'].map((from) => ({ target: './agent', from: `./${from}`, message: 'the agent imports only lib/core.' })),
          { target: './agent', from: './lib', except: ['./core'], message: 'the agent imports only lib/core (not the constructs, cdk8s or Pulumi).' },
        ],
      }],
    },
  },
  {
    files: ['lib/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: ['cdk8s', 'cdk8s-plus-28', 'constructs', 'fs', 'fs/promises', 'node:fs', 'node:fs/promises', '@pulumi/pulumi', '@pulumi/kubernetes'].map((name) => ({
          name, message: 'lib/core has no cdk8s, no Pulumi and no file I/O: the agent and the constructs both load it.',
        })),
        patterns: [{ group: ['cdk8s/*', 'cdk8s-plus-28/*'], message: 'lib/core has no cdk8s.' }],
      }],
    },
  },
  {
    files: ['test/**/*.ts'],
    ...jest.configs['flat/recommended'],
    rules: {
      ...jest.configs['flat/recommended'].rules,
      'jest/valid-expect': 'error',
      'jest/expect-expect': ['error', { assertFunctionNames: ['expect', 'expect*', 'assert*'] }],
    },
  },
);
