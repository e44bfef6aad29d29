/** The CUDA suite: run by `npm run test:cuda` (scripts/test-cuda.sh) on a machine with a GPU. The
 * base config ignores test/cuda (CPU machines), so this one sets its own match and ignore lists. */
const base = require('./jest.config.js');
module.exports = {
  ...base,
  testMatch: ['<rootDir>/test/cuda/**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/'],
};
