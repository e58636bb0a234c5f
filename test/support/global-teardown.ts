import { Client } from 'pg';
import { DB_PREFIX, runId, TEST_PG_ADMIN_URL } from './test-env';

/** Drops this run's databases (the template and any a crashed test file left behind). */
export default async function globalTeardown(): Promise<void> {
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    const rows = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${DB_PREFIX}${runId()}_%`]);
    for (const row of rows.rows) await admin.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
  } finally {
    await admin.end();
  }
}
