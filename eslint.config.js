// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'http', 'node:http',
  'https', 'node:https', 'child_process', 'node:child_process', 'dgram', 'node:dgram',
  'worker_threads', 'node:worker_threads', 'ioredis', 'bullmq', 'pino', 'chokidar',
];

export default tseslint.config(
  { ignores: ['node_modules/**', 'dist/**', 'out/**', '.tmp/**', 'fixtures/**/*.mp4'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
    },
  },
  {
    // The packaging core is pure: no I/O, no Redis, no queue, no logger, no clock.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: ioModules.map((name) => ({ name, message: 'src/core is pure: no I/O modules' })) }],
      'no-restricted-globals': ['error',
        { name: 'process', message: 'src/core must not read the environment' },
        { name: 'setTimeout', message: 'src/core has no clock' },
        { name: 'setInterval', message: 'src/core has no clock' },
      ],
      'no-restricted-properties': ['error',
        { object: 'Date', property: 'now', message: 'src/core has no clock: pass wall-clock times in' },
        { object: 'console', property: 'log', message: 'src/core does not log' },
        { object: 'performance', property: 'now', message: 'src/core has no clock' },
      ],
    },
  },
);
