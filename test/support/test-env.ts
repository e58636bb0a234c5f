/** Where the test tiers find the real services (the machine's own Postgres and Redis by default). */
export const TEST_PG_ADMIN_URL = process.env.ASSAY_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TEST_REDIS_URL = process.env.ASSAY_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

/**
 * Each jest run gets its own namespace (set by global-setup, inherited by the test files), so runs on one machine
 * never drop each other's databases: `assay_t<epoch>_<rand>` for the template, `..._<file>` for each test file.
 */
export const RUN_ENV = 'ASSAY_TEST_RUN';
export const DB_PREFIX = 'assay_t';

export function runId(): string {
  const id = process.env[RUN_ENV];
  if (!id) throw new Error(`${RUN_ENV} is not set: run the integration and e2e tiers through jest (test/support/global-setup.ts)`);
  return id;
}

export const templateDb = (run: string): string => `${DB_PREFIX}${run}_template`;

/** Runs older than this whose databases are still there died without their teardown. */
export const STALE_RUN_SECONDS = 3 * 3600;

export function databaseUrl(name: string): string {
  const url = new URL(TEST_PG_ADMIN_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
