/** Jest runs the TypeScript tests directly (ts-jest) in an environment whose typed-array classes
 * are the ones native addons see (test/native-environment.js). */
module.exports = {
  testEnvironment: '<rootDir>/test/native-environment.js',
  transform: { '^.+\\.ts$': ['ts-jest', { tsconfig: 'tsconfig.json', diagnostics: { warnOnly: false } }] },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  setupFilesAfterEnv: ['<rootDir>/test/cleanup.ts'],
  // test/cuda needs a GPU: run by `npm run test:cuda`, which checks for one first.
  testPathIgnorePatterns: ['/node_modules/', '<rootDir>/test/cuda/'],
  testTimeout: 300000,
  maxWorkers: 1,
};
