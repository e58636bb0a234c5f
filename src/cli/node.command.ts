import { Command } from 'commander';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { loadConfigFromProcess } from '../config/config.module';
import { generateNodeKeyFile, readNodeKeyFile, writeNodeKeyFile } from '../federation/node-keys';

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
}
