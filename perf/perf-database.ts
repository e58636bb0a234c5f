import { Client } from 'pg';
import { runMigrations } from '../src/cli/admin.command';

/**
 * A perf run's own migrated database (not the test template, which test runs recreate), and how to drop it; in the
 * shape startTestStack takes.
 */
export async function perfDatabase(name: string): Promise<{ url: string; drop: () => Promise<void> }> {
  const url = `postgres://postgres@127.0.0.1:5432/${name}`;
  await runMigrations(url);
  return {
    url,
    drop: async () => {
      const c = new Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/postgres' });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await c.end();
    },
  };
}
