/** Two tiers: `unit` needs only Node; `integration` drives real Debian tools (see scripts/install-test-tools.sh). */
const tsJest = ['ts-jest', { isolatedModules: true }];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.integration\\.test\\.ts$'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.integration.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/jest-integration-setup.ts'],
    },
  ],
};
