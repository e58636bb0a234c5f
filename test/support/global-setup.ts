import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { createDataSource } from '../../src/database/data-source';
import { databaseUrl, DB_PREFIX, RUN_ENV, STALE_RUN_SECONDS, templateDb, TEST_PG_ADMIN_URL } from './test-env';

/** Migrations run once into this run's template database; each test file clones it (CREATE DATABASE … TEMPLATE). */
export default async function globalSetup(): Promise<void> {
  const now = Math.floor(Date.now() / 1000);
  const run = `${now}_${randomBytes(3).toString('hex')}`;
  process.env[RUN_ENV] = run;
  const admin = new Client({ connectionString: TEST_PG_ADMIN_URL });
  await admin.connect();
  try {
    // Only databases of runs that died long ago: a run in progress elsewhere on this machine is left alone.
    const all = await admin.query<{ datname: string }>('SELECT datname FROM pg_database WHERE datname LIKE $1', [`${DB_PREFIX}%`]);
    for (const { datname } of all.rows) {
      const started = Number(/^assay_t(\d+)_/.exec(datname)?.[1] ?? now);
      if (now - started > STALE_RUN_SECONDS) await admin.query(`DROP DATABASE IF EXISTS "${datname}" WITH (FORCE)`);
    }
    await admin.query(`CREATE DATABASE "${templateDb(run)}"`);
  } finally {
    await admin.end();
  }
  const ds = createDataSource(databaseUrl(templateDb(run)));
  await ds.initialize();
  try {
    await ds.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
    await ds.runMigrations({ transaction: 'each' });
  } finally {
    await ds.destroy();
  }
}
