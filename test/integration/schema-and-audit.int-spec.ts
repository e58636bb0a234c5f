import { DataSource } from 'typeorm';
import { AuditService } from '../../src/audit/audit.service';
import { createDataSource } from '../../src/database/data-source';
import { Database } from '../../src/database/database.module';
import { startTestStack, TestStack } from '../support/test-stack';

jest.setTimeout(60_000);

describe('schema and audit log (real Postgres)', () => {
  let stack: TestStack;
  let ds: DataSource;

  beforeAll(async () => {
    stack = await startTestStack({ worker: false });
    ds = createDataSource(stack.config.database.url);
    await ds.initialize();
  });

  afterAll(async () => {
    await ds?.destroy();
    await stack?.close();
  });

  it('has no pending migrations and a column for every entity property', async () => {
    expect(await ds.showMigrations()).toBe(false);
    for (const meta of ds.entityMetadatas) {
      const rows: { column_name: string }[] = await ds.query('SELECT column_name FROM information_schema.columns WHERE table_name = $1', [meta.tableName]);
      const columns = new Set(rows.map((r) => r.column_name));
      const missing = meta.columns.map((c) => c.databaseName).filter((name) => !columns.has(name));
      expect({ table: meta.tableName, missing }).toEqual({ table: meta.tableName, missing: [] });
    }
  });

  it('refuses to update, delete or truncate audit rows', async () => {
    await expect(ds.query("UPDATE audit_log SET action = 'x'")).rejects.toThrow(/append-only/);
    await expect(ds.query('DELETE FROM audit_log')).rejects.toThrow(/append-only/);
    await expect(ds.query('TRUNCATE audit_log')).rejects.toThrow(/append-only/);
  });

  it('keeps a gap-free chain under concurrent appends, and verify finds a tampered row', async () => {
    const audit = stack.api.get(AuditService);
    const db = stack.api.get(Database);
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        db.transaction((tx) => audit.record(tx, { actorUserId: null, action: 'test.event', entityType: 'test', entityId: String(i), payload: { i } })),
      ),
    );
    const ok = await audit.verify();
    expect(ok).toMatchObject({ ok: true, brokenAt: null });
    expect(ok.entries).toBeGreaterThanOrEqual(20);

    // Tampering needs the trigger off (a superuser); the chain still exposes it.
    await ds.query('ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_update');
    await ds.query(`UPDATE audit_log SET payload = '{"i": 999}' WHERE seq = (SELECT max(seq) - 3 FROM audit_log)`);
    await ds.query('ALTER TABLE audit_log ENABLE TRIGGER audit_log_no_update');
    const broken = await audit.verify();
    expect(broken.ok).toBe(false);
    expect(broken.problem).toMatch(/hash does not match/);
    expect(broken.brokenAt).toBe(ok.entries - 3);
  });
});
