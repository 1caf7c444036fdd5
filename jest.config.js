/**
 * Five tiers: `unit` needs only Node; `integration` drives real Debian tools (scripts/install-test-tools.sh);
 * `cluster` runs a real Kubernetes control plane built from the Go module proxy (scripts/cluster/build.sh); `pulumi` runs
 * the real Pulumi engine and Kubernetes provider (scripts/pulumi/build.sh) against it; `node` adds a real node to the
 * control plane — kubelet, kube-proxy, containerd (scripts/node/build.sh) — in a network namespace (needs root).
 */
const tsJest = ['ts-jest', { isolatedModules: true }];
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.test.ts'],
      testPathIgnorePatterns: ['/node_modules/', '\\.integration\\.test\\.ts$', '\\.cluster\\.test\\.ts$', '\\.pulumi\\.test\\.ts$', '\\.node\\.test\\.ts$'],
    },
    {
      displayName: 'integration',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.integration.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/jest-integration-setup.ts'],
    },
    {
      displayName: 'cluster',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.cluster.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/jest-integration-setup.ts'],
    },
    {
      displayName: 'pulumi',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.pulumi.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/jest-integration-setup.ts'],
    },
    {
      displayName: 'node',
      testEnvironment: 'node',
      transform: { '^.+\\.ts$': tsJest },
      testMatch: ['<rootDir>/test/**/*.node.test.ts'],
      setupFilesAfterEnv: ['<rootDir>/test/support/jest-integration-setup.ts'],
    },
  ],
};
