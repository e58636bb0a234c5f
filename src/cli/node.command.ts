import { Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadConfigFromProcess } from '../config/config.module';
import { NestFactory } from '@nestjs/core';
import { generateNodeKeyFile, readNodeKeyFile, writeNodeKeyFile } from '../federation/node-keys';
import { cohortRegistration, NodeCohortCatalogue } from '../node-runs/node-cohorts';
import { NodeRunsModule } from '../node-runs/node-runs.module';

/** On a federated node: its key pair. The private key is written here and never sent anywhere. */
export function registerNodeCommands(program: Command): void {
  const node = program.command('node').description('a federated node at a data provider (issue 11)');
  node
    .command('keygen')
    .description('write a new Ed25519 key pair for this node (mode 0600) and print the public key for the hub admin')
    .option('--out <file>', 'key file (default: ASSAY_NODE_KEY_FILE, or <data dir>/private/node-key.json)')
    .action((opts: { out?: string }) => {
      const path = opts.out ?? loadConfigFromProcess().federation.keyFile;
      if (existsSync(path)) throw new Error(`${path} exists; a rotated key goes to a new file (--out), registered at the hub before the old one is removed`);
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      const file = generateNodeKeyFile();
      writeNodeKeyFile(path, file);
      process.stdout.write(`wrote ${path} (mode 0600; keep it on this node)\nkey id: ${file.keyId}\npublic key (give this to the hub admin: POST /api/nodes or /api/nodes/:id/keys):\n${file.publicKeyPem}`);
    });
  node
    .command('pubkey')
    .description('print the public key of this node’s key file')
    .option('--file <file>', 'key file (default: ASSAY_NODE_KEY_FILE)')
    .action((opts: { file?: string }) => {
      const keys = readNodeKeyFile(opts.file ?? loadConfigFromProcess().federation.keyFile);
      process.stdout.write(`${keys.keyId}\n${keys.publicKey}\n`);
    });
  node
    .command('ingest')
    .description("ingest a cohort folder (cohort.yaml and its data) into this node's own object store; the node registers it at the hub (metadata only) when it starts")
    .argument('<folder>', 'the cohort folder')
    .option('--slug <slug>', 'the cohort slug as the benchmark names it at this node (default: the one in cohort.yaml)')
    .action(async (folder: string, opts: { slug?: string }) => {
      const config = loadConfigFromProcess();
      const ctx = await NestFactory.createApplicationContext(NodeRunsModule.forRoot(config), { logger: ['error', 'warn'] });
      try {
        const { version, created } = await ctx.get(NodeCohortCatalogue).ingestFolder(folder, opts.slug ? { slug: opts.slug } : {});
        const reg = cohortRegistration(version);
        process.stdout.write(`${created ? 'ingested' : 'already held'}: ${version.slug} ${version.contentHash} (sample ${reg.caseCounts.sample}, test ${reg.caseCounts.test} cases)\n`);
      } finally {
        await ctx.close();
      }
    });
}
