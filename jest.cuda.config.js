/** The CUDA suite: run by `npm run test:cuda` (scripts/test-cuda.sh) on a machine with a GPU. */
const base = require('./jest.config.js');
module.exports = { ...base, testMatch: ['<rootDir>/test/cuda/**/*.test.ts'] };
