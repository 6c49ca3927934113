/** @type {import('jest').Config} */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', { diagnostics: false }],
    '^.+\\.proto$': '<rootDir>/test/jest-proto-transform.js',
  },
  moduleFileExtensions: ['ts', 'js', 'json', 'proto'],
  testTimeout: 30000,
};
