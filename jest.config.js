// Three tiers (STYLE.md) and the fuzz tier (issue 7): unit specs beside the code; integration and e2e against real Postgres, Redis,
// the S3 server and the Docker engine.
// nifti-reader-js ships ES modules only (src/volumes/nifti-read.ts loads it by path): let swc turn it into CommonJS.
const transform = { '^.+\\.ts$': ['@swc/jest'], '/nifti-reader-js/dist/.+\\.js$': ['@swc/jest'] };
const transformIgnorePatterns = ['/node_modules/(?!nifti-reader-js/)'];
const common = { transform, transformIgnorePatterns, testEnvironment: 'node', moduleFileExtensions: ['ts', 'js', 'json'], setupFiles: ['reflect-metadata'] };
module.exports = {
  projects: [
    { ...common, displayName: 'unit', testMatch: ['<rootDir>/src/**/*.spec.ts', '<rootDir>/scripts/**/*.spec.ts', '<rootDir>/sandbox-images/**/*.spec.ts', '<rootDir>/perf/**/*.spec.ts'] },
    {
      ...common,
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      // Property-based fuzz of every route against the real stack (test/fuzz/routes.fuzz-spec.ts): seeded, bounded.
      ...common,
      displayName: 'fuzz',
      testMatch: ['<rootDir>/test/fuzz/**/*.fuzz-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      // The web interface in headless Chromium (Debian's chromium through playwright-core) against the real stack.
      ...common,
      displayName: 'browser',
      testMatch: ['<rootDir>/test/browser/**/*.browser-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
    {
      ...common,
      displayName: 'e2e',
      testMatch: ['<rootDir>/test/e2e/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/support/global-setup.ts',
      globalTeardown: '<rootDir>/test/support/global-teardown.ts',
    },
  ],
};
