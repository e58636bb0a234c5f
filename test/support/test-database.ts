import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { databaseUrl, DB_PREFIX, runId, templateDb, TEST_PG_ADMIN_URL } from './test-env';

/** A fresh, migrated database for one test file, cloned from this run's template. */
export async function createTestDatabase(): Promise<{ url: string; drop: () => Promise<void> }> {
  const run = runId();
  const name = `${DB_PREFIX}${run}_${randomBytes(4).toString('hex')}`;
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}" TEMPLATE "${templateDb(run)}"`);
  await admin.end();
  return {
    url: databaseUrl(name),
    drop: async () => {
      const c = new Client({ connectionString: TEST_PG_ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
