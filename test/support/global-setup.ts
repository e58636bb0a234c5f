import { Client } from 'pg';
import { createDataSource } from '../../src/database/data-source';
import { databaseUrl, TEMPLATE_DB, TEST_DB_PREFIX, TEST_PG_ADMIN_URL } from './test-env';

/** Migrations run once into a template database; each test file clones it (CREATE DATABASE … TEMPLATE). */
export default async function globalSetup(): Promise<void> {
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    const stale = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [
      `${TEST_DB_PREFIX}%`,
    ]);
    for (const row of stale.rows) await admin.query(`DROP DATABASE IF EXISTS "${row.datname}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${TEMPLATE_DB}"`);
  } finally {
    await admin.end();
  }
  const ds = createDataSource(databaseUrl(TEMPLATE_DB));
  await ds.initialize();
  try {
    await ds.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
}
