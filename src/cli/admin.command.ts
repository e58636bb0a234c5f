import { Module } from '@nestjs/common';
import { NestFactory } from '@nestjs/core';
import { Command } from 'commander';
import { AuditModule } from '../audit/audit.module';
import { AuthModule } from '../auth/auth.module';
import { AuthService } from '../auth/auth.service';
import { BenchmarksModule } from '../benchmarks/benchmarks.module';
import { CatalogueService } from '../benchmarks/catalogue.service';
import { ConfigModule, loadConfigFromProcess } from '../config/config.module';
import type { AppConfig } from '../config/config.schema';
import { createDataSource, ensureDatabase } from '../database/data-source';
import { DatabaseModule } from '../database/database.module';
import { ReportKeyStore } from '../reports/signing/report-keys';
import { ReportSigningModule } from '../reports/signing/report-signing.module';
import { StorageModule } from '../storage/storage.module';

/** Creates the database if needed and applies pending migrations; prints what it applied. */
export async function runMigrations(url: string): Promise<string[]> {
  await ensureDatabase(url);
  const ds = createDataSource(url);
  await ds.initialize();
  try {
    await ds.query('CREATE EXTENSION IF NOT EXISTS pgcrypto');
    const applied = await ds.runMigrations({ transaction: 'each' });
    return applied.map((m) => m.name);
  } finally {
    await ds.destroy();
  }
}

@Module({})
class AdminModule {}

/** A small application context for set-up commands (no HTTP, no queues, no Docker). */
export async function withAdminContext<T>(config: AppConfig, work: (get: <S>(type: new (...args: never[]) => S) => S) => Promise<T>): Promise<T> {
  const app = await NestFactory.createApplicationContext(
    { module: AdminModule, imports: [ConfigModule.forRoot(config), DatabaseModule, StorageModule, AuditModule, AuthModule, BenchmarksModule, ReportSigningModule] },
    { logger: ['error', 'warn'] },
  );
  try {
    return await work((type) => app.get(type));
  } finally {
    await app.close();
  }
}

export function registerAdminCommands(program: Command): void {
  program
    .command('migrate')
    .description('create the database if needed and apply pending migrations')
    .action(async () => {
      const config = loadConfigFromProcess();
      const applied = await runMigrations(config.database.url);
      process.stdout.write(applied.length > 0 ? `applied ${applied.length} migration(s): ${applied.join(', ')}\n` : 'database schema is up to date\n');
    });

  program
    .command('bootstrap-admin')
    .description('create the first admin user and print its API token (shown once)')
    .requiredOption('--email <email>', 'admin e-mail')
    .option('--name <name>', 'display name', 'Assay administrator')
    .option('--additional', 'allow a further admin when one exists', false)
    .option('--json', 'print JSON', false)
    .action(async (opts: { email: string; name: string; additional: boolean; json: boolean }) => {
      const config = loadConfigFromProcess();
      const issued = await withAdminContext(config, (get) => get(AuthService).bootstrapAdmin({ email: opts.email, displayName: opts.name, allowAdditional: opts.additional }));
      process.stdout.write(opts.json ? `${JSON.stringify(issued)}\n` : `admin ${opts.email}: token ${issued.token}\n(store it now; only its hash is kept)\n`);
    });

  program
    .command('load-catalogue')
    .description('ingest cohorts/*/cohort.yaml and load benchmarks/*/benchmark.yaml (idempotent)')
    .action(async () => {
      const config = loadConfigFromProcess();
      const result = await withAdminContext(config, (get) => get(CatalogueService).load());
      process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    });

  const admin = program.command('admin').description('administration on this host (database and key directory access; no API token)');
  const reportKeys = admin.command('report-keys').description('the Ed25519 keys that sign validation reports');
  reportKeys
    .command('list')
    .description('every published key, oldest first (retired keys still verify the reports they signed)')
    .option('--json', 'print JSON as GET /api/reports/keys serves it', false)
    .action(async (opts: { json: boolean }) => {
      const config = loadConfigFromProcess();
      const keys = await withAdminContext(config, (get) => get(ReportKeyStore).publicKeys());
      if (opts.json) process.stdout.write(`${JSON.stringify({ keys }, null, 2)}\n`);
      else if (keys.length === 0) process.stdout.write('no report signing keys yet (the first report creates one)\n');
      else for (const k of keys) process.stdout.write(`${k.keyId}  ${k.retiredAt ? `retired ${k.retiredAt}` : 'signing'}  created ${k.createdAt}  ${k.publicKey}\n`);
    });
  reportKeys
    .command('rotate')
    .description('create a new signing key and retire the current one (it stays published; audited)')
    .action(async () => {
      const config = loadConfigFromProcess();
      const { created, retired } = await withAdminContext(config, (get) => get(ReportKeyStore).rotate(null));
      process.stdout.write(`new signing key ${created.keyId}${retired.length > 0 ? `; retired ${retired.join(', ')}` : ''}\n`);
    });
}
