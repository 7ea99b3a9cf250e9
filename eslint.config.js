// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const ioModules = [
  'fs', 'node:fs', 'fs/promises', 'node:fs/promises', 'net', 'node:net', 'http', 'node:http',
  'https', 'node:https', 'child_process', 'node:child_process', 'dgram', 'node:dgram',
  'worker_threads', 'node:worker_threads', 'ioredis', 'bullmq', 'pino', 'chokidar',
];

// The product (src/ and the production entry points) never imports tools/ (the measuring instruments and test
// helpers) nor a devDependency: the production image has neither (Dockerfile: npm ci --omit=dev).
const notInProduct = 'the product must not import from tools/ (instruments and test helpers stay out of the image)';
const toolsPatterns = [
  { regex: '^(\\.\\./)+tools(/|$)', message: notInProduct },
  { regex: '^/?tools(/|$)', message: notInProduct },
];
const devOnlyPackages = ['playwright-core', 'dashjs', 'esbuild', 'm3u8-parser', 'mpd-parser'].map((name) => ({
  name,
  message: `${name} is a devDependency (tools and tests only); the production image does not install it`,
}));
// Only the store and the queue talk to Redis: everything else goes through their ports.
const redisOnlyInStore = ['ioredis', 'bullmq'].map((name) => ({
  name,
  message: `only src/store/ and src/queue/ import ${name}; use the store's ports (src/store/ports.ts)`,
}));
const storeFiles = ['src/store/**/*.ts', 'src/queue/**/*.ts'];
const productFiles = [
  'src/**/*.ts',
  ...['all', 'ingest', 'manifest', 'reader', 'bootstrap', 'compose'].map((w) => `workers/${w}.ts`),
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
    // tools/ may import src/, never the other way round; Redis only through the store's ports.
    files: productFiles,
    ignores: ['src/core/**', ...storeFiles],
    rules: {
      'no-restricted-imports': ['error', { paths: [...devOnlyPackages, ...redisOnlyInStore], patterns: toolsPatterns }],
    },
  },
  {
    files: storeFiles,
    rules: {
      'no-restricted-imports': ['error', { paths: devOnlyPackages, patterns: toolsPatterns }],
    },
  },
  {
    // Tests, tools and benchmarks use the store too; only the Redis adapter's own tests read raw keys.
    files: ['bench/**/*.ts', 'tools/**/*.ts', 'test/**/*.ts', 'workers/**/*.ts'],
    ignores: [...productFiles, 'test/e2e/store-redis.test.ts', 'test/e2e/redis-cluster.test.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: redisOnlyInStore }],
    },
  },
  {
    // The packaging core is pure: no I/O, no Redis, no queue, no logger, no clock.
    files: ['src/core/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [...ioModules.map((name) => ({ name, message: 'src/core is pure: no I/O modules' })), ...devOnlyPackages],
        patterns: toolsPatterns,
      }],
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
